// Recipe 1: a route handler that verifies dodo-upsell's outbound webhooks (Standard Webhooks, with
// the `standardwebhooks` package) and stores each customer's access.
// endpoints.yaml: url: https://app.example.com/api/upsell-webhooks, secret_env: ...
import { Webhook } from "standardwebhooks";
import { applyAccess, type Access } from "../../../lib/access";

type UpsellEvent = { id: string; type: string; customer_id: string; data: Record<string, unknown> };

const secrets = [process.env.UPSELL_WEBHOOK_SECRET, process.env.UPSELL_WEBHOOK_PREVIOUS_SECRET].filter(
  (secret): secret is string => Boolean(secret),
);

function verified(body: string, headers: Headers): UpsellEvent | null {
  const given = Object.fromEntries(headers.entries());
  for (const secret of secrets) {
    try {
      return new Webhook(secret).verify(body, given) as UpsellEvent;
    } catch {
      // another secret may sign it (a rotation in progress); none: refused below
    }
  }
  return null;
}

export async function POST(request: Request): Promise<Response> {
  const body = await request.text(); // the exact bytes: a parsed and re-serialised body fails verification
  const event = verified(body, request.headers);
  if (event === null) return new Response(null, { status: 401 });
  if (event.type.startsWith("access.")) {
    await applyAccess(event.id, event.customer_id, event.data as unknown as Access);
  }
  return new Response(null, { status: 204 }); // 2xx once stored: anything else is retried, in order
}
