var __defProp = Object.defineProperty;
var __defNormalProp = (obj, key, value) => key in obj ? __defProp(obj, key, { enumerable: true, configurable: true, writable: true, value }) : obj[key] = value;
var __publicField = (obj, key, value) => __defNormalProp(obj, typeof key !== "symbol" ? key + "" : key, value);

// src/element/words.json
var words_default = {
  en: {
    accept: "Yes, add it",
    adds: "What it adds to what you have",
    adds_nothing: "It extends what you already have.",
    card: "Charged to your saved {brand} card ending in {last4}, in one click.",
    charging: "We are confirming your payment. This page updates by itself.",
    checkout: "Complete the purchase at checkout",
    continue: "Continue",
    converted: "It's yours. Thank you!",
    decline: "No thanks",
    declined: "You declined this offer. We won't show it again.",
    discount: "with code",
    expired: "This offer has expired.",
    failed: "The one-click payment did not go through.",
    no_card: "You will be taken to a secure checkout to pay.",
    not_found: "There is no offer at this address.",
    pending_note: "Nothing is charged until you choose Yes.",
    price: "Price",
    refused: "This form has expired. Please open the offer again.",
    see_offer: "See the offer",
    thanks_none: "Your purchase is complete.",
    thanks_offers: "Before you go: an offer for you",
    thanks_title: "Thank you for your purchase",
    title: "An offer for you",
    was: "instead of"
  },
  es: {
    accept: "S\xED, a\xF1adirlo",
    adds: "Lo que a\xF1ade a lo que ya tienes",
    adds_nothing: "Ampl\xEDa lo que ya tienes.",
    card: "Se cobra en tu tarjeta {brand} guardada que termina en {last4}, con un clic.",
    charging: "Estamos confirmando tu pago. Esta p\xE1gina se actualiza sola.",
    checkout: "Completa la compra en el pago",
    continue: "Continuar",
    converted: "Es tuyo. \xA1Gracias!",
    decline: "No, gracias",
    declined: "Rechazaste esta oferta. No volveremos a mostrarla.",
    discount: "con el c\xF3digo",
    expired: "Esta oferta ha caducado.",
    failed: "El pago con un clic no se pudo completar.",
    no_card: "Ir\xE1s a un pago seguro para completar la compra.",
    not_found: "No hay ninguna oferta en esta direcci\xF3n.",
    pending_note: "No se cobra nada hasta que elijas S\xED.",
    price: "Precio",
    refused: "Este formulario ha caducado. Abre la oferta de nuevo.",
    see_offer: "Ver la oferta",
    thanks_none: "Tu compra se ha completado.",
    thanks_offers: "Antes de irte: una oferta para ti",
    thanks_title: "Gracias por tu compra",
    title: "Una oferta para ti",
    was: "en lugar de"
  },
  it: {
    accept: "S\xEC, aggiungilo",
    adds: "Cosa aggiunge a quello che hai",
    adds_nothing: "Estende quello che hai gi\xE0.",
    card: "Addebitato sulla tua carta {brand} salvata che termina con {last4}, con un clic.",
    charging: "Stiamo confermando il pagamento. Questa pagina si aggiorna da sola.",
    checkout: "Completa l'acquisto al checkout",
    continue: "Continua",
    converted: "\xC8 tuo. Grazie!",
    decline: "No, grazie",
    declined: "Hai rifiutato questa offerta. Non te la mostreremo pi\xF9.",
    discount: "con il codice",
    expired: "Questa offerta \xE8 scaduta.",
    failed: "Il pagamento con un clic non \xE8 andato a buon fine.",
    no_card: "Verrai portato a un checkout sicuro per pagare.",
    not_found: "Non c'\xE8 nessuna offerta a questo indirizzo.",
    pending_note: "Non viene addebitato nulla finch\xE9 non scegli S\xEC.",
    price: "Prezzo",
    refused: "Questo modulo \xE8 scaduto. Apri di nuovo l'offerta.",
    see_offer: "Vedi l'offerta",
    thanks_none: "Il tuo acquisto \xE8 completo.",
    thanks_offers: "Prima di andare: un'offerta per te",
    thanks_title: "Grazie per il tuo acquisto",
    title: "Un'offerta per te",
    was: "invece di"
  }
};

