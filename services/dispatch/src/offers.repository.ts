/** kysely queries of dispatch's offers: who was offered an order, the answers, and the offer views transporters read. */
import type { Insertable } from "kysely";
import type { DispatchDb, DispatchTrx } from "./dispatch.repository.js";
import type { OfferRow, OffersTable, OfferStatus, WithdrawalReason } from "./dispatch.table.js";

export function offeredTransporters(
  db: DispatchDb,
  orderId: string,
): Promise<{ transporter_id: string; status: OfferStatus }[]> {
  return db.selectFrom("offers").select(["transporter_id", "status"]).where("order_id", "=", orderId).execute();
}

/**
 * Makes offers: new rows, or offers withdrawn or expired in an earlier round opened again.
 * Declined and accepted offers, and offers already open, are left alone (never offered twice).
 */
export function upsertOffers(trx: DispatchTrx, rows: Insertable<OffersTable>[]): Promise<OfferRow[]> {
  if (rows.length === 0) return Promise.resolve([]);
  return trx
    .insertInto("offers")
    .values(rows)
    .onConflict((oc) =>
      oc
        .constraint("offers_order_transporter_key")
        .doUpdateSet((eb) => ({
          status: "open",
          round: eb.ref("excluded.round"),
          wave: eb.ref("excluded.wave"),
          accepted_count: 0,
          withdrawal_reason: null,
          transporter_online: eb.ref("excluded.transporter_online"),
          created_at: eb.ref("excluded.created_at"),
          updated_at: eb.ref("excluded.updated_at"),
        }))
        .where("offers.status", "in", ["withdrawn", "expired"]),
    )
    .returningAll()
    .execute();
}

export function openOffersOfOrder(db: DispatchDb | DispatchTrx, orderId: string): Promise<OfferRow[]> {
  return db.selectFrom("offers").selectAll().where("order_id", "=", orderId).where("status", "=", "open").execute();
}

/** Closes the order's open offers (withdrawn or expired) and returns them. */
export function closeOpenOffers(
  trx: DispatchTrx,
  orderId: string,
  status: "withdrawn" | "expired",
  reason: WithdrawalReason,
  now: Date,
): Promise<OfferRow[]> {
  return trx
    .updateTable("offers")
    .set({ status, withdrawal_reason: reason, updated_at: now })
    .where("order_id", "=", orderId)
    .where("status", "=", "open")
    .returningAll()
    .execute();
}

/** Answers an open offer of the transporter (accepted or declined); undefined when it is not open or not theirs. */
export function answerOffer(
  trx: DispatchTrx,
  answer: {
    offerId: string;
    transporterId: string;
    status: "accepted" | "declined";
    acceptedCount?: number;
    declineReason?: string;
    now: Date;
  },
): Promise<OfferRow | undefined> {
  return trx
    .updateTable("offers")
    .set({
      status: answer.status,
      ...(answer.acceptedCount !== undefined ? { accepted_count: answer.acceptedCount } : {}),
      ...(answer.declineReason !== undefined ? { decline_reason: answer.declineReason } : {}),
      updated_at: answer.now,
    })
    .where("id", "=", answer.offerId)
    .where("transporter_id", "=", answer.transporterId)
    .where("status", "=", "open")
    .returningAll()
    .executeTakeFirst();
}

export function findOffer(db: DispatchDb, offerId: string): Promise<OfferRow | undefined> {
  return db.selectFrom("offers").selectAll().where("id", "=", offerId).executeTakeFirst();
}

/** Offers with their broadcast's trip, for answers and streams. */
export function offerViews(db: DispatchDb) {
  return db
    .selectFrom("offers as o")
    .innerJoin("broadcasts as b", "b.order_id", "o.order_id")
    .selectAll("o")
    .select([
      "b.vehicle_type",
      "b.pickup_lat",
      "b.pickup_lng",
      "b.drop_lat",
      "b.drop_lng",
      "b.pickup_city",
      "b.drop_city",
      "b.fare_paise",
      "b.distance_m",
      "b.open_trucks",
      "b.vehicle_count",
      "b.goods_type",
      "b.weight_kg",
      "b.scheduled_at",
      "b.expires_at",
      "b.version",
    ]);
}

export type OfferViewRow = Awaited<ReturnType<typeof listOffers>>[number];

/** One page of a transporter's offers in a status, newest first, after the cursor id. */
export function listOffers(
  db: DispatchDb,
  query: { transporterId: string; status: OfferStatus; afterId: string | undefined; limit: number },
) {
  let q = offerViews(db).where("o.transporter_id", "=", query.transporterId).where("o.status", "=", query.status);
  if (query.afterId) q = q.where("o.id", "<", query.afterId);
  return q.orderBy("o.id", "desc").limit(query.limit).execute();
}

export function findOfferViews(db: DispatchDb, offerIds: string[]) {
  if (offerIds.length === 0) return Promise.resolve([]);
  return offerViews(db).where("o.id", "in", offerIds).execute();
}
