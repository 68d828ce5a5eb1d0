/**
 * A transporter's vehicles: AddVehicle (idempotent; a registration number is in one fleet
 * only), ListVehicles and GetVehicle (drivers read their transporter's), UpdateVehicle and
 * DeleteVehicle (a vehicle taken off the road takes its online driver offline, announced to
 * dispatch as an availability change).
 */
import type { Principal } from "@weelo/auth";
import { isUniqueViolation } from "@weelo/db";
import { AlreadyExistsError, InvalidArgumentError } from "@weelo/errors";
import { v7 as uuidv7 } from "uuid";
import { changedMeanwhile, transporterOf, vehicleNotFound, type FleetContext, type Page } from "./fleet.context.js";
import { recordAvailabilityChange } from "./fleet.events.js";
import * as repo from "./fleet.repository.js";
import {
  decodePageToken,
  normalizeRegistrationNumber,
  pageOf,
  pageSize,
  takesVehicleOffTheRoad,
  TRANSPORTER_CHANGEABLE_STATUSES,
  validateId,
  validateIdempotencyKey,
  validateMakeModel,
  validateStatusTarget,
  vehicleChangeRefusal,
} from "./fleet.rules.js";
import { VEHICLE_STATUSES, type VehicleStatus, type VehicleView } from "./fleet.table.js";

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

export function createVehicles(
  ctx: Pick<FleetContext, "db" | "catalog" | "events" | "logger" | "root" | "readableFleetOf">,
) {
  const { db, catalog, events, logger, root, readableFleetOf } = ctx;

  async function requireKnownType(typeId: string): Promise<string> {
    const id = typeId; // a catalog id's shape: the contract's rule (weelo.common.v1.vehicle_type)
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

  async function getVehicle(principal: Principal, vehicleId: string): Promise<VehicleView> {
    const vehicle = await repo.findVehicle(db, await readableFleetOf(principal), validateId(vehicleId, "vehicle_id"));
    if (!vehicle) throw vehicleNotFound();
    return vehicle;
  }

  /** Takes the drivers online with a vehicle leaving the road offline, each announced; returns how many. */
  async function takeDriversOffline(trx: repo.FleetTrx, vehicleId: string, vehicleType: string): Promise<number> {
    const released = await repo.releaseDriversOfVehicle(trx, vehicleId);
    for (const driver of released)
      await recordAvailabilityChange(trx, root, driver, {
        vehicleId,
        vehicleType,
        online: false,
        reason: "vehicle_unavailable",
      });
    return released.length;
  }

  /** Adds a vehicle to the caller's fleet; a retry with the same idempotency key returns the first one. */
  async function addVehicle(principal: Principal, input: NewVehicle): Promise<VehicleView> {
    const transporterId = transporterOf(principal);
    const registrationNumber = normalizeRegistrationNumber(input.registrationNumber);
    const capacityKg = input.capacityKg; // 100 to 60000: the contract's rule, checked before the handler
    const makeModel = validateMakeModel(input.makeModel);
    const idempotencyKey = validateIdempotencyKey(input.idempotencyKey);
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
  }

  /** One page of the fleet's vehicles, newest first (drivers see their transporter's fleet). */
  async function listVehicles(
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
    const vehicleType = query.vehicleType || undefined;
    const rows = await repo.listVehicles(db, {
      transporterId,
      status: query.status,
      vehicleType,
      afterId,
      limit: limit + 1,
    });
    return pageOf(rows, limit);
  }

  /**
   * Changes the fields given. A vehicle on a trip keeps its status; taking a vehicle off the
   * road (MAINTENANCE, INACTIVE) takes its online driver offline; a new vehicle type of a
   * vehicle in use is announced to dispatch with the driver's availability.
   */
  async function updateVehicle(principal: Principal, vehicleId: string, changes: VehicleChanges): Promise<VehicleView> {
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
        announced += await takeDriversOffline(trx, vehicle.id, previousType);
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
  }

  /** Removes a vehicle from the fleet (not while on a trip); its online driver goes offline. */
  async function deleteVehicle(principal: Principal, vehicleId: string): Promise<void> {
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
      announced += await takeDriversOffline(trx, vehicle.id, vehicle.vehicle_type);
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
  }

  return { addVehicle, listVehicles, getVehicle, updateVehicle, deleteVehicle };
}
