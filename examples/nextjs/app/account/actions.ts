"use server";
// Recipe 3: the same on the server with the typed client alone: server actions that list the
// customer's pending offers, accept one (waiting up to 10 s for the charge), and tell dodo-upsell
// about a moment in the app (an app event, idempotent by its key).
import { acceptOffer, listCustomerOffers, sendAppEvent, type Offer } from "@dodo-upsell/client";
import { upsell } from "../../lib/upsell";
import { currentCustomerId } from "../../lib/session";

export async function pendingOffers(): Promise<Offer[]> {
  const { data, error } = await listCustomerOffers({ client: upsell, path: { customer_id: await currentCustomerId() } });
  if (error) throw new Error(error.error);
  return data.offers.filter((offer) => offer.state === "pending");
}

export async function accept(offerId: string): Promise<Offer["state"]> {
  const customerId = await currentCustomerId();
  const { data, error, response } = await acceptOffer({
    client: upsell,
    path: { offer_id: offerId },
    query: { customer_id: customerId, wait: "10s" }, // another customer's offer: 404
  });
  if (error) throw new Error(`${response.status}: ${error.error}`);
  return data.state; // converted, or charging (202): the webhook settles it
}

export async function reachedMilestone(name: string, count: number): Promise<void> {
  const customerId = await currentCustomerId();
  const { error } = await sendAppEvent({
    client: upsell,
    path: { customer_id: customerId },
    headers: { "Idempotency-Key": `${customerId}:${name}:${count}` },
    body: { type: `app.${name}`, data: { count } }, // app.<name>: what a rule's `on:` names
  });
  if (error) throw new Error(error.error);
}
