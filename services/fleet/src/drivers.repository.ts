/** kysely queries of fleet's drivers: the roster, availability (one online driver per vehicle) and driver accounts. */
import { sql } from "kysely";
import type { FleetDb, FleetTrx } from "./fleet.repository.js";
import type { DriverRow, DriverStatus } from "./fleet.table.js";

// ---------------------------------------------------------------------------------------------
// Drivers

export async function insertDriver(
  db: FleetDb,
  driver: {
    id: string;
    transporterId: string;
    name: string;
    phone: string;
    licenceNumber: string;
    idempotencyKey: string | null;
  },
): Promise<DriverRow> {
  return db
    .insertInto("drivers")
    .values({
      id: driver.id,
      transporter_id: driver.transporterId,
      name: driver.name,
      phone: driver.phone,
      licence_number: driver.licenceNumber,
      idempotency_key: driver.idempotencyKey,
    })
    .returningAll()
    .executeTakeFirstOrThrow();
}

/** The driver a transporter added with an idempotency key, removed or not. */
export function findDriverByIdempotencyKey(
  db: FleetDb,
  transporterId: string,
  key: string,
): Promise<DriverRow | undefined> {
  return db
    .selectFrom("drivers")
    .selectAll()
    .where("transporter_id", "=", transporterId)
    .where("idempotency_key", "=", key)
    .executeTakeFirst();
}

/** One of a transporter's drivers that is not removed. */
export function findDriver(db: FleetDb, transporterId: string, id: string): Promise<DriverRow | undefined> {
  return db
    .selectFrom("drivers")
    .selectAll()
    .where("id", "=", id)
    .where("transporter_id", "=", transporterId)
    .where("removed_at", "is", null)
    .executeTakeFirst();
}

/** The active (not removed) driver with this phone, of any transporter. */
export function findActiveDriverByPhone(db: FleetDb, phone: string): Promise<DriverRow | undefined> {
  return db
    .selectFrom("drivers")
    .selectAll()
    .where("phone", "=", phone)
    .where("removed_at", "is", null)
    .executeTakeFirst();
}

export function listDrivers(
  db: FleetDb,
  query: { transporterId: string; status?: DriverStatus | undefined; afterId?: string | undefined; limit: number },
): Promise<DriverRow[]> {
  let select = db
    .selectFrom("drivers")
    .selectAll()
    .where("transporter_id", "=", query.transporterId)
    .where("removed_at", "is", null);
  if (query.status) select = select.where("status", "=", query.status);
  if (query.afterId) select = select.where("id", "<", query.afterId);
  return select.orderBy("id", "desc").limit(query.limit).execute();
}

/** A driver online or on a trip, as ListOnlineDrivers reads it. */
export interface OnlineDriverRow {
  id: string;
  transporter_id: string;
  vehicle_id: string;
  vehicle_type: string;
  event_seq: string;
}

/**
 * Drivers online or on a trip, with their vehicle's type and event sequence, in id order after
 * `afterId`: what their last availability events said (see ListOnlineDrivers).
 */
export function listOnlineDrivers(
  db: FleetDb,
  query: { afterId?: string | undefined; limit: number },
): Promise<OnlineDriverRow[]> {
  let select = db
    .selectFrom("drivers")
    .innerJoin("vehicles", "vehicles.id", "drivers.vehicle_id")
    .select([
      "drivers.id as id",
      "drivers.transporter_id as transporter_id",
      "vehicles.id as vehicle_id",
      "vehicles.vehicle_type as vehicle_type",
      "drivers.event_seq as event_seq",
    ])
    .where("drivers.status", "in", ["online", "on_trip"])
    .where("drivers.removed_at", "is", null);
  if (query.afterId) select = select.where("drivers.id", ">", query.afterId);
  return select.orderBy("drivers.id", "asc").limit(query.limit).execute();
}

/**
 * Soft-removes a driver of the transporter unless on a trip; an online driver goes offline
 * in the same statement (and counts an event). Returns the row and what it drove before.
 */
export async function removeDriver(
  trx: FleetTrx,
  target: { transporterId: string; id: string },
): Promise<{ driver: DriverRow; previousStatus: DriverStatus; previousVehicleId: string | null } | undefined> {
  const now = new Date();
  const row = await trx
    .with("prev", (qb) =>
      qb
        .selectFrom("drivers")
        .select(["id", "status", "vehicle_id"])
        .where("id", "=", target.id)
        .where("transporter_id", "=", target.transporterId)
        .where("removed_at", "is", null)
        .where("status", "!=", "on_trip")
        .forUpdate(),
    )
    .updateTable("drivers")
    .from("prev")
    .set((eb) => ({
      removed_at: now,
      updated_at: now,
      status: "offline" as const,
      vehicle_id: null,
      event_seq: eb
        .case()
        .when("prev.status", "=", "online")
        .then(sql<string>`drivers.event_seq + 1`)
        .else(eb.ref("drivers.event_seq"))
        .end(),
    }))
    .whereRef("drivers.id", "=", "prev.id")
    .returningAll("drivers")
    .returning(["prev.status as previous_status", "prev.vehicle_id as previous_vehicle_id"])
    .executeTakeFirst();
  if (!row) return undefined;
  const { previous_status, previous_vehicle_id, ...driver } = row;
  return { driver, previousStatus: previous_status, previousVehicleId: previous_vehicle_id };
}

// ---------------------------------------------------------------------------------------------
// Availability

/**
 * Takes a driver online with a vehicle, in one statement: the vehicle must be the
 * transporter's, not deleted and AVAILABLE (held FOR SHARE, so it cannot leave that status
 * until this commits), and the driver offline or online with another vehicle. A vehicle
 * driven by someone else fails on the unique index drivers_vehicle_id_key. Counts an event.
 */