// src/element/format.ts
var LANGUAGES = Object.keys(words_default);
function language(offerLocale, chosen, preferred) {
  for (const tag of [offerLocale, chosen, ...preferred]) {
    const base = (tag ?? "").split("-")[0].toLowerCase();
    if (LANGUAGES.includes(base)) return base;
  }
  return "en";
}
function words(lang) {
  return words_default[lang];
}
var NO_DECIMALS = ["JPY", "KRW", "VND", "CLP", "ISK"];
function money(amount, currency, lang) {
  if (typeof amount !== "number" || !currency) return "";
  const code = currency.toUpperCase();
  const digits = NO_DECIMALS.includes(code) ? 0 : 2;
  const [whole, fraction] = (amount / 10 ** digits).toFixed(digits).split(".");
  const grouped = whole.replace(/\B(?=(\d{3})+(?!\d))/g, lang === "en" ? "," : " ");
  const number = fraction ? `${grouped}${lang === "en" ? "." : ","}${fraction}` : grouped;
  return lang === "en" ? `${code} ${number}` : `${number} ${code}`;
}

// src/element/style.ts
var STYLE = `
:host { display: block; font: var(--upsell-font, inherit); color: var(--upsell-fg, inherit); }
[part="list"] { display: grid; gap: var(--upsell-gap, 1rem); }
[part="offer"] { background: var(--upsell-bg, #fff); border: 1px solid var(--upsell-border, #d0d4dc);
  border-radius: var(--upsell-radius, 8px); padding: var(--upsell-padding, 1rem 1.25rem); }
[part="name"] { font-size: 1.15em; margin: 0 0 .5rem; }
[part="price"] { font-weight: 600; }
[part="was"], [part="note"] { color: var(--upsell-muted, #4a5160); font-weight: 400; }
[part="actions"] { display: flex; flex-wrap: wrap; gap: .5rem; margin: .75rem 0; }
button { font: inherit; border-radius: var(--upsell-radius, 8px); padding: .55rem 1.1rem; cursor: pointer; }
button:focus-visible, a:focus-visible { outline: 3px solid var(--upsell-focus, #1a56db); outline-offset: 2px; }
[part="accept"] { background: var(--upsell-accent, #1a56db); color: var(--upsell-on-accent, #fff); border: 0; }
[part="decline"] { background: transparent; color: inherit; border: 1px solid var(--upsell-border, #8a91a0); }
button:disabled { opacity: .6; cursor: progress; }
[part="status"]:empty { display: none; }
[part="checkout"] { color: var(--upsell-accent, #1a56db); }
`;

