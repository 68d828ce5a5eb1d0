/**
 * Applies a booking event to the drivers and vehicles it holds ON_TRIP, in one transaction:
 * the booking's hold row is locked first (created empty when new), so replicas applying
 * events of one booking take turns, and the sequence check of planTripHold sees the last one.
 */
import { sql } from "kysely";
import type { FleetDb, FleetTrx } from "./fleet.repository.js";
import { recordAvailabilityChange } from "./fleet.events.js";
import { planTripHold, type BookingChange, type Pair } from "./trip-holds.rules.js";

export type TripHoldOutcome = "stale" | "applied";

export async function applyBookingChange(
  db: FleetDb,
  bookingId: string,
  change: BookingChange,
  events: { subjectRoot: string },
): Promise<TripHoldOutcome> {
  return db.transaction().execute(async (trx) => {
    await trx
      .insertInto("trip_holds")
      .values({ booking_id: bookingId, booking_seq: 0, active: false })
      .onConflict((oc) => oc.column("booking_id").doNothing())
      .execute();
    const row = await trx
      .selectFrom("trip_holds")
      .selectAll()
      .where("booking_id", "=", bookingId)
      .forUpdate()
      .executeTakeFirstOrThrow();
    const plan = planTripHold(
      { sequence: Number(row.booking_seq), active: row.active, driverId: row.driver_id, vehicleId: row.vehicle_id },
      change,
    );
    if (plan.kind === "stale") return "stale";
    let driverWasOnline = row.driver_was_online;
    if (plan.release) await release(trx, bookingId, plan.release, row.driver_was_online);
    if (plan.take) {
      const keepPrevious = row.active && row.driver_id === plan.take.driverId;
      const wasOnline = await take(trx, plan.take, events.subjectRoot);
      if (!keepPrevious) driverWasOnline = wasOnline;
    }
    await trx
      .updateTable("trip_holds")
      .set({
        booking_seq: plan.next.sequence,
        active: plan.next.active,
        driver_id: plan.next.driverId,
        vehicle_id: plan.next.vehicleId,
        driver_was_online: driverWasOnline,
        updated_at: new Date(),
      })
      .where("booking_id", "=", bookingId)
      .execute();
    return "applied";
  });
}

/** Sets the vehicle and the driver ON_TRIP; another driver online with the vehicle goes offline. Returns whether the driver was online. */
async function take(trx: FleetTrx, pair: Pair, subjectRoot: string): Promise<boolean> {
  const now = new Date();
  const vehicle = await trx
    .updateTable("vehicles")
    .set({ status: "on_trip", updated_at: now })
    .where("id", "=", pair.vehicleId)
    .returning(["id", "vehicle_type"])
    .executeTakeFirst();
  // The truck left with this trip's driver: whoever else was online with it is not available.
  const displaced = await trx
    .updateTable("drivers")
    .set({ status: "offline", vehicle_id: null, updated_at: now, event_seq: sql<string>`event_seq + 1` })
    .where("vehicle_id", "=", pair.vehicleId)
    .where("id", "!=", pair.driverId)
    .where("status", "=", "online")
    .returningAll()
    .execute();
  for (const driver of displaced) {
    await recordAvailabilityChange(trx, subjectRoot, driver, {
      vehicleId: pair.vehicleId,
      vehicleType: vehicle?.vehicle_type ?? "",
      online: false,
      reason: "vehicle_unavailable",
    });
  }
  const before = await trx
    .selectFrom("drivers")
    .select("status")
    .where("id", "=", pair.driverId)
    .forUpdate()
    .executeTakeFirst();
  await trx
    .updateTable("drivers")
    .set({ status: "on_trip", vehicle_id: pair.vehicleId, updated_at: now })
    .where("id", "=", pair.driverId)
    .execute();
  return before?.status !== "offline";
}

/** Puts the pair back, unless another active trip holds it (then that trip's end will). */
async function release(trx: FleetTrx, bookingId: string, pair: Pair, driverWasOnline: boolean): Promise<void> {
  const now = new Date();
  const heldElsewhere = (column: "driver_id" | "vehicle_id", id: string) =>
    trx
      .selectFrom("trip_holds")
      .select("booking_id")
      .where(column, "=", id)
      .where("active", "=", true)
      .where("booking_id", "!=", bookingId);
  await trx
    .updateTable("vehicles")
    .set({ status: "available", updated_at: now })
    .where("id", "=", pair.vehicleId)
    .where("status", "=", "on_trip")
    .where((eb) => eb.not(eb.exists(heldElsewhere("vehicle_id", pair.vehicleId))))
    .execute();
  await trx
    .updateTable("drivers")
    .set(
      driverWasOnline
        ? { status: "online", updated_at: now }
        : { status: "offline", vehicle_id: null, updated_at: now },
    )
    .where("id", "=", pair.driverId)
    .where("status", "=", "on_trip")
    .where((eb) => eb.not(eb.exists(heldElsewhere("driver_id", pair.driverId))))
    .execute();
}
