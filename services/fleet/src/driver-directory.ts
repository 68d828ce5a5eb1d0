/**
 * The driver-login rule for identity: a driver may log in only with a phone that a transporter
 * registered, and after login fleet learns which account stands for the phone. The returned
 * object fits identity's DriverDirectory seam (findActiveDriver) and adds linkAccount.
 */
import type { CallOptions } from "@weelo/grpc";
import type {
  FindActiveDriverByPhoneRequest,
  FindActiveDriverByPhoneResponse,
  LinkDriverAccountRequest,
  LinkDriverAccountResponse,
} from "@weelo/contracts/grpc/weelo/fleet/v1/fleet_directory_service";

/**
 * What the directory needs: a FleetDirectoryService client from createClient (connected mode),
 * or fleetDirectorySource(fleet) over the service in the same process.
 */
export interface FleetDirectorySource {
  findActiveDriverByPhone(
    request: FindActiveDriverByPhoneRequest,
    options?: CallOptions,
  ): Promise<FindActiveDriverByPhoneResponse>;
  linkDriverAccount(request: LinkDriverAccountRequest, options?: CallOptions): Promise<LinkDriverAccountResponse>;
}

export interface FleetDriverDirectory {
  /** The transporter that registered this phone as an active driver, or undefined. */
  findActiveDriver(phone: string): Promise<{ transporterId: string; driverId: string } | undefined>;
  /** Records that the identity account `userId` logs in with this phone; call it after every driver login. */
  linkAccount(phone: string, userId: string): Promise<void>;
}

export function createFleetDriverDirectory(source: FleetDirectorySource): FleetDriverDirectory {
  return {
    async findActiveDriver(phone) {
      const answer = await source.findActiveDriverByPhone({ phone });
      return answer.found ? { transporterId: answer.transporterId, driverId: answer.driverId } : undefined;
    },
    async linkAccount(phone, userId) {
      await source.linkDriverAccount({ phone, userId });
    },
  };
}

/** The directory's questions answered by a fleet service in this process (the all-in-one mode). */
export function fleetDirectorySource(fleet: {
  findActiveDriverByPhone(phone: string): Promise<FindActiveDriverByPhoneResponse>;
  linkDriverAccount(phone: string, userId: string): Promise<LinkDriverAccountResponse>;
}): FleetDirectorySource {
  return {
    findActiveDriverByPhone: (request) => fleet.findActiveDriverByPhone(request.phone),
    linkDriverAccount: (request) => fleet.linkDriverAccount(request.phone, request.userId),
  };
}
