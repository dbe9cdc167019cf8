// <upsell-offers token="ct_..."></upsell-offers>: a customer's pending offers inside the app, with
// the offer page's wording, accepted or declined in place. Served by the receiver at
// /static/upsell-offers.js; fed by a client token the app's backend mints for that customer.
// New offers appear without a reload: the element long-polls the offers after the last it has.
import { language, money, words, type Lang } from "./format.js";
import { STYLE } from "./style.js";

type Shown = Record<string, any>;
type Offer = { offer_id: string; state: string; locale?: string | null; checkout_url?: string | null; display?: Shown | null; quantity: number; product_id: string; discount_code?: string | null };

const WAIT = "25s";
const SETTLING_POLLS = 30;

/** The customer a client token is for: its claims are readable, only the signature is secret. */
function customerOf(token: string): string | null {
  try {
    const body = token.slice(3).split(".")[0].replace(/-/g, "+").replace(/_/g, "/");
    return JSON.parse(atob(body)).c ?? null;
  } catch {
    return null;
  }
}

function el<K extends keyof HTMLElementTagNameMap>(tag: K, part: string, text?: string): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  node.setAttribute("part", part);
  if (text !== undefined) node.textContent = text; // never innerHTML: names come from the catalogue
  return node;
}

export class UpsellOffers extends HTMLElement {
  static observedAttributes = ["token", "base-url", "locale"];
  private offers = new Map<string, Offer>();
  private cursor = "0";
  private stop: AbortController | null = null;
  private list: HTMLElement;

  constructor() {
    super();
    const root = this.attachShadow({ mode: "open" });
    const style = document.createElement("style");
    style.textContent = STYLE;
    this.list = el("div", "list");
    root.append(style, this.list);
  }

  connectedCallback(): void {
    this.restart();
  }

  disconnectedCallback(): void {
    this.stop?.abort();
  }

  attributeChangedCallback(): void {
    if (this.isConnected) this.restart();
  }

  private get base(): string {
    return (this.getAttribute("base-url") ?? new URL("/", import.meta.url).href).replace(/\/+$/, "");
  }

  private restart(): void {
    this.stop?.abort();
    this.offers.clear();
    this.cursor = "0";
    this.list.replaceChildren();
    const token = this.getAttribute("token");
    if (!token) return;
    this.stop = new AbortController();
    void this.follow(token, this.stop.signal);
  }

  private async call(path: string, signal: AbortSignal, method = "GET"): Promise<{ status: number; body: any }> {
    const answer = await fetch(`${this.base}${path}`, {
      method,
      signal,
      headers: { authorization: `Bearer ${this.getAttribute("token")}` },
    });
    return { status: answer.status, body: await answer.json().catch(() => ({})) };
  }

  /** Every page of the customer's offers, then one long poll after another for the new ones. */
  private async follow(token: string, signal: AbortSignal): Promise<void> {
    const customer = customerOf(token);
    if (!customer) return this.failed(0, "not a client token");
    let wait = "";
    while (!signal.aborted) {
      let page;
      try {
        page = await this.call(`/api/customers/${encodeURIComponent(customer)}/offers?cursor=${this.cursor}${wait}`, signal);
      } catch {
        if (signal.aborted) return;
        await new Promise((done) => setTimeout(done, 2000)); // the receiver restarting: look again
        continue;
      }
      if (page.status !== 200) {
        if (page.status === 503 || page.status === 429) {
          await new Promise((done) => setTimeout(done, 2000));
          continue;
        }
        return this.failed(page.status, page.body.error);
      }
      for (const offer of page.body.offers as Offer[]) if (offer.state === "pending") this.show(offer);
      const next = page.body.next_cursor as string | null;
      this.cursor = next ?? String(Number(this.cursor) + page.body.offers.length);
      wait = next ? "" : `&wait=${WAIT}`;
    }
  }

  private failed(status: number, error: string): void {
    this.dispatchEvent(new CustomEvent("upsell-error", { detail: { status, error }, bubbles: true, composed: true }));
  }

  private languageOf(offer: Offer): Lang {
    return language(offer.locale, this.getAttribute("locale"), navigator.languages ?? []);
  }

