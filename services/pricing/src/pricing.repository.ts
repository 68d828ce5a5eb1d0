/** kysely queries of the pricing schema: plain functions taking the db (or a transaction). */
import type { Kysely } from "kysely";
import type { NewQuote, PricingDatabase, QuoteRow, VehicleTypeRow } from "./pricing.table.js";

export type PricingDb = Kysely<PricingDatabase>;

/** The active vehicle types, smallest first. */
export function listActiveVehicleTypes(db: PricingDb): Promise<VehicleTypeRow[]> {
  return db.selectFrom("vehicle_types").selectAll().where("active", "=", true).orderBy("sort_order").orderBy("id").execute();
}

/** Stores a quote; the caller has every value already, so nothing is read back. */
export async function insertQuote(db: PricingDb, quote: NewQuote): Promise<void> {
  await db.insertInto("quotes").values(quote).execute();
}

/** A quote of this customer; another customer's quote is as good as missing. */
export function findCustomerQuote(db: PricingDb, id: string, customerId: string): Promise<QuoteRow | undefined> {
  return db.selectFrom("quotes").selectAll().where("id", "=", id).where("customer_id", "=", customerId).executeTakeFirst();
}

/** Deletes up to `limit` quotes that expired before `before`; resolves to how many went. */
export async function deleteExpiredQuotes(db: PricingDb, before: Date, limit = 5000): Promise<number> {
  const result = await db
    .deleteFrom("quotes")
    .where("id", "in", (qb) => qb.selectFrom("quotes").select("id").where("expires_at", "<", before).limit(limit))
    .executeTakeFirst();
  return Number(result.numDeletedRows);
}
