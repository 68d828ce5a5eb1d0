/**
 * FleetDirectoryService, asked over the mesh: identity's driver-login rule (is this phone an
 * active driver, and which account logs in with it) and dispatch's questions (transporters
 * serving a point, a transporter's driver and vehicle before an assignment).
 */
import { InvalidArgumentError } from "@weelo/errors";
import type { FleetContext } from "./fleet.context.js";
import * as repo from "./fleet.repository.js";
import {
  decodePageToken,
  MAX_SERVICE_RADIUS_KM,
  normalizeIndianPhone,
  pageOf,
  validateBaseLocation,
  validateId,
} from "./fleet.rules.js";

export interface DirectoryEntry {
  found: boolean;
  driverId: string;
  transporterId: string;
}

export function createFleetDirectory(ctx: Pick<FleetContext, "db">) {
  const { db } = ctx;

  /** Whether a transporter registered this phone as an active driver (identity's login rule). */
  async function findActiveDriverByPhone(phone: string): Promise<DirectoryEntry> {
    const driver = await repo.findActiveDriverByPhone(db, normalizeIndianPhone(phone));
    return driver
      ? { found: true, driverId: driver.id, transporterId: driver.transporter_id }
      : { found: false, driverId: "", transporterId: "" };
  }

  /** Records which identity account logs in with a driver phone; answers like findActiveDriverByPhone. */
  async function linkDriverAccount(phone: string, userId: string): Promise<DirectoryEntry> {
    const e164 = normalizeIndianPhone(phone);
    const user = validateId(userId, "user_id");
    await db.transaction().execute((trx) => repo.linkDriverAccount(trx, { phone: e164, userId: user }));
    return findActiveDriverByPhone(e164);
  }

  // ------------------------------------------------------------------ dispatch's questions

  /** Transporters whose service area covers a point, with an AVAILABLE vehicle of the type (nearest base first). */
  async function findServingTransporters(query: {
    point: { lat: number; lng: number } | undefined;
    vehicleType: string;
    maxDistanceM: number;
    limit: number;
  }) {
    if (!query.point) throw new InvalidArgumentError("point", "point is required");
    const point = validateBaseLocation(query.point, "point");
    // max_distance_m (finite, not negative) and limit (0 to 500) are the contract's rules.
    const limit = query.limit === 0 ? 100 : query.limit;
    return repo.findServingTransporters(db, {
      ...point,
      vehicleType: query.vehicleType,
      maxDistanceM: query.maxDistanceM,
      maxServiceRadiusKm: MAX_SERVICE_RADIUS_KM,
      limit,
    });
  }

  /** What fleet knows of a transporter's driver and vehicle, for dispatch's assignment checks. */
  async function getDriverAndVehicle(transporterIdText: string, driverIdText: string, vehicleIdText: string) {
    const transporterId = validateId(transporterIdText, "transporter_id");
    const [driver, vehicle] = await Promise.all([
      repo.findDriverWithAccount(db, transporterId, validateId(driverIdText, "driver_id")),
      repo.findVehicle(db, transporterId, validateId(vehicleIdText, "vehicle_id")),
    ]);
    return { driver, vehicle };
  }

  // ------------------------------------------------------------------ tracking's question

  /**
   * One page of the drivers online or on a trip (tracking rebuilding its position store). Page
   * size 1 to 1000 is the contract's rule; 0 means 500.
   */
  async function listOnlineDrivers(requestedPageSize: number, pageToken: string) {
    const limit = requestedPageSize === 0 ? 500 : requestedPageSize;
    const afterId = decodePageToken(pageToken);
    return pageOf(await repo.listOnlineDrivers(db, { afterId, limit: limit + 1 }), limit);
  }

  return {
    findActiveDriverByPhone,
    linkDriverAccount,
    findServingTransporters,
    getDriverAndVehicle,
    listOnlineDrivers,
  };
}
