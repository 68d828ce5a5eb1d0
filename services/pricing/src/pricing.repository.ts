/** kysely queries of the pricing schema: plain functions taking the db (or a transaction). */
import { sql, type Kysely } from "kysely";
import type { NewQuote, PricingDatabase, QuoteRow, VehicleTypeRow } from "./pricing.table.js";

export type PricingDb = Kysely<PricingDatabase>;

/** The active vehicle types, smallest first. */
export function listActiveVehicleTypes(db: PricingDb): Promise<VehicleTypeRow[]> {
  return db
    .selectFrom("vehicle_types")
    .selectAll()
    .where("active", "=", true)
    .orderBy("sort_order")
    .orderBy("id")
    .execute();
}

/** Stores a quote; the caller has every value already, so nothing is read back. */
export async function insertQuote(db: PricingDb, quote: NewQuote): Promise<void> {
  await db.insertInto("quotes").values(quote).execute();
}

/** A quote of this customer; another customer's quote is as good as missing. */
export function findCustomerQuote(db: PricingDb, id: string, customerId: string): Promise<QuoteRow | undefined> {
  return db
    .selectFrom("quotes")
    .selectAll()
    .where("id", "=", id)
    .where("customer_id", "=", customerId)
    .executeTakeFirst();
}

export interface Redemption {
  id: string;
  /** The token exactly as presented: only the token pricing stored with the quote redeems it. */
  token: string;
  customerId: string;
  key: string;
  now: Date;
}

/**
 * Redeems a quote in ONE conditional UPDATE: it matches when the quote is the customer's and
 * either unredeemed and unexpired, or already redeemed under the same key (a retry; the first
 * redemption time is kept). Of concurrent redemptions under different keys exactly one matches:
 * the others wait for its row lock, re-check the condition on the redeemed row and match
 * nothing. Undefined when nothing matched (the caller explains from a fresh read).
 */
export function redeemQuote(db: PricingDb, r: Redemption): Promise<QuoteRow | undefined> {
  return db
    .updateTable("quotes")
    .set({ redemption_key: r.key, redeemed_at: sql<Date>`coalesce(redeemed_at, ${r.now})` })
    .where("id", "=", r.id)
    .where("token", "=", r.token)
    .where("customer_id", "=", r.customerId)
    .where((eb) =>
      eb.or([
        eb.and([eb("redemption_key", "is", null), eb("expires_at", ">", r.now)]),
        eb("redemption_key", "=", r.key),
      ]),
    )
    .returningAll()
    .executeTakeFirst();
}

/** A quote by id, whoever it was made for (to explain a redemption that matched nothing). */
export function findQuote(db: PricingDb, id: string): Promise<QuoteRow | undefined> {
  return db.selectFrom("quotes").selectAll().where("id", "=", id).executeTakeFirst();
}

/** Deletes up to `limit` quotes that expired before `before`; resolves to how many went. */
export async function deleteExpiredQuotes(db: PricingDb, before: Date, limit = 5000): Promise<number> {
  const result = await db
    .deleteFrom("quotes")
    .where("id", "in", (qb) => qb.selectFrom("quotes").select("id").where("expires_at", "<", before).limit(limit))
    .executeTakeFirst();
  return Number(result.numDeletedRows);
}
