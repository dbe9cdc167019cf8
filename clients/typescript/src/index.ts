// The app API's typed client: every operation of /api/openapi.json (src/client/, generated), and
// one way to make a client for a receiver and a token (an API token on the server, or a client
// token in a browser for that customer's offers).
import { createClient, createConfig, type Client } from "./client/client/index.js";

export * from "./client/index.js";
export type { Client } from "./client/client/index.js";

/** A client for the receiver at `baseUrl` (e.g. `https://upsell.example.com`) that sends `token`
 * as its bearer credential. Errors are returned, not thrown: `{ data, error, response }`. */
export function createUpsellClient(baseUrl: string, token: string, fetchImpl?: typeof fetch): Client {
  return createClient(
    createConfig({ baseUrl: baseUrl.replace(/\/+$/, ""), auth: () => token, ...(fetchImpl ? { fetch: fetchImpl } : {}) }),
  );
}
