/**
 * kysely queries of the fleet schema: plain functions taking the db (or a transaction).
 * Every state change is one conditional statement (`where transporter_id = :me and status
 * in (…) … returning`); where a change needs the row's previous values (the vehicle a driver
 * releases), the statement locks and reads them in a CTE of the same UPDATE.
 */
import { sql, type Kysely, type Transaction } from "kysely";
import type {
  DriverRow,
  DriverStatus,
  FleetDatabase,
  TransporterRow,
  VehicleRow,
  VehicleStatus,
  VehicleView,
} from "./fleet.table.js";

export type FleetDb = Kysely<FleetDatabase>;
export type FleetTrx = Transaction<FleetDatabase>;

/** Names of the unique indexes the service turns into ALREADY_EXISTS answers. */
export const Constraint = {
  registrationNumber: "vehicles_registration_number_key",
  activeDriverPhone: "drivers_active_phone_key",
  driverVehicle: "drivers_vehicle_id_key",
} as const;

// ---------------------------------------------------------------------------------------------
// Vehicles

/** Vehicles with the driver driving each one (at most one, by a unique index). */
function vehicleViews(db: FleetDb) {
  return db
    .selectFrom("vehicles")
    .leftJoin("drivers", "drivers.vehicle_id", "vehicles.id")
    .selectAll("vehicles")
    .select("drivers.id as current_driver_id");
}

export async function insertVehicle(
  db: FleetDb,
  vehicle: {
    id: string;
    transporterId: string;
    registrationNumber: string;
    vehicleType: string;
    capacityKg: number;
    makeModel: string;
    idempotencyKey: string | null;
  },
): Promise<VehicleView> {
  const row = await db
    .insertInto("vehicles")
    .values({
      id: vehicle.id,
      transporter_id: vehicle.transporterId,
      registration_number: vehicle.registrationNumber,
      vehicle_type: vehicle.vehicleType,
      capacity_kg: vehicle.capacityKg,
      make_model: vehicle.makeModel,
      idempotency_key: vehicle.idempotencyKey,
    })
    .returningAll()
    .executeTakeFirstOrThrow();
  return { ...row, current_driver_id: null };
}

/** The vehicle a transporter added with an idempotency key, deleted or not. */
export function findVehicleByIdempotencyKey(
  db: FleetDb,
  transporterId: string,
  key: string,
): Promise<VehicleView | undefined> {
  return vehicleViews(db)
    .where("vehicles.transporter_id", "=", transporterId)
    .where("vehicles.idempotency_key", "=", key)
    .executeTakeFirst();
}

/** One of a transporter's vehicles that is not deleted. */
export function findVehicle(db: FleetDb, transporterId: string, id: string): Promise<VehicleView | undefined> {
  return vehicleViews(db)
    .where("vehicles.id", "=", id)
    .where("vehicles.transporter_id", "=", transporterId)
    .where("vehicles.deleted_at", "is", null)
    .executeTakeFirst();
}

/** Who holds a registration number now (for the message of a duplicate). */
export function findVehicleOwnerByRegistration(
  db: FleetDb,
  registrationNumber: string,
): Promise<{ transporter_id: string } | undefined> {
  return db
    .selectFrom("vehicles")
    .select("transporter_id")
    .where("registration_number", "=", registrationNumber)
    .where("deleted_at", "is", null)
    .executeTakeFirst();
}

/** One page of a transporter's vehicles, newest first, after the row `afterId`. */
export function listVehicles(
  db: FleetDb,
  query: {
    transporterId: string;
    status?: VehicleStatus | undefined;
    vehicleType?: string | undefined;
    afterId?: string | undefined;
    limit: number;
  },
): Promise<VehicleView[]> {
  let select = vehicleViews(db)
    .where("vehicles.transporter_id", "=", query.transporterId)
    .where("vehicles.deleted_at", "is", null);
  if (query.status) select = select.where("vehicles.status", "=", query.status);
  if (query.vehicleType) select = select.where("vehicles.vehicle_type", "=", query.vehicleType);
  if (query.afterId) select = select.where("vehicles.id", "<", query.afterId);
  return select.orderBy("vehicles.id", "desc").limit(query.limit).execute();
}

/**
 * Changes a vehicle of the transporter, only while its status is one of `fromStatuses`.
 * Returns the changed row and the vehicle type it had, or undefined when no row matched.
 */
export async function updateVehicle(
  trx: FleetTrx,
  update: {
    transporterId: string;
    id: string;
    fromStatuses: readonly VehicleStatus[];
    changes: { vehicle_type?: string; capacity_kg?: number; make_model?: string; status?: VehicleStatus };
  },
): Promise<{ vehicle: VehicleRow; previousType: string } | undefined> {
  const row = await trx
    .with("prev", (qb) =>
      qb
        .selectFrom("vehicles")
        .select(["id", "vehicle_type"])
        .where("id", "=", update.id)
        .where("transporter_id", "=", update.transporterId)
        .where("deleted_at", "is", null)
        .where("status", "in", update.fromStatuses)
        .forUpdate(),
    )
    .updateTable("vehicles")
    .from("prev")
    .set({ ...update.changes, updated_at: new Date() })
    .whereRef("vehicles.id", "=", "prev.id")
    .where("vehicles.status", "in", update.fromStatuses)
    .returningAll("vehicles")
    .returning("prev.vehicle_type as previous_type")
    .executeTakeFirst();
  if (!row) return undefined;
  const { previous_type, ...vehicle } = row;
  return { vehicle, previousType: previous_type };
}

