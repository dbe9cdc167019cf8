// `npm run generate` (or `python3 tasks.py client`): src/client/ from openapi.json, the receiver's
// /api/openapi.json as committed. Never edit src/client/ by hand.
import { defineConfig } from "@hey-api/openapi-ts";

export default defineConfig({
  input: "openapi.json",
  output: { path: "src/client" },
  plugins: ["@hey-api/client-fetch", "@hey-api/typescript", "@hey-api/sdk"],
});