export async function claimVehicle(
  trx: FleetTrx,
  claim: { driverId: string; transporterId: string; vehicleId: string },
): Promise<{ driver: DriverRow; vehicleType: string } | undefined> {
  const row = await trx
    .with("v", (qb) =>
      qb
        .selectFrom("vehicles")
        .select(["id", "vehicle_type"])
        .where("id", "=", claim.vehicleId)
        .where("transporter_id", "=", claim.transporterId)
        .where("deleted_at", "is", null)
        .where("status", "=", "available")
        .forShare(),
    )
    .updateTable("drivers")
    .from("v")
    .set((eb) => ({
      status: "online" as const,
      vehicle_id: eb.ref("v.id"),
      event_seq: sql<string>`drivers.event_seq + 1`,
      updated_at: new Date(),
    }))
    .where("drivers.id", "=", claim.driverId)
    .where("drivers.transporter_id", "=", claim.transporterId)
    .where("drivers.removed_at", "is", null)
    .where("drivers.status", "in", ["offline", "online"])
    .where((eb) => eb.or([eb("drivers.vehicle_id", "is", null), eb("drivers.vehicle_id", "!=", claim.vehicleId)]))
    .returningAll("drivers")
    .returning("v.vehicle_type as vehicle_type")
    .executeTakeFirst();
  if (!row) return undefined;
  const { vehicle_type, ...driver } = row;
  return { driver, vehicleType: vehicle_type };
}

/** Takes an online driver offline; returns the row and the vehicle released. Counts an event. */
export async function releaseVehicle(
  trx: FleetTrx,
  target: { driverId: string; transporterId: string },
): Promise<{ driver: DriverRow; vehicleId: string } | undefined> {
  const row = await trx
    .with("prev", (qb) =>
      qb
        .selectFrom("drivers")
        .select(["id", "vehicle_id"])
        .where("id", "=", target.driverId)
        .where("transporter_id", "=", target.transporterId)
        .where("removed_at", "is", null)
        .where("status", "=", "online")
        .forUpdate(),
    )
    .updateTable("drivers")
    .from("prev")
    .set({ status: "offline", vehicle_id: null, event_seq: sql<string>`drivers.event_seq + 1`, updated_at: new Date() })
    .whereRef("drivers.id", "=", "prev.id")
    .returningAll("drivers")
    .returning("prev.vehicle_id as released_vehicle_id")
    .executeTakeFirst();
  if (!row) return undefined;
  const { released_vehicle_id, ...driver } = row;
  return { driver, vehicleId: released_vehicle_id! };
}

/** Takes every online driver of a vehicle offline (the vehicle left the road). Counts their events. */
export function releaseDriversOfVehicle(trx: FleetTrx, vehicleId: string): Promise<DriverRow[]> {
  return trx
    .updateTable("drivers")
    .set({ status: "offline", vehicle_id: null, event_seq: sql<string>`event_seq + 1`, updated_at: new Date() })
    .where("vehicle_id", "=", vehicleId)
    .where("status", "=", "online")
    .returningAll()
    .execute();
}

/** Counts an event for every online driver of a vehicle whose details changed. */
export function touchDriversOfVehicle(trx: FleetTrx, vehicleId: string): Promise<DriverRow[]> {
  return trx
    .updateTable("drivers")
    .set({ event_seq: sql<string>`event_seq + 1`, updated_at: new Date() })
    .where("vehicle_id", "=", vehicleId)
    .where("status", "=", "online")
    .returningAll()
    .execute();
}

/** A vehicle's type, deleted or not (for the event of the driver who released it). */
export async function vehicleTypeOf(db: FleetDb, vehicleId: string): Promise<string> {
  const row = await db.selectFrom("vehicles").select("vehicle_type").where("id", "=", vehicleId).executeTakeFirst();
  return row?.vehicle_type ?? "";
}

// ---------------------------------------------------------------------------------------------
// Driver accounts

/** Records which identity account logs in with a phone; an account stands for one phone. */
export async function linkDriverAccount(trx: FleetTrx, link: { phone: string; userId: string }): Promise<void> {
  await trx.deleteFrom("driver_accounts").where("user_id", "=", link.userId).where("phone", "!=", link.phone).execute();
  await trx
    .insertInto("driver_accounts")
    .values({ phone: link.phone, user_id: link.userId })
    .onConflict((oc) => oc.column("phone").doUpdateSet({ user_id: link.userId, linked_at: new Date() }))
    .execute();
}

/** The active driver an identity account stands for, within the transporter of its token. */
export function findDriverByAccount(
  db: FleetDb,
  userId: string,
  transporterId: string,
): Promise<DriverRow | undefined> {
  return db
    .selectFrom("drivers")
    .innerJoin("driver_accounts", "driver_accounts.phone", "drivers.phone")
    .selectAll("drivers")
    .where("driver_accounts.user_id", "=", userId)
    .where("drivers.transporter_id", "=", transporterId)
    .where("drivers.removed_at", "is", null)
    .executeTakeFirst();
}

/** The identity account that logs in with this driver phone, if it ever did. */
export async function accountOfPhone(db: FleetDb, phone: string): Promise<string | undefined> {
  const row = await db.selectFrom("driver_accounts").select("user_id").where("phone", "=", phone).executeTakeFirst();
  return row?.user_id;
}

export async function hasDriverAccount(db: FleetDb, userId: string): Promise<boolean> {
  const row = await db.selectFrom("driver_accounts").select("phone").where("user_id", "=", userId).executeTakeFirst();
  return row !== undefined;
}
