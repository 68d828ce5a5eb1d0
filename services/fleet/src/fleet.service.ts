/**
 * Fleet's use cases: a transporter's vehicles, drivers and profile; a driver's availability;
 * the driver directory identity asks at login. It orchestrates rules, the repository and the
 * outbox; the gRPC handlers only translate to and from protobuf.
 *
 * Ownership: a vehicle or driver of another transporter is NOT_FOUND, exactly as one that
 * does not exist, so nobody learns what other fleets hold.
 */
import { v7 as uuidv7 } from "uuid";
import type { Principal } from "@weelo/auth";
import { isUniqueViolation } from "@weelo/db";
import {
  AlreadyExistsError,
  FailedPreconditionError,
  InvalidArgumentError,
  NotFoundError,
  PermissionDeniedError,
} from "@weelo/errors";
import type { Logger } from "@weelo/log";
import { recordAvailabilityChange, recordDriverRemoved } from "./fleet.events.js";
import * as repo from "./fleet.repository.js";
import {
  decodePageToken,
  DEFAULT_SERVICE_RADIUS_KM,
  driverRemovalRefusal,
  MAX_SERVICE_RADIUS_KM,
  pageOf,
  maskPhone,
  normalizeIndianPhone,
  normalizeLicenceNumber,
  normalizeRegistrationNumber,
  pageSize,
  planAvailability,
  takesVehicleOffTheRoad,
  TRANSPORTER_CHANGEABLE_STATUSES,
  validateBaseLocation,
  validateDriverName,
  validateId,
  validateIdempotencyKey,
  validateMakeModel,
  validateStatusTarget,
  validateVehicleTypeId,
  vehicleChangeRefusal,
  vehicleDrivableRefusal,
} from "./fleet.rules.js";
import {
  VEHICLE_STATUSES,
  type DriverRow,
  type DriverStatus,
  type VehicleStatus,
  type VehicleView,
} from "./fleet.table.js";
import type { VehicleTypeCatalog } from "./vehicle-types.js";

export interface FleetDeps {
  db: repo.FleetDb;
  /** Which vehicle type ids exist (the pricing catalog). */
  catalog: VehicleTypeCatalog;
  events: {
    /** First token of event subjects ("fleet" outside tests). */
    subjectRoot: string;
    /** Called after a transaction that wrote events commits: the outbox relay publishes them. */
    committed(): void;
  };
  logger: Logger;
}

export interface NewVehicle {
  idempotencyKey: string;
  registrationNumber: string;
  vehicleType: string;
  capacityKg: number;
  makeModel: string;
}

export interface VehicleChanges {
  vehicleType?: string | undefined;
  capacityKg?: number | undefined;
  makeModel?: string | undefined;
  status?: VehicleStatus | undefined;
}

export interface NewDriver {
  idempotencyKey: string;
  name: string;
  phone: string;
  licenceNumber: string;
}

export interface Page<T> {
  items: T[];
  nextPageToken: string;
}

/** A driver with the vehicle they are online with. */
export interface Availability {
  driver: DriverRow;
  vehicle: VehicleView | undefined;
}

export interface TransporterProfile {
  transporterId: string;
  base: { lat: number; lng: number } | undefined;
  serviceRadiusKm: number;
  updatedAt: Date | undefined;
}

export interface DirectoryEntry {
  found: boolean;
  driverId: string;
  transporterId: string;
}

export type FleetService = ReturnType<typeof createFleetService>;

const vehicleNotFound = () =>
  new NotFoundError("vehicle not found", { reason: "VEHICLE_NOT_FOUND", field: "vehicle_id" });
const driverNotFound = () => new NotFoundError("driver not found", { reason: "DRIVER_NOT_FOUND", field: "driver_id" });
/** The row changed between the conditional write and the look that explains its failure. */
const changedMeanwhile = (what: string) =>
  new FailedPreconditionError(`the ${what} changed while this request was being handled; try again`, {
    reason: "CONCURRENT_CHANGE",
  });