// src/element/upsell-offers.ts
var WAIT = "25s";
var SETTLING_POLLS = 30;
function customerOf(token) {
  try {
    const body = token.slice(3).split(".")[0].replace(/-/g, "+").replace(/_/g, "/");
    return JSON.parse(atob(body)).c ?? null;
  } catch {
    return null;
  }
}
function el(tag, part, text) {
  const node = document.createElement(tag);
  node.setAttribute("part", part);
  if (text !== void 0) node.textContent = text;
  return node;
}
var UpsellOffers = class extends HTMLElement {
  constructor() {
    super();
    __publicField(this, "offers", /* @__PURE__ */ new Map());
    __publicField(this, "cursor", "0");
    __publicField(this, "stop", null);
    __publicField(this, "list");
    const root = this.attachShadow({ mode: "open" });
    const style = document.createElement("style");
    style.textContent = STYLE;
    this.list = el("div", "list");
    root.append(style, this.list);
  }
  connectedCallback() {
    this.restart();
  }
  disconnectedCallback() {
    this.stop?.abort();
  }
  attributeChangedCallback() {
    if (this.isConnected) this.restart();
  }
  get base() {
    return (this.getAttribute("base-url") ?? new URL("/", import.meta.url).href).replace(/\/+$/, "");
  }
  restart() {
    this.stop?.abort();
    this.offers.clear();
    this.cursor = "0";
    this.list.replaceChildren();
    const token = this.getAttribute("token");
    if (!token) return;
    this.stop = new AbortController();
    void this.follow(token, this.stop.signal);
  }
  async call(path, signal, method = "GET") {
    const answer = await fetch(`${this.base}${path}`, {
      method,
      signal,
      headers: { authorization: `Bearer ${this.getAttribute("token")}` }
    });
    return { status: answer.status, body: await answer.json().catch(() => ({})) };
  }
  /** Every page of the customer's offers, then one long poll after another for the new ones. */
  async follow(token, signal) {
    const customer = customerOf(token);
    if (!customer) return this.failed(0, "not a client token");
    let wait = "";
    while (!signal.aborted) {
      let page;
      try {
        page = await this.call(`/api/customers/${encodeURIComponent(customer)}/offers?cursor=${this.cursor}${wait}`, signal);
      } catch {
        if (signal.aborted) return;
        await new Promise((done) => setTimeout(done, 2e3));
        continue;
      }
      if (page.status !== 200) {
        if (page.status === 503 || page.status === 429) {
          await new Promise((done) => setTimeout(done, 2e3));
          continue;
        }
        return this.failed(page.status, page.body.error);
      }
      for (const offer of page.body.offers) if (offer.state === "pending") this.show(offer);
      const next = page.body.next_cursor;
      this.cursor = next ?? String(Number(this.cursor) + page.body.offers.length);
      wait = next ? "" : `&wait=${WAIT}`;
    }
  }
  failed(status, error) {
    this.dispatchEvent(new CustomEvent("upsell-error", { detail: { status, error }, bubbles: true, composed: true }));
  }
  languageOf(offer) {
    return language(offer.locale, this.getAttribute("locale"), navigator.languages ?? []);
  }
  /** The offer as the offer page shows it: name, price now (the list price struck if it differs),
   * the code, the saved card or the checkout, and the two choices. */
  show(offer) {
    this.offers.set(offer.offer_id, offer);
    const lang = this.languageOf(offer);
    const w = words(lang);
    const d = offer.display ?? {};
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
    const brand = String(method.brand ?? "").replace(/^./, (c) => c.toUpperCase());
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
  async settle(offer, action, card) {
    const signal = this.stop?.signal ?? new AbortController().signal;
    card.querySelectorAll("button").forEach((button) => button.disabled = true);
    const path = `/api/offers/${encodeURIComponent(offer.offer_id)}/${action}${action === "accept" ? "?wait=10s" : ""}`;
    let answer = await this.call(path, signal, "POST").catch(() => ({ status: 0, body: {} }));
    let found = answer.body.offer ?? (answer.body.offer_id ? answer.body : void 0);
    for (let poll = 0; found?.state === "charging" && poll < SETTLING_POLLS && !signal.aborted; poll++) {
      this.outcome(card, offer, "charging");
      await new Promise((done) => setTimeout(done, 1e3));
      answer = await this.call(`/api/offers/${encodeURIComponent(offer.offer_id)}`, signal).catch(() => answer);
      found = answer.body.offer_id ? answer.body : found;
    }
    if (!found) {
      card.querySelectorAll("button").forEach((button) => button.disabled = false);
      return this.failed(answer.status, answer.body.error ?? "no answer");
    }
    this.outcome(card, found, found.state);
    this.dispatchEvent(
      new CustomEvent("upsell-offer-settled", { detail: { offer_id: found.offer_id, state: found.state }, bubbles: true, composed: true })
    );
  }
  /** The outcome in the offer's place, said by its status line (a live region, focused so a
   * keyboard user keeps their place when the buttons go). */
  outcome(card, offer, state) {
    const w = words(this.languageOf(offer));
    const status = card.querySelector('[part="status"]');
    status.textContent = w[state] ?? state;
    card.querySelectorAll('[part="price"], [part="payment"], [part="actions"], [part="note"]').forEach((n) => n.remove());
    if (state === "failed" && offer.checkout_url && !card.querySelector('[part="checkout"]')) {
      const link = el("a", "checkout", w.checkout);
      link.href = offer.checkout_url;
      card.append(link);
    }
    status.focus();
  }
};
__publicField(UpsellOffers, "observedAttributes", ["token", "base-url", "locale"]);
if (!customElements.get("upsell-offers")) customElements.define("upsell-offers", UpsellOffers);
export {
  UpsellOffers
};
