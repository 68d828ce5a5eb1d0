/**
 * kysely queries of operations' views of dispatch: a booking's offers, the transporters holding
 * open offers now (partial index offers_open_transporter_idx), and the hourly funnel (one
 * statement; generate_series gives the hours, each count a range scan of an offer time index).
 */
import { sql } from "kysely";
import type { DispatchDb } from "./dispatch.repository.js";
import { offerViews } from "./offers.repository.js";

/** Every offer of an order, in every round and wave, oldest first. */
export function offersOfOrder(db: DispatchDb, orderId: string) {
  return offerViews(db).where("o.order_id", "=", orderId).orderBy("o.id").execute();
}

/** Transporters with at least one open offer, each once. */
export async function transportersWithOpenOffers(db: DispatchDb): Promise<string[]> {
  const rows = await db.selectFrom("offers").select("transporter_id").distinct().where("status", "=", "open").execute();
  return rows.map((row) => row.transporter_id);
}

export interface DispatchFunnelRow {
  hour_start: Date;
  waves: number;
  offers: number;
  accepted: number;
  offers_expired: number;
}

/**
 * One row per hour in [from, to) (whole UTC hours), empty hours included: waves that made offers
 * (distinct order, round and wave of the offers made that hour), offers made, and offers accepted
 * and expired in that hour (their last change). An offer made again in a later round counts in
 * the hour it was made again.
 */
export async function dispatchFunnel(db: DispatchDb, from: Date, to: Date): Promise<DispatchFunnelRow[]> {
  const hourEnd = sql`h.hour_start + interval '1 hour'`;
  const inHour = (column: string) =>
    sql<boolean>`${sql.ref(column)} >= h.hour_start and ${sql.ref(column)} < ${hourEnd}`;
  const last = new Date(to.getTime() - 3_600_000);
  const rows = await db
    .selectFrom(
      sql<{ hour_start: Date }>`generate_series(${from}::timestamptz, ${last}::timestamptz, interval '1 hour')`.as(
        sql`h(hour_start)` as never,
      ),
    )
    .select((eb) => [
      sql<Date>`h.hour_start`.as("hour_start"),
      eb
        .selectFrom("offers as m")
        .select(sql<string>`count(distinct (m.order_id, m.round, m.wave))`.as("n"))
        .where(inHour("m.created_at"))
        .as("waves"),
      eb.selectFrom("offers as m").select(eb.fn.countAll<string>().as("n")).where(inHour("m.created_at")).as("offers"),
      eb
        .selectFrom("offers as a")
        .select(sql<string>`count(*) filter (where a.status = 'accepted')`.as("n"))
        .where(inHour("a.updated_at"))
        .as("accepted"),
      eb
        .selectFrom("offers as a")
        .select(sql<string>`count(*) filter (where a.status = 'expired')`.as("n"))
        .where(inHour("a.updated_at"))
        .as("offers_expired"),
    ])
    .orderBy(sql`h.hour_start`)
    .execute();
  return rows.map((row) => ({
    hour_start: new Date(row.hour_start),
    waves: Number(row.waves ?? 0),
    offers: Number(row.offers ?? 0),
    accepted: Number(row.accepted ?? 0),
    offers_expired: Number(row.offers_expired ?? 0),
  }));
}