/** The transporter whose fleet a transporter or driver works with. */
function fleetOwnerOf(principal: Principal): string {
  if (principal.role === "transporter") return principal.userId;
  if (principal.role === "driver") {
    if (!principal.transporterId) {
      throw new PermissionDeniedError("your driver account is not linked to a transporter; log out and log in again", {
        reason: "DRIVER_NOT_REGISTERED",
      });
    }
    return principal.transporterId;
  }
  throw new PermissionDeniedError("this call is for transporter or driver accounts", { reason: "ROLE_NOT_ALLOWED" });
}

/** The transporter itself; only transporters change their fleet. */
function transporterOf(principal: Principal): string {
  if (principal.role !== "transporter") {
    throw new PermissionDeniedError("this call is for transporter accounts", { reason: "ROLE_NOT_ALLOWED" });
  }
  return principal.userId;
}

export function createFleetService(deps: FleetDeps) {
  const { db, catalog, events, logger } = deps;
  const root = deps.events.subjectRoot;

  async function requireKnownType(typeId: string): Promise<string> {
    const id = validateVehicleTypeId(typeId);
    if (!(await catalog.has(id))) {
      throw new InvalidArgumentError(
        "vehicle_type",
        `vehicle_type "${id}" is not in the vehicle catalog; use an id that ListVehicleTypes returns, e.g. mini_truck`,
        {
          reason: "VEHICLE_TYPE_UNKNOWN",
        },
      );
    }
    return id;
  }

  /** The vehicle an idempotency key already added, when this call is a retry of that one. */
  async function vehicleReplay(
    transporterId: string,
    key: string,
    registrationNumber: string,
  ): Promise<VehicleView | undefined> {
    const earlier = await repo.findVehicleByIdempotencyKey(db, transporterId, key);
    if (!earlier) return undefined;
    if (earlier.registration_number !== registrationNumber || earlier.deleted_at) {
      throw new InvalidArgumentError(
        "idempotency_key",
        `idempotency_key was already used to add vehicle ${earlier.registration_number}; use a new key for another vehicle`,
        {
          reason: "IDEMPOTENCY_KEY_REUSED",
        },
      );
    }
    return earlier;
  }

  async function registrationTaken(transporterId: string, registrationNumber: string): Promise<AlreadyExistsError> {
    const holder = await repo.findVehicleOwnerByRegistration(db, registrationNumber);
    if (holder?.transporter_id === transporterId) {
      return new AlreadyExistsError(`vehicle ${registrationNumber} is already in your fleet`, {
        reason: "VEHICLE_ALREADY_ADDED",
        field: "registration_number",
      });
    }
    return new AlreadyExistsError(
      `vehicle ${registrationNumber} is registered by another transporter; a vehicle can be in one fleet only (if it is yours, they must delete it first, or contact support)`,
      { reason: "REGISTRATION_NUMBER_TAKEN", field: "registration_number" },
    );
  }

  async function driverReplay(transporterId: string, key: string, phone: string): Promise<DriverRow | undefined> {
    const earlier = await repo.findDriverByIdempotencyKey(db, transporterId, key);
    if (!earlier) return undefined;
    if (earlier.phone !== phone || earlier.removed_at) {
      throw new InvalidArgumentError(
        "idempotency_key",
        "idempotency_key was already used to add another driver; use a new key",
        {
          reason: "IDEMPOTENCY_KEY_REUSED",
        },
      );
    }
    return earlier;
  }

  async function phoneTaken(transporterId: string, phone: string): Promise<AlreadyExistsError> {
    const holder = await repo.findActiveDriverByPhone(db, phone);
    if (holder?.transporter_id === transporterId) {
      return new AlreadyExistsError(`${phone} is already one of your drivers`, {
        reason: "DRIVER_ALREADY_ADDED",
        field: "phone",
      });
    }
    return new AlreadyExistsError(
      `${phone} is registered as a driver with another transporter; a driver works for one transporter at a time, so that transporter must remove them first`,
      { reason: "DRIVER_PHONE_TAKEN", field: "phone" },
    );
  }

  /** The active driver an authenticated driver stands for. */
  async function callingDriver(principal: Principal): Promise<DriverRow> {
    if (principal.role !== "driver")
      throw new PermissionDeniedError("this call is for driver accounts", { reason: "ROLE_NOT_ALLOWED" });
    const transporterId = fleetOwnerOf(principal);
    const driver = await repo.findDriverByAccount(db, principal.userId, transporterId);
    if (driver) return driver;
    if (await repo.hasDriverAccount(db, principal.userId)) {
      throw new PermissionDeniedError("you are no longer registered as a driver with this transporter; log in again", {
        reason: "DRIVER_NOT_REGISTERED",
      });
    }
    throw new FailedPreconditionError(
      "this driver account is not linked to a registered driver yet; log out and log in again",
      {
        reason: "DRIVER_ACCOUNT_NOT_LINKED",
      },
    );
  }

  /**
   * The fleet a caller may read: a transporter's own, or the transporter's of a driver still
   * registered with them. A removed driver reads nothing, even with an access token that has
   * not expired yet (their sessions are revoked on removal; this holds if that notice is late).
   */
  async function readableFleetOf(principal: Principal): Promise<string> {
    if (principal.role !== "driver") return fleetOwnerOf(principal);
    return (await callingDriver(principal)).transporter_id;
  }

  async function getVehicle(principal: Principal, vehicleId: string): Promise<VehicleView> {
    const vehicle = await repo.findVehicle(db, await readableFleetOf(principal), validateId(vehicleId, "vehicle_id"));
    if (!vehicle) throw vehicleNotFound();
    return vehicle;
  }

  async function findActiveDriverByPhone(phone: string): Promise<DirectoryEntry> {
    const driver = await repo.findActiveDriverByPhone(db, normalizeIndianPhone(phone));
    return driver
      ? { found: true, driverId: driver.id, transporterId: driver.transporter_id }
      : { found: false, driverId: "", transporterId: "" };
  }

  async function availabilityOf(driver: DriverRow): Promise<Availability> {
    const vehicle = driver.vehicle_id
      ? await repo.findVehicle(db, driver.transporter_id, driver.vehicle_id)
      : undefined;
    return { driver, vehicle };
  }

  /** Why a claim matched no row: the driver's or the vehicle's state (or an identical claim won). */
  async function explainFailedClaim(driver: DriverRow, vehicleId: string): Promise<Availability> {
    const current = await repo.findDriver(db, driver.transporter_id, driver.id);
    if (!current) {
      throw new PermissionDeniedError("you are no longer registered as a driver with this transporter; log in again", {
        reason: "DRIVER_NOT_REGISTERED",
      });
    }
    if (
      planAvailability({ status: current.status, vehicleId: current.vehicle_id }, { online: true, vehicleId }).kind ===
      "unchanged"
    ) {
      return availabilityOf(current);
    }
    const vehicle = await repo.findVehicle(db, driver.transporter_id, vehicleId);
    if (!vehicle)
      throw new NotFoundError("vehicle not found among your transporter's vehicles", {
        reason: "VEHICLE_NOT_FOUND",
        field: "vehicle_id",
      });
    throw vehicleDrivableRefusal(vehicle.registration_number, vehicle.status) ?? changedMeanwhile("vehicle");
  }

  return {
    // ----------------------------------------------------------------------------- vehicles

    /** Adds a vehicle to the caller's fleet; a retry with the same idempotency key returns the first one. */
    async addVehicle(principal: Principal, input: NewVehicle): Promise<VehicleView> {
      const transporterId = transporterOf(principal);
      const registrationNumber = normalizeRegistrationNumber(input.registrationNumber);
      const capacityKg = input.capacityKg; // 100 to 60000: the contract's rule, checked before the handler
      const makeModel = validateMakeModel(input.makeModel);
      const idempotencyKey = validateIdempotencyKey(input.idempotencyKey);
      validateVehicleTypeId(input.vehicleType);
      if (idempotencyKey) {
        const replay = await vehicleReplay(transporterId, idempotencyKey, registrationNumber);
        if (replay) return replay;
      }
      const vehicleType = await requireKnownType(input.vehicleType);
      try {
        const vehicle = await repo.insertVehicle(db, {
          id: uuidv7(),
          transporterId,
          registrationNumber,
          vehicleType,
          capacityKg,
          makeModel,
          idempotencyKey,
        });
        logger.info({ vehicleId: vehicle.id, transporterId, vehicleType }, "vehicle added");
        return vehicle;
      } catch (error) {
        // A concurrent retry may trip either index first (its key, or the same registration).
        if (idempotencyKey && isUniqueViolation(error)) {
          const replay = await vehicleReplay(transporterId, idempotencyKey, registrationNumber);
          if (replay) return replay;
        }
        if (isUniqueViolation(error, repo.Constraint.registrationNumber))
          throw await registrationTaken(transporterId, registrationNumber);
        throw error;
      }
    },

    /** One page of the fleet's vehicles, newest first (drivers see their transporter's fleet). */
    async listVehicles(
      principal: Principal,
      query: {
        pageSize: number;
        pageToken: string;
        status?: VehicleStatus | undefined;
        vehicleType?: string | undefined;
      },
    ): Promise<Page<VehicleView>> {
      const transporterId = await readableFleetOf(principal);
      const limit = pageSize(query.pageSize);
      const afterId = decodePageToken(query.pageToken);
      const vehicleType = query.vehicleType ? validateVehicleTypeId(query.vehicleType) : undefined;
      const rows = await repo.listVehicles(db, {
        transporterId,
        status: query.status,
        vehicleType,
        afterId,
        limit: limit + 1,
      });
      return pageOf(rows, limit);
    },

    getVehicle,

    /**
     * Changes the fields given. A vehicle on a trip keeps its status; taking a vehicle off the
     * road (MAINTENANCE, INACTIVE) takes its online driver offline; a new vehicle type of a
     * vehicle in use is announced to dispatch with the driver's availability.
     */
    async updateVehicle(principal: Principal, vehicleId: string, changes: VehicleChanges): Promise<VehicleView> {
      const transporterId = transporterOf(principal);
      const id = validateId(vehicleId, "vehicle_id");
      const set: { vehicle_type?: string; capacity_kg?: number; make_model?: string; status?: VehicleStatus } = {};
      if (changes.capacityKg !== undefined) set.capacity_kg = changes.capacityKg; // the contract's rule
      if (changes.makeModel !== undefined) set.make_model = validateMakeModel(changes.makeModel);
      if (changes.status !== undefined) set.status = validateStatusTarget(changes.status);
      if (changes.vehicleType !== undefined) set.vehicle_type = await requireKnownType(changes.vehicleType);
      if (Object.keys(set).length === 0) return getVehicle(principal, id);

      let announced = 0;
      const updated = await db.transaction().execute(async (trx) => {
        const result = await repo.updateVehicle(trx, {
          transporterId,
          id,
          fromStatuses: set.status ? TRANSPORTER_CHANGEABLE_STATUSES : VEHICLE_STATUSES,
          changes: set,
        });
        if (!result) return undefined;
        const { vehicle, previousType } = result;
        if (set.status && takesVehicleOffTheRoad(set.status)) {
          for (const driver of await repo.releaseDriversOfVehicle(trx, vehicle.id)) {
            await recordAvailabilityChange(trx, root, driver, {
              vehicleId: vehicle.id,
              vehicleType: previousType,
              online: false,
              reason: "vehicle_unavailable",
            });
            announced++;
          }
        } else if (vehicle.vehicle_type !== previousType) {
          for (const driver of await repo.touchDriversOfVehicle(trx, vehicle.id)) {
            await recordAvailabilityChange(trx, root, driver, {
              vehicleId: vehicle.id,
              vehicleType: vehicle.vehicle_type,
              online: true,
              reason: "vehicle_updated",
            });
            announced++;
          }
        }
        return repo.findVehicle(trx, transporterId, id);
      });
      if (announced > 0) events.committed();
      if (updated) {
        logger.info({ vehicleId: id, changed: Object.keys(set), driversAnnounced: announced }, "vehicle updated");
        return updated;
      }
      const current = await repo.findVehicle(db, transporterId, id);
      if (!current) throw vehicleNotFound();
      throw (
        vehicleChangeRefusal(current.registration_number, current.status, { to: set.status ?? current.status }) ??
        changedMeanwhile("vehicle")
      );
    },

    /** Removes a vehicle from the fleet (not while on a trip); its online driver goes offline. */
    async deleteVehicle(principal: Principal, vehicleId: string): Promise<void> {
      const transporterId = transporterOf(principal);
      const id = validateId(vehicleId, "vehicle_id");
      let announced = 0;
      const deleted = await db.transaction().execute(async (trx) => {
        const vehicle = await repo.deleteVehicle(trx, {
          transporterId,
          id,
          fromStatuses: TRANSPORTER_CHANGEABLE_STATUSES,
        });
        if (!vehicle) return undefined;
        for (const driver of await repo.releaseDriversOfVehicle(trx, vehicle.id)) {
          await recordAvailabilityChange(trx, root, driver, {
            vehicleId: vehicle.id,
            vehicleType: vehicle.vehicle_type,
            online: false,
            reason: "vehicle_unavailable",
          });
          announced++;
        }
        return vehicle;
      });
      if (announced > 0) events.committed();
      if (deleted) {
        logger.info({ vehicleId: id, transporterId, driversReleased: announced }, "vehicle deleted");
        return;
      }
      const current = await repo.findVehicle(db, transporterId, id);
      if (!current) throw vehicleNotFound();
      throw vehicleChangeRefusal(current.registration_number, current.status, "delete") ?? changedMeanwhile("vehicle");
    },

    // ------------------------------------------------------------------------------ drivers

    /** Registers a driver; the phone must not be an active driver of any transporter. */
    async addDriver(principal: Principal, input: NewDriver): Promise<DriverRow> {
      const transporterId = transporterOf(principal);
      const name = validateDriverName(input.name);
      const phone = normalizeIndianPhone(input.phone);
      const licenceNumber = normalizeLicenceNumber(input.licenceNumber);
      const idempotencyKey = validateIdempotencyKey(input.idempotencyKey);
      if (idempotencyKey) {
        const replay = await driverReplay(transporterId, idempotencyKey, phone);
        if (replay) return replay;
      }
      try {
        const driver = await repo.insertDriver(db, {
          id: uuidv7(),
          transporterId,
          name,
          phone,
          licenceNumber,
          idempotencyKey,
        });
        logger.info({ driverId: driver.id, transporterId, phone: maskPhone(phone) }, "driver added");
        return driver;
      } catch (error) {
        // A concurrent retry may trip either index first (its key, or the same phone).
        if (idempotencyKey && isUniqueViolation(error)) {
          const replay = await driverReplay(transporterId, idempotencyKey, phone);
          if (replay) return replay;
        }
        if (isUniqueViolation(error, repo.Constraint.activeDriverPhone)) throw await phoneTaken(transporterId, phone);
        throw error;
      }
    },

    async listDrivers(
      principal: Principal,
      query: { pageSize: number; pageToken: string; status?: DriverStatus | undefined },
    ): Promise<Page<DriverRow>> {
      const transporterId = transporterOf(principal);
      const limit = pageSize(query.pageSize);
      const afterId = decodePageToken(query.pageToken);
      return pageOf(
        await repo.listDrivers(db, { transporterId, status: query.status, afterId, limit: limit + 1 }),
        limit,
      );
    },

    async getDriver(principal: Principal, driverId: string): Promise<DriverRow> {
      const driver = await repo.findDriver(db, transporterOf(principal), validateId(driverId, "driver_id"));
      if (!driver) throw driverNotFound();
      return driver;
    },

    /** Removes a driver (they can no longer log in), not while on a trip; an online driver goes offline. */
    async removeDriver(principal: Principal, driverId: string): Promise<void> {
      const transporterId = transporterOf(principal);
      const id = validateId(driverId, "driver_id");
      let announced = false;
      const removed = await db.transaction().execute(async (trx) => {
        const result = await repo.removeDriver(trx, { transporterId, id });
        if (!result) return undefined;
        if (result.previousStatus === "online" && result.previousVehicleId) {
          const vehicleType = await repo.vehicleTypeOf(trx, result.previousVehicleId);
          await recordAvailabilityChange(trx, root, result.driver, {
            vehicleId: result.previousVehicleId,
            vehicleType,
            online: false,
            reason: "driver_removed",
          });
          announced = true;
        }
        // Identity revokes the driver's sessions on it: the app loses its tokens, streams and sockets at once.
        await recordDriverRemoved(trx, root, result.driver, await repo.accountOfPhone(trx, result.driver.phone));
        return result.driver;
      });
      if (removed) {
        events.committed();
        logger.info({ driverId: id, transporterId, wasOnline: announced }, "driver removed");
        return;
      }
      const current = await repo.findDriver(db, transporterId, id);
      if (!current) throw driverNotFound();
      throw driverRemovalRefusal(current.name, current.status) ?? changedMeanwhile("driver");
    },

    // ------------------------------------------------------------------------- availability

    /**
     * Takes the calling driver online with a vehicle (claimed atomically: one online driver
     * per vehicle) or offline. Asking for the current state again changes nothing.
     */
    async setAvailability(
      principal: Principal,
      request: { online: boolean; vehicleId: string },
    ): Promise<Availability> {
      const driver = await callingDriver(principal);
      const vehicleId =
        request.online && request.vehicleId.trim() !== "" ? validateId(request.vehicleId, "vehicle_id") : null;
      const plan = planAvailability(
        { status: driver.status, vehicleId: driver.vehicle_id },
        { online: request.online, vehicleId },
      );
      if (plan.kind === "unchanged") return availabilityOf(driver);

      if (plan.kind === "claim") {
        let claimed: DriverRow | undefined;
        try {
          claimed = await db.transaction().execute(async (trx) => {
            const result = await repo.claimVehicle(trx, {
              driverId: driver.id,
              transporterId: driver.transporter_id,
              vehicleId: plan.vehicleId,
            });
            if (!result) return undefined;
            await recordAvailabilityChange(trx, root, result.driver, {
              vehicleId: plan.vehicleId,
              vehicleType: result.vehicleType,
              online: true,
              reason: "driver",
            });
            return result.driver;
          });
        } catch (error) {
          if (isUniqueViolation(error, repo.Constraint.driverVehicle)) {
            throw new AlreadyExistsError("vehicle is already in use by another driver", {
              reason: "VEHICLE_IN_USE",
              field: "vehicle_id",
            });
          }
          throw error;
        }
        if (!claimed) return explainFailedClaim(driver, plan.vehicleId);
        events.committed();
        logger.info({ driverId: driver.id, vehicleId: plan.vehicleId }, "driver online");
        return availabilityOf(claimed);
      }

      const released = await db.transaction().execute(async (trx) => {
        const result = await repo.releaseVehicle(trx, { driverId: driver.id, transporterId: driver.transporter_id });
        if (!result) return undefined;
        const vehicleType = await repo.vehicleTypeOf(trx, result.vehicleId);
        await recordAvailabilityChange(trx, root, result.driver, {
          vehicleId: result.vehicleId,
          vehicleType,
          online: false,
          reason: "driver",
        });
        return result.driver;
      });
      if (released) {
        events.committed();
        logger.info({ driverId: driver.id }, "driver offline");
        return { driver: released, vehicle: undefined };
      }
      // Nothing to release: already offline (a retry, or the vehicle left the road), or now on a trip.
      const current = await callingDriver(principal);
      if (
        planAvailability({ status: current.status, vehicleId: current.vehicle_id }, { online: false, vehicleId: null })
          .kind === "unchanged"
      ) {
        return availabilityOf(current);
      }
      throw changedMeanwhile("driver");
    },

    async getAvailability(principal: Principal): Promise<Availability> {
      return availabilityOf(await callingDriver(principal));
    },

    // ---------------------------------------------------------------- transporter profiles

    async getTransporterProfile(principal: Principal): Promise<TransporterProfile> {
      const transporterId = transporterOf(principal);
      const row = await repo.findTransporter(db, transporterId);
      if (!row)
        return { transporterId, base: undefined, serviceRadiusKm: DEFAULT_SERVICE_RADIUS_KM, updatedAt: undefined };
      return toProfile(row);
    },

    async updateTransporterProfile(
      principal: Principal,
      changes: { base?: { lat: number; lng: number } | undefined; serviceRadiusKm?: number | undefined },
    ): Promise<TransporterProfile> {
      const transporterId = transporterOf(principal);
      const base = changes.base ? validateBaseLocation(changes.base) : undefined;
      const serviceRadiusKm = changes.serviceRadiusKm; // 1 to 500: the contract's rule, checked before the handler
      const row = await repo.upsertTransporter(db, {
        id: transporterId,
        base,
        serviceRadiusKm,
        defaultRadiusKm: DEFAULT_SERVICE_RADIUS_KM,
      });
      return toProfile(row);
    },

    // --------------------------------------------------------------------- driver directory

    /** Whether a transporter registered this phone as an active driver (identity's login rule). */
    findActiveDriverByPhone,

    /** Records which identity account logs in with a driver phone; answers like findActiveDriverByPhone. */
    async linkDriverAccount(phone: string, userId: string): Promise<DirectoryEntry> {
      const e164 = normalizeIndianPhone(phone);
      const user = validateId(userId, "user_id");
      await db.transaction().execute((trx) => repo.linkDriverAccount(trx, { phone: e164, userId: user }));
      return findActiveDriverByPhone(e164);
    },

    // ------------------------------------------------------------------ dispatch's questions

    /** Transporters whose service area covers a point, with an AVAILABLE vehicle of the type (nearest base first). */
    async findServingTransporters(query: {
      point: { lat: number; lng: number } | undefined;
      vehicleType: string;
      maxDistanceM: number;
      limit: number;
    }) {
      if (!query.point) throw new InvalidArgumentError("point", "point is required");
      const point = validateBaseLocation(query.point, "point");
      if (!/^[a-z0-9_]{1,50}$/.test(query.vehicleType))
        throw new InvalidArgumentError("vehicle_type", "vehicle_type is required (a vehicle type id)");
      if (!(Number.isFinite(query.maxDistanceM) && query.maxDistanceM >= 0))
        throw new InvalidArgumentError("max_distance_m", "max_distance_m must not be negative");
      const limit = query.limit === 0 ? 100 : query.limit;
      if (!(Number.isInteger(limit) && limit >= 1 && limit <= 500))
        throw new InvalidArgumentError("limit", "limit must be between 1 and 500");
      return repo.findServingTransporters(db, {
        ...point,
        vehicleType: query.vehicleType,
        maxDistanceM: query.maxDistanceM,
        maxServiceRadiusKm: MAX_SERVICE_RADIUS_KM,
        limit,
      });
    },

    /** What fleet knows of a transporter's driver and vehicle, for dispatch's assignment checks. */
    async getDriverAndVehicle(transporterIdText: string, driverIdText: string, vehicleIdText: string) {
      const transporterId = validateId(transporterIdText, "transporter_id");
      const [driver, vehicle] = await Promise.all([
        repo.findDriverWithAccount(db, transporterId, validateId(driverIdText, "driver_id")),
        repo.findVehicle(db, transporterId, validateId(vehicleIdText, "vehicle_id")),
      ]);
      return { driver, vehicle };
    },
  };
}

function toProfile(row: {
  id: string;
  base_lat: number | null;
  base_lng: number | null;
  service_radius_km: number;
  updated_at: Date;
}): TransporterProfile {
  return {
    transporterId: row.id,
    base: row.base_lat !== null && row.base_lng !== null ? { lat: row.base_lat, lng: row.base_lng } : undefined,
    serviceRadiusKm: row.service_radius_km,
    updatedAt: row.updated_at,
  };
}
