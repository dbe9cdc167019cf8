// The element's look, all of it overridable: CSS custom properties for the usual choices, and every
// piece exposed as a `part` (offer, name, price, was, list-price, code, payment, actions, accept,
// decline, note, status, checkout) for the rest.
export const STYLE = `
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
