/**
 * Fleet's word on a driver and vehicle before dispatch claims them (AssignDriver, operations'
 * ReassignDriver): both the transporter's, the vehicle of the booking's type and usable, the
 * driver logged in once and not on a trip. Returns the driver's identity account.
 */
import { DriverStatus, VehicleStatus } from "@weelo/contracts/grpc/weelo/fleet/v1/fleet";
import { FailedPreconditionError, NotFoundError } from "@weelo/errors";
import type { DispatchUpstreams } from "./upstreams.js";

export async function confirmFleetPair(
  fleet: DispatchUpstreams["fleet"],
  pair: { transporterId: string; driverId: string; vehicleId: string; vehicleType: string | undefined },
): Promise<{ driverUserId: string }> {
  const found = await fleet.getDriverAndVehicle({
    transporterId: pair.transporterId,
    driverId: pair.driverId,
    vehicleId: pair.vehicleId,
  });
  if (!found.driverFound)
    throw new NotFoundError("driver not found in your fleet", { reason: "DRIVER_NOT_FOUND", field: "driver_id" });
  if (!found.vehicleFound)
    throw new NotFoundError("vehicle not found in your fleet", { reason: "VEHICLE_NOT_FOUND", field: "vehicle_id" });
  if (pair.vehicleType !== undefined && found.vehicleType !== pair.vehicleType) {
    throw new FailedPreconditionError(
      `the booking needs a ${pair.vehicleType} vehicle; this one is ${found.vehicleType}`,
      { reason: "VEHICLE_TYPE_MISMATCH", field: "vehicle_id" },
    );
  }
  if (
    found.vehicleStatus === VehicleStatus.VEHICLE_STATUS_MAINTENANCE ||
    found.vehicleStatus === VehicleStatus.VEHICLE_STATUS_INACTIVE
  ) {
    throw new FailedPreconditionError("the vehicle is in maintenance or inactive", {
      reason: "VEHICLE_NOT_AVAILABLE",
      field: "vehicle_id",
    });
  }
  if (!found.driverUserId) {
    throw new FailedPreconditionError("the driver has never logged in to the driver app; ask them to log in first", {
      reason: "DRIVER_NOT_LOGGED_IN",
      field: "driver_id",
    });
  }
  if (found.driverStatus === DriverStatus.DRIVER_STATUS_ON_TRIP) {
    throw new FailedPreconditionError("the driver is on another trip", { reason: "DRIVER_BUSY", field: "driver_id" });
  }
  return { driverUserId: found.driverUserId };
}

/** The claim of a driver or vehicle lost on a unique index: on another active assignment. */
export function busyRefusal(onVehicle: boolean): FailedPreconditionError {
  return new FailedPreconditionError(
    onVehicle ? "the vehicle is on another active trip" : "the driver is on another active trip",
    { reason: onVehicle ? "VEHICLE_BUSY" : "DRIVER_BUSY", field: onVehicle ? "vehicle_id" : "driver_id" },
  );
}
