// Stands in for the app's own sign-in: which Dodo customer is looking at the page.
import { cookies } from "next/headers";

export async function currentCustomerId(): Promise<string> {
  const customer = (await cookies()).get("customer_id")?.value;
  if (!customer) throw new Error("not signed in");
  return customer;
}
