// Recipe 2: a server component that mints a client token for the signed-in customer (with the
// typed client and the API token, on the server) and renders <upsell-offers>, which lists that
// customer's offers and accepts or declines them in place, with new ones appearing by themselves.
import Script from "next/script";
import { createClientToken } from "@dodo-upsell/client";
import { upsell, upsellUrl } from "../../lib/upsell";
import { currentCustomerId } from "../../lib/session";

export default async function OffersPage() {
  const customerId = await currentCustomerId();
  const { data, error } = await createClientToken({
    client: upsell,
    path: { customer_id: customerId },
    body: { scopes: ["offers"], ttl: "1h" },
  });
  if (error) throw new Error(`dodo-upsell refused a client token: ${error.error}`);
  return (
    <main>
      <h1>Your offers</h1>
      <Script type="module" src={`${upsellUrl}/static/upsell-offers.js`} strategy="afterInteractive" />
      <upsell-offers token={data.token} base-url={upsellUrl} />
    </main>
  );
}
