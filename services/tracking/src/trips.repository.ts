/**
 * The trips table: written by the shared consumer of booking's events (conditional upserts,
 * so a redelivered or overtaken event changes nothing), read by every replica at start, after
 * each change and periodically. One-off events (geofences, driver_dark) are claimed here with
 * conditional updates: of several replicas or retries, one wins and writes the event.
 */
import { sql, type Kysely, type Transaction } from "kysely";
import type { TrackingDatabase, TripRow } from "./tracking.table.js";

type Db = Kysely<TrackingDatabase> | Transaction<TrackingDatabase>;

export interface BookingOpened {
  bookingId: string;
  customerId: string;
  pickup: { lat: number; lng: number } | undefined;
  drop: { lat: number; lng: number } | undefined;
  pickupPlace: string;
  dropPlace: string;
}

export interface BookingStatusApplied {
  bookingId: string;
  /** The booking's change number (envelope sequence). */
  sequence: number;
  status: string;
  customerId: string;
  transporterId: string | null;
  driverId: string | null;
  vehicleId: string | null;
  /** A driver is on the trip after this change. */
  active: boolean;
}

/**
 * booking.created: who the customer is and where the stops are. Resolves to "inserted" for a
 * new row, "updated" when a row written by a status change that overtook it got its stops,
 * undefined when nothing changed (a redelivery).
 */
export async function recordBookingOpened(db: Db, event: BookingOpened): Promise<"inserted" | "updated" | undefined> {
  const row = await db
    .insertInto("trips")
    .values({
      booking_id: event.bookingId,
      customer_id: event.customerId,
      transporter_id: null,
      driver_id: null,
      pickup_lat: event.pickup?.lat ?? null,
      pickup_lng: event.pickup?.lng ?? null,
      drop_lat: event.drop?.lat ?? null,
      drop_lng: event.drop?.lng ?? null,
      pickup_place: event.pickupPlace,
      drop_place: event.dropPlace,
      active_since: null,
      pickup_arriving_at: null,
      pickup_arrived_at: null,
      drop_arriving_at: null,
      drop_arrived_at: null,
      dark_at: null,
    })
    .onConflict((oc) =>
      oc
        .column("booking_id")
        .doUpdateSet({
          customer_id: sql`excluded.customer_id`,
          pickup_lat: sql`excluded.pickup_lat`,
          pickup_lng: sql`excluded.pickup_lng`,
          drop_lat: sql`excluded.drop_lat`,
          drop_lng: sql`excluded.drop_lng`,
          pickup_place: sql`excluded.pickup_place`,
          drop_place: sql`excluded.drop_place`,
          version: sql`trips.version + 1`,
          updated_at: sql`now()`,
        })
        // A redelivery changes nothing.
        .where(
          sql<boolean>`trips.pickup_lat is distinct from excluded.pickup_lat or trips.drop_lat is distinct from excluded.drop_lat or trips.customer_id <> excluded.customer_id`,
        ),
    )
    // xmax is 0 on a row this statement inserted, the updating transaction's id otherwise.
    .returning(sql<boolean>`(xmax = 0)`.as("inserted"))
    .executeTakeFirst();
  if (!row) return undefined;
  return row.inserted ? "inserted" : "updated";
}

/**
 * A status change of the booking, applied only when newer than the last one applied. A new
 * driver (or none) starts the trip's one-off events afresh. Resolves to true when the row changed.
 */
export async function recordBookingStatus(db: Db, event: BookingStatusApplied, at: Date): Promise<boolean> {
  const row = await db
    .insertInto("trips")
    .values({
      booking_id: event.bookingId,
      customer_id: event.customerId,
      transporter_id: event.transporterId,
      driver_id: event.driverId,
      vehicle_id: event.vehicleId,
      pickup_lat: null,
      pickup_lng: null,
      drop_lat: null,
      drop_lng: null,
      status: event.status,
      active: event.active,
      active_since: event.active ? at : null,
      booking_sequence: event.sequence,
      pickup_arriving_at: null,
      pickup_arrived_at: null,
      drop_arriving_at: null,
      drop_arrived_at: null,
      dark_at: null,
    })
    .onConflict((oc) => {
      const sameDriver = sql<boolean>`trips.driver_id is not distinct from excluded.driver_id`;
      const keep = (column: string) =>
        sql<Date | null>`case when ${sameDriver} then ${sql.ref(`trips.${column}`)} else null end`;
      return oc
        .column("booking_id")
        .doUpdateSet({
          customer_id: sql`case when excluded.customer_id = '' then trips.customer_id else excluded.customer_id end`,
          transporter_id: sql`excluded.transporter_id`,
          driver_id: sql`excluded.driver_id`,
          vehicle_id: sql`excluded.vehicle_id`,
          status: sql`excluded.status`,
          active: sql`excluded.active`,
          active_since: sql`case when not excluded.active then null when trips.active and ${sameDriver} then trips.active_since else excluded.active_since end`,
          booking_sequence: sql`excluded.booking_sequence`,
          pickup_arriving_at: keep("pickup_arriving_at"),
          pickup_arrived_at: keep("pickup_arrived_at"),
          drop_arriving_at: keep("drop_arriving_at"),
          drop_arrived_at: keep("drop_arrived_at"),
          dark_at: sql`case when excluded.active and ${sameDriver} then trips.dark_at else null end`,
          version: sql`trips.version + 1`,
          updated_at: sql`now()`,
        })
        .where(sql<boolean>`trips.booking_sequence < excluded.booking_sequence`);
    })
    .returning("booking_id")
    .executeTakeFirst();
  return row !== undefined;
}

export async function findTrip(db: Db, bookingId: string): Promise<TripRow | undefined> {
  return db.selectFrom("trips").selectAll().where("booking_id", "=", bookingId).executeTakeFirst();
}

export async function activeTrips(db: Db): Promise<TripRow[]> {
  return db.selectFrom("trips").selectAll().where("active", "=", true).execute();
}

/** The columns that mark a one-off trip event as raised: a geofence ring entered, the driver gone dark. */
export type TripEventMark =
  | "pickup_arriving_at"
  | "pickup_arrived_at"
  | "drop_arriving_at"
  | "drop_arrived_at"
  | "dark_at";

/**
 * Marks a one-off event on the driver's active trip; the row when this call won, undefined
 * when it was already marked (or the trip moved on).
 */
export async function claimTripEvent(
  trx: Db,
  bookingId: string,
  driverId: string,
  mark: TripEventMark,
  at: Date,
): Promise<TripRow | undefined> {
  return trx
    .updateTable("trips")
    .set({ [mark]: at, event_sequence: sql`event_sequence + 1`, version: sql`version + 1`, updated_at: at })
    .where("booking_id", "=", bookingId)
    .where("driver_id", "=", driverId)
    .where("active", "=", true)
    .where(mark, "is", null)
    .returningAll()
    .executeTakeFirst();
}

/** The dark driver was heard again: the next silence raises a new event. True when this call cleared it. */
export async function clearDark(db: Db, bookingId: string, driverId: string): Promise<boolean> {
  const row = await db
    .updateTable("trips")
    .set({ dark_at: null, version: sql`version + 1`, updated_at: sql`now()` })
    .where("booking_id", "=", bookingId)
    .where("driver_id", "=", driverId)
    .where("dark_at", "is not", null)
    .returning("booking_id")
    .executeTakeFirst();
  return row !== undefined;
}
