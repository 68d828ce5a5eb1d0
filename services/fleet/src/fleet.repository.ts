/**
 * kysely queries of the fleet schema: plain functions taking the db (or a transaction).
 * Every state change is one conditional statement (`where transporter_id = :me and status
 * in (…) … returning`); where a change needs the row's previous values (the vehicle a driver
 * releases), the statement locks and reads them in a CTE of the same UPDATE.
 *
 * This file holds the vehicles' queries; drivers.repository.ts the drivers', their
 * availability and accounts; transporters.repository.ts the profiles and dispatch's
 * questions. Use cases import them all from here.
 */
import type { Kysely, Transaction } from "kysely";
import type { FleetDatabase, VehicleRow, VehicleStatus, VehicleView } from "./fleet.table.js";

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

export * from "./drivers.repository.js";
export * from "./transporters.repository.js";
