import { type Client } from "./client/client/index.js";
export * from "./client/index.js";
export type { Client } from "./client/client/index.js";
/** A client for the receiver at `baseUrl` (e.g. `https://upsell.example.com`) that sends `token`
 * as its bearer credential. Errors are returned, not thrown: `{ data, error, response }`. */
export declare function createUpsellClient(baseUrl: string, token: string, fetchImpl?: typeof fetch): Client;
