// One typed client for the app's server side: the receiver's URL and an API token, both from the
// environment (never sent to the browser; the browser gets a client token for one customer).
import { createUpsellClient } from "@dodo-upsell/client";

export const upsellUrl = process.env.UPSELL_URL ?? "http://127.0.0.1:8000";
export const upsell = createUpsellClient(upsellUrl, process.env.UPSELL_API_TOKEN ?? "");