/** Soft-deletes a vehicle of the transporter, only while its status is one of `fromStatuses`. */
export function deleteVehicle(
  trx: FleetTrx,
  target: { transporterId: string; id: string; fromStatuses: readonly VehicleStatus[] },
): Promise<VehicleRow | undefined> {
  const now = new Date();
  return trx
    .updateTable("vehicles")
    .set({ deleted_at: now, updated_at: now })
    .where("id", "=", target.id)
    .where("transporter_id", "=", target.transporterId)
    .where("deleted_at", "is", null)
    .where("status", "in", target.fromStatuses)
    .returningAll()
    .executeTakeFirst();
}

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

// ---------------------------------------------------------------------------------------------
// Transporter profiles

export function findTransporter(db: FleetDb, id: string): Promise<TransporterRow | undefined> {
  return db.selectFrom("transporters").selectAll().where("id", "=", id).executeTakeFirst();
}

/** Creates or changes a profile; unset fields keep their value (or the default on creation). */
export function upsertTransporter(
  db: FleetDb,
  profile: {
    id: string;
    base?: { lat: number; lng: number } | undefined;
    serviceRadiusKm?: number | undefined;
    defaultRadiusKm: number;
  },
): Promise<TransporterRow> {
  const now = new Date();
  return db
    .insertInto("transporters")
    .values({
      id: profile.id,
      base_lat: profile.base?.lat ?? null,
      base_lng: profile.base?.lng ?? null,
      service_radius_km: profile.serviceRadiusKm ?? profile.defaultRadiusKm,
    })
    .onConflict((oc) =>
      oc.column("id").doUpdateSet({
        ...(profile.base ? { base_lat: profile.base.lat, base_lng: profile.base.lng } : {}),
        ...(profile.serviceRadiusKm !== undefined ? { service_radius_km: profile.serviceRadiusKm } : {}),
        updated_at: now,
      }),
    )
    .returningAll()
    .executeTakeFirstOrThrow();
}

// ---------------------------------------------------------------------------------------------
// Dispatch's questions

/**
 * Transporters whose base is within their own service radius of the point (and within
 * `maxDistanceM` of it when above zero) and who have an AVAILABLE, live vehicle of the type,
 * nearest base first. A bounding box on the base narrows the rows before the great-circle test.
 */
export async function findServingTransporters(
  db: FleetDb,
  query: {
    lat: number;
    lng: number;
    vehicleType: string;
    maxDistanceM: number;
    maxServiceRadiusKm: number;
    limit: number;
  },
): Promise<{ transporter_id: string; distance_m: number; available_vehicles: number }[]> {
  const reachKm =
    query.maxDistanceM > 0 ? Math.min(query.maxDistanceM / 1000, query.maxServiceRadiusKm) : query.maxServiceRadiusKm;
  const dLat = reachKm / 111.32;
  const dLng = reachKm / (111.32 * Math.max(0.01, Math.cos((query.lat * Math.PI) / 180)));
  const distance = sql<number>`(2 * 6371008.8 * asin(sqrt(
      power(sin(radians(t.base_lat - ${query.lat}) / 2), 2) +
      cos(radians(${query.lat})) * cos(radians(t.base_lat)) * power(sin(radians(t.base_lng - ${query.lng}) / 2), 2))))`;
  const rows = await db
    .selectFrom("transporters as t")
    .innerJoin("vehicles as v", "v.transporter_id", "t.id")
    .select(["t.id as transporter_id", distance.as("distance_m"), sql<string>`count(v.id)`.as("available_vehicles")])
    .where("t.base_lat", "is not", null)
    .where("t.base_lat", ">=", query.lat - dLat)
    .where("t.base_lat", "<=", query.lat + dLat)
    .where("t.base_lng", ">=", query.lng - dLng)
    .where("t.base_lng", "<=", query.lng + dLng)
    .where("v.vehicle_type", "=", query.vehicleType)
    .where("v.status", "=", "available")
    .where("v.deleted_at", "is", null)
    .groupBy(["t.id", "t.base_lat", "t.base_lng", "t.service_radius_km"])
    .having(distance, "<=", sql<number>`t.service_radius_km * 1000`)
    .$if(query.maxDistanceM > 0, (q) => q.having(distance, "<=", query.maxDistanceM))
    .orderBy("distance_m")
    .limit(query.limit)
    .execute();
  return rows.map((r) => ({
    transporter_id: r.transporter_id,
    distance_m: Number(r.distance_m),
    available_vehicles: Number(r.available_vehicles),
  }));
}

/** A transporter's live driver with the identity account that logs in with its phone. */
export function findDriverWithAccount(
  db: FleetDb,
  transporterId: string,
  driverId: string,
): Promise<(DriverRow & { user_id: string | null }) | undefined> {
  return db
    .selectFrom("drivers")
    .leftJoin("driver_accounts", "driver_accounts.phone", "drivers.phone")
    .selectAll("drivers")
    .select("driver_accounts.user_id")
    .where("drivers.id", "=", driverId)
    .where("drivers.transporter_id", "=", transporterId)
    .where("drivers.removed_at", "is", null)
    .executeTakeFirst();
}
