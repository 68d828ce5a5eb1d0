/** kysely queries of fleet's transporter profiles and of the questions dispatch asks. */
import { sql } from "kysely";
import type { FleetDb } from "./fleet.repository.js";
import type { DriverRow, TransporterRow } from "./fleet.table.js";

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
