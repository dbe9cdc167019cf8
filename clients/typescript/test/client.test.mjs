// The generated client against the running service (tests/test_typescript_client.py starts it and
// makes the offers): every call typed by the OpenAPI document, errors returned as typed values.
import assert from "node:assert/strict";
import { test } from "node:test";
import {
  acceptOffer,
  createClientToken,
  createUpsellClient,
  declineOffer,
  getCustomerAccess,
  getEligibility,
  getOffer,
  listCustomerOffers,
  sendAppEvent,
} from "../dist/index.js";

const env = (name) => {
  const value = process.env[name];
  assert.ok(value, `${name} is set by the pytest that runs this`);
  return value;
};
const upsell = createUpsellClient(env("UPSELL_URL"), env("UPSELL_TOKEN"));
const buyer = env("UPSELL_BUYER");
const decliner = env("UPSELL_DECLINER");
const addon = env("UPSELL_ADDON");

async function pendingOf(customer) {
  const { data, error } = await listCustomerOffers({ client: upsell, path: { customer_id: customer }, query: { limit: 100 } });
  assert.equal(error, undefined);
  const pending = data.offers.filter((offer) => offer.state === "pending");
  assert.equal(pending.length, 1, JSON.stringify(data.offers));
  assert.equal(data.next_cursor, null);
  return pending[0];
}

test("offers, eligibility, accept with wait (charged once), decline, access", async () => {
  const offer = await pendingOf(buyer);
  assert.equal(offer.customer_id, buyer);
  assert.equal(offer.product_id, addon);

  const eligible = await getEligibility({ client: upsell, path: { customer_id: buyer }, query: { product_id: addon } });
  assert.equal(eligible.error, undefined);
  assert.equal(eligible.data.eligible, true, JSON.stringify(eligible.data));

  const accepted = await acceptOffer({ client: upsell, path: { offer_id: offer.offer_id }, query: { wait: "15s" } });
  assert.equal(accepted.response.status, 200, JSON.stringify(accepted.data ?? accepted.error));
  assert.equal(accepted.data.state, "converted");
  const again = await acceptOffer({ client: upsell, path: { offer_id: offer.offer_id } });
  assert.ok([200, 202, 409].includes(again.response.status), `accepting again: ${again.response.status}`);

  const access = await getCustomerAccess({ client: upsell, path: { customer_id: buyer } });
  assert.equal(access.error, undefined);
  assert.ok(access.data.grants.some((grant) => grant.product_id === addon), JSON.stringify(access.data));

  const other = await pendingOf(decliner);
  const declined = await declineOffer({ client: upsell, path: { offer_id: other.offer_id } });
  assert.equal(declined.data.state, "declined");
  const twice = await declineOffer({ client: upsell, path: { offer_id: other.offer_id } });
  assert.equal(twice.response.status, 409);
  assert.equal(typeof twice.error.error, "string", "an error is a typed value, not a throw");
});

test("app events are idempotent by their key", async () => {
  const event = { client: upsell, path: { customer_id: buyer }, headers: { "Idempotency-Key": `ts-${Date.now()}` }, body: { type: "app.lessons_done", data: { count: 3 } } };
  const first = await sendAppEvent(event);
  assert.equal(first.response.status, 202);
  assert.equal(first.data.status, "queued");
  const second = await sendAppEvent(event);
  assert.equal(second.response.status, 200);
  assert.deepEqual([second.data.status, second.data.event_id], ["duplicate", first.data.event_id]);
  const keyless = await sendAppEvent({ ...event, headers: {} });
  assert.equal(keyless.response.status, 400);
  assert.match(keyless.error.error, /Idempotency-Key/);
});

test("errors are typed values: 401, 404, 400, and a client token for another customer 403", async () => {
  const stranger = createUpsellClient(env("UPSELL_URL"), "not-a-token");
  const refused = await getCustomerAccess({ client: stranger, path: { customer_id: buyer } });
  assert.equal(refused.response.status, 401);
  assert.equal(typeof refused.error.error, "string");
  const missing = await getOffer({ client: upsell, path: { offer_id: "off_nothing_here" } });
  assert.equal(missing.response.status, 404);
  const bad = await listCustomerOffers({ client: upsell, path: { customer_id: buyer }, query: { limit: 0 } });
  assert.equal(bad.response.status, 400);
  assert.match(bad.error.error, /limit/);

  const minted = await createClientToken({ client: upsell, path: { customer_id: buyer }, body: { scopes: ["offers"], ttl: "10m" } });
  assert.ok(minted.data.token.startsWith("ct_"));
  const browser = createUpsellClient(env("UPSELL_URL"), minted.data.token);
  const own = await listCustomerOffers({ client: browser, path: { customer_id: buyer } });
  assert.equal(own.response.status, 200);
  const theirs = await listCustomerOffers({ client: browser, path: { customer_id: decliner } });
  assert.equal(theirs.response.status, 403);
  assert.equal(typeof theirs.error.error, "string");
});
