// Where the app keeps what it knows of each customer's access. A Map here; use your database (the
// same event may come twice, and events of one customer arrive in order, so keep the highest version).
export type Access = { version: number; tier: string | null; features: string[]; limits: Record<string, number> };

const byCustomer = new Map<string, Access>();
const seenEvents = new Set<string>();

/** Applies an `access.*` event once; an older version never overwrites a newer one. */
export async function applyAccess(eventId: string, customerId: string, access: Access): Promise<void> {
  if (seenEvents.has(eventId)) return;
  seenEvents.add(eventId);
  const known = byCustomer.get(customerId);
  if (!known || known.version < access.version) byCustomer.set(customerId, access);
}

export async function accessOf(customerId: string): Promise<Access | undefined> {
  return byCustomer.get(customerId);
}
