/**
 * What every fleet use case shares: its dependencies, the subject root, who a caller is to the
 * fleet (owner, driver), and the refusals the use cases have in common. fleet.service.ts builds
 * it once and hands it to each use case's file.
 *
 * Ownership: a vehicle or driver of another transporter is NOT_FOUND, exactly as one that
 * does not exist, so nobody learns what other fleets hold.
 */
import type { Principal } from "@weelo/auth";
import { FailedPreconditionError, NotFoundError, PermissionDeniedError } from "@weelo/errors";
import type { Logger } from "@weelo/log";
import * as repo from "./fleet.repository.js";
import type { DriverRow } from "./fleet.table.js";
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

export interface Page<T> {
  items: T[];
  nextPageToken: string;
}

export const vehicleNotFound = () =>
  new NotFoundError("vehicle not found", { reason: "VEHICLE_NOT_FOUND", field: "vehicle_id" });
export const driverNotFound = () =>
  new NotFoundError("driver not found", { reason: "DRIVER_NOT_FOUND", field: "driver_id" });
/** The row changed between the conditional write and the look that explains its failure. */
export const changedMeanwhile = (what: string) =>
  new FailedPreconditionError(`the ${what} changed while this request was being handled; try again`, {
    reason: "CONCURRENT_CHANGE",
  });

/** The transporter whose fleet a transporter or driver works with. */
export function fleetOwnerOf(principal: Principal): string {
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
export function transporterOf(principal: Principal): string {
  if (principal.role !== "transporter") {
    throw new PermissionDeniedError("this call is for transporter accounts", { reason: "ROLE_NOT_ALLOWED" });
  }
  return principal.userId;
}

export function createFleetContext(deps: FleetDeps) {
  const { db } = deps;

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

  return { ...deps, root: deps.events.subjectRoot, callingDriver, readableFleetOf };
}

export type FleetContext = ReturnType<typeof createFleetContext>;