  /** The offer as the offer page shows it: name, price now (the list price struck if it differs),
   * the code, the saved card or the checkout, and the two choices. */
  private show(offer: Offer): void {
    this.offers.set(offer.offer_id, offer);
    const lang = this.languageOf(offer);
    const w = words(lang);
    const d: Shown = offer.display ?? {};
    const card = el("article", "offer");
    card.dataset.offerId = offer.offer_id;
    const heading = el("h2", "name", String(d.product_name ?? offer.product_id));
    heading.id = `upsell-${offer.offer_id}`;
    card.setAttribute("aria-labelledby", heading.id);
    card.lang = lang;
    const price = el("p", "price", `${w.price}: ${money(d.price_now, d.currency, lang)}`);
    const listed = typeof d.price === "number" ? d.price * offer.quantity : null;
    if (listed !== null && listed !== d.price_now) {
      const was = el("span", "was", ` ${w.was} `);
      was.append(el("s", "list-price", money(listed, d.currency, lang)));
      price.append(was);
    }
    const code = d.discount?.code;
    if (code) price.append(el("span", "code", ` (${w.discount} ${code})`));
    const method = d.payment_method ?? {};
    const brand = String(method.brand ?? "").replace(/^./, (c: string) => c.toUpperCase());
    const how = d.one_click && method.last4 ? w.card.replace("{brand}", brand).replace("{last4}", method.last4) : w.no_card;
    const actions = el("div", "actions");
    const accept = el("button", "accept", w.accept);
    const decline = el("button", "decline", w.decline);
    accept.type = decline.type = "button";
    accept.onclick = () => void this.settle(offer, "accept", card);
    decline.onclick = () => void this.settle(offer, "decline", card);
    actions.append(accept, decline);
    const status = el("p", "status");
    status.setAttribute("role", "status");
    status.tabIndex = -1;
    card.append(heading, price, el("p", "payment", how), actions, el("p", "note", w.pending_note), status);
    this.list.querySelector(`[data-offer-id="${CSS.escape(offer.offer_id)}"]`)?.remove();
    this.list.append(card);
  }

  /** Accept (waiting up to 10 s for the charge) or decline, then say the outcome in the offer's place. */
  private async settle(offer: Offer, action: "accept" | "decline", card: HTMLElement): Promise<void> {
    const signal = this.stop?.signal ?? new AbortController().signal;
    card.querySelectorAll("button").forEach((button) => (button.disabled = true));
    const path = `/api/offers/${encodeURIComponent(offer.offer_id)}/${action}${action === "accept" ? "?wait=10s" : ""}`;
    let answer = await this.call(path, signal, "POST").catch(() => ({ status: 0, body: {} }));
    let found: Offer | undefined = answer.body.offer ?? (answer.body.offer_id ? answer.body : undefined);
    for (let poll = 0; found?.state === "charging" && poll < SETTLING_POLLS && !signal.aborted; poll++) {
      this.outcome(card, offer, "charging");
      await new Promise((done) => setTimeout(done, 1000));
      answer = await this.call(`/api/offers/${encodeURIComponent(offer.offer_id)}`, signal).catch(() => answer);
      found = answer.body.offer_id ? answer.body : found;
    }
    if (!found) {
      card.querySelectorAll("button").forEach((button) => (button.disabled = false));
      return this.failed(answer.status, answer.body.error ?? "no answer");
    }
    this.outcome(card, found, found.state);
    this.dispatchEvent(
      new CustomEvent("upsell-offer-settled", { detail: { offer_id: found.offer_id, state: found.state }, bubbles: true, composed: true }),
    );
  }

  /** The outcome in the offer's place, said by its status line (a live region, focused so a
   * keyboard user keeps their place when the buttons go). */
  private outcome(card: HTMLElement, offer: Offer, state: string): void {
    const w = words(this.languageOf(offer)) as Record<string, string>;
    const status = card.querySelector<HTMLElement>('[part="status"]')!;
    status.textContent = w[state] ?? state;
    card.querySelectorAll('[part="price"], [part="payment"], [part="actions"], [part="note"]').forEach((n) => n.remove());
    if (state === "failed" && offer.checkout_url && !card.querySelector('[part="checkout"]')) {
      const link = el("a", "checkout", w.checkout);
      link.href = offer.checkout_url;
      card.append(link);
    }
    status.focus();
  }
}

if (!customElements.get("upsell-offers")) customElements.define("upsell-offers", UpsellOffers);
