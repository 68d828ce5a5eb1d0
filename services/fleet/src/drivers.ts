/**
 * A transporter's drivers: AddDriver (idempotent; a phone is an active driver of one transporter
 * at a time), ListDrivers, GetDriver, and RemoveDriver (not while on a trip; an online driver
 * goes offline, and identity revokes the driver's sessions on driver.removed).
 */
import type { Principal } from "@weelo/auth";
import { isUniqueViolation } from "@weelo/db";
import { AlreadyExistsError, InvalidArgumentError } from "@weelo/errors";
import { v7 as uuidv7 } from "uuid";
import { changedMeanwhile, driverNotFound, transporterOf, type FleetContext, type Page } from "./fleet.context.js";
import { recordAvailabilityChange, recordDriverRemoved } from "./fleet.events.js";
import * as repo from "./fleet.repository.js";
import {
  decodePageToken,
  driverRemovalRefusal,
  maskPhone,
  normalizeIndianPhone,
  normalizeLicenceNumber,
  pageOf,
  pageSize,
  validateDriverName,
  validateId,
  validateIdempotencyKey,
} from "./fleet.rules.js";
import type { DriverRow, DriverStatus } from "./fleet.table.js";

export interface NewDriver {
  idempotencyKey: string;
  name: string;
  phone: string;
  licenceNumber: string;
}

export function createDrivers(ctx: Pick<FleetContext, "db" | "events" | "logger" | "root">) {
  const { db, events, logger, root } = ctx;

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

  /** Registers a driver; the phone must not be an active driver of any transporter. */
  async function addDriver(principal: Principal, input: NewDriver): Promise<DriverRow> {
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
  }

  async function listDrivers(
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
  }

  async function getDriver(principal: Principal, driverId: string): Promise<DriverRow> {
    const driver = await repo.findDriver(db, transporterOf(principal), validateId(driverId, "driver_id"));
    if (!driver) throw driverNotFound();
    return driver;
  }

  /** Removes a driver (they can no longer log in), not while on a trip; an online driver goes offline. */
  async function removeDriver(principal: Principal, driverId: string): Promise<void> {
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
  }

  return { addDriver, listDrivers, getDriver, removeDriver };
}
