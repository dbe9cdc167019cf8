"""Every string the customer pages show, one catalogue per language (English, Italian, Spanish: the
languages Dodo's own guide is published in), and which one a request gets."""

from __future__ import annotations

LANGUAGES = ("en", "it", "es")

WORDS: dict[str, dict[str, str]] = {
    "en": {
        "title": "An offer for you",
        "adds": "What it adds to what you have",
        "adds_nothing": "It extends what you already have.",
        "price": "Price",
        "was": "instead of",
        "discount": "with code",
        "card": "Charged to your saved {brand} card ending in {last4}, in one click.",
        "no_card": "You will be taken to a secure checkout to pay.",
        "accept": "Yes, add it",
        "decline": "No thanks",
        "pending_note": "Nothing is charged until you choose Yes.",
        "charging": "We are confirming your payment. This page updates by itself.",
        "converted": "It's yours. Thank you!",
        "failed": "The one-click payment did not go through.",
        "checkout": "Complete the purchase at checkout",
        "declined": "You declined this offer. We won't show it again.",
        "expired": "This offer has expired.",
        "not_found": "There is no offer at this address.",
        "refused": "This form has expired. Please open the offer again.",
        "thanks_title": "Thank you for your purchase",
        "thanks_offers": "Before you go: an offer for you",
        "see_offer": "See the offer",
        "thanks_none": "Your purchase is complete.",
        "continue": "Continue",
    },
    "it": {
        "title": "Un'offerta per te",
        "adds": "Cosa aggiunge a quello che hai",
        "adds_nothing": "Estende quello che hai già.",
        "price": "Prezzo",
        "was": "invece di",
        "discount": "con il codice",
        "card": "Addebitato sulla tua carta {brand} salvata che termina con {last4}, con un clic.",
        "no_card": "Verrai portato a un checkout sicuro per pagare.",
        "accept": "Sì, aggiungilo",
        "decline": "No, grazie",
        "pending_note": "Non viene addebitato nulla finché non scegli Sì.",
        "charging": "Stiamo confermando il pagamento. Questa pagina si aggiorna da sola.",
        "converted": "È tuo. Grazie!",
        "failed": "Il pagamento con un clic non è andato a buon fine.",
        "checkout": "Completa l'acquisto al checkout",
        "declined": "Hai rifiutato questa offerta. Non te la mostreremo più.",
        "expired": "Questa offerta è scaduta.",
        "not_found": "Non c'è nessuna offerta a questo indirizzo.",
        "refused": "Questo modulo è scaduto. Apri di nuovo l'offerta.",
        "thanks_title": "Grazie per il tuo acquisto",
        "thanks_offers": "Prima di andare: un'offerta per te",
        "see_offer": "Vedi l'offerta",
        "thanks_none": "Il tuo acquisto è completo.",
        "continue": "Continua",
    },
    "es": {
        "title": "Una oferta para ti",
        "adds": "Lo que añade a lo que ya tienes",
        "adds_nothing": "Amplía lo que ya tienes.",
        "price": "Precio",
        "was": "en lugar de",
        "discount": "con el código",
        "card": "Se cobra en tu tarjeta {brand} guardada que termina en {last4}, con un clic.",
        "no_card": "Irás a un pago seguro para completar la compra.",
        "accept": "Sí, añadirlo",
        "decline": "No, gracias",
        "pending_note": "No se cobra nada hasta que elijas Sí.",
        "charging": "Estamos confirmando tu pago. Esta página se actualiza sola.",
        "converted": "Es tuyo. ¡Gracias!",
        "failed": "El pago con un clic no se pudo completar.",
        "checkout": "Completa la compra en el pago",
        "declined": "Rechazaste esta oferta. No volveremos a mostrarla.",
        "expired": "Esta oferta ha caducado.",
        "not_found": "No hay ninguna oferta en esta dirección.",
        "refused": "Este formulario ha caducado. Abre la oferta de nuevo.",
        "thanks_title": "Gracias por tu compra",
        "thanks_offers": "Antes de irte: una oferta para ti",
        "see_offer": "Ver la oferta",
        "thanks_none": "Tu compra se ha completado.",
        "continue": "Continuar",
    },
}


def language(accept_language: str, chosen: str | None = None) -> str:
    """The rule's `locale` if it set one, else the first language of `Accept-Language` we have
    (by its q weight), else English."""
    if chosen in LANGUAGES:
        return chosen
    ranked = []
    for part in accept_language.split(",")[:20]:
        tag, _, params = part.strip().partition(";")
        weight = 1.0
        if params.strip().startswith("q="):
            try:
                weight = float(params.strip()[2:])
            except ValueError:
                weight = 0.0
        ranked.append((weight, tag.split("-")[0].strip().lower()))
    for _, tag in sorted(ranked, key=lambda r: -r[0]):
        if tag in LANGUAGES:
            return tag
    return "en"


def money(amount: int | None, currency: str | None, lang: str) -> str:
    """Minor units as the customer reads them: `USD 9.00` in English, `9,00 USD` in Italian and Spanish."""
    if amount is None or not currency:
        return ""
    digits = 0 if currency.upper() in ("JPY", "KRW", "VND", "CLP", "ISK") else 2
    number = f"{amount / 10**digits:,.{digits}f}"
    if lang == "en":
        return f"{currency.upper()} {number}"
    return f"{number.replace(',', ' ').replace('.', ',')} {currency.upper()}"
