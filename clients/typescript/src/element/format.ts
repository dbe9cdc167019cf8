// What the offer page (receiver/pages/words.py) says and how it writes money, for the element.
import WORDS from "./words.json" with { type: "json" };

export type Lang = keyof typeof WORDS;
export type Words = (typeof WORDS)[Lang];
export const LANGUAGES = Object.keys(WORDS) as Lang[];

/** The offer's `locale` if the rule set one, else the element's `locale` attribute, else the
 * browser's first language we have, else English (the offer page's order, with the browser's
 * languages standing in for Accept-Language). */
export function language(offerLocale: string | null | undefined, chosen: string | null, preferred: readonly string[]): Lang {
  for (const tag of [offerLocale, chosen, ...preferred]) {
    const base = (tag ?? "").split("-")[0].toLowerCase();
    if ((LANGUAGES as string[]).includes(base)) return base as Lang;
  }
  return "en";
}

export function words(lang: Lang): Words {
  return WORDS[lang];
}

const NO_DECIMALS = ["JPY", "KRW", "VND", "CLP", "ISK"];

/** Minor units as the customer reads them: `USD 9.00` in English, `9,00 USD` in Italian and Spanish. */
export function money(amount: number | null | undefined, currency: string | null | undefined, lang: Lang): string {
  if (typeof amount !== "number" || !currency) return "";
  const code = currency.toUpperCase();
  const digits = NO_DECIMALS.includes(code) ? 0 : 2;
  const [whole, fraction] = (amount / 10 ** digits).toFixed(digits).split(".");
  const grouped = whole.replace(/\B(?=(\d{3})+(?!\d))/g, lang === "en" ? "," : " ");
  const number = fraction ? `${grouped}${lang === "en" ? "." : ","}${fraction}` : grouped;
  return lang === "en" ? `${code} ${number}` : `${number} ${code}`;
}
