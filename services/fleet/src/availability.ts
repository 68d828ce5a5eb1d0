/**
 * A driver's availability: SetAvailability takes the calling driver online with a vehicle
 * (claimed atomically: one online driver per vehicle) or offline, each change announced to
 * dispatch (driver.availability_changed); GetAvailability reads it.
 */
import type { Principal } from "@weelo/auth";
import { isUniqueViolation } from "@weelo/db";
import { AlreadyExistsError, NotFoundError, PermissionDeniedError } from "@weelo/errors";
import { changedMeanwhile, type FleetContext } from "./fleet.context.js";
import { recordAvailabilityChange } from "./fleet.events.js";
import * as repo from "./fleet.repository.js";
import { planAvailability, validateId, vehicleDrivableRefusal } from "./fleet.rules.js";
import type { DriverRow, VehicleView } from "./fleet.table.js";

/** A driver with the vehicle they are online with. */
export interface Availability {
  driver: DriverRow;
  vehicle: VehicleView | undefined;
}

export function createAvailability(ctx: Pick<FleetContext, "db" | "events" | "logger" | "root" | "callingDriver">) {
  const { db, events, logger, root, callingDriver } = ctx;

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

  /**
   * Takes the calling driver online with a vehicle (claimed atomically: one online driver
   * per vehicle) or offline. Asking for the current state again changes nothing.
   */
  async function setAvailability(
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
  }

  async function getAvailability(principal: Principal): Promise<Availability> {
    return availabilityOf(await callingDriver(principal));
  }

  return { setAvailability, getAvailability };
}
