/**
 * The driver-login rule answered by fleet: a driver may log in only with a phone that a
 * transporter registered, and after login fleet learns which account stands for the phone.
 * Identity's adapter over fleet's FleetDirectoryService (the caller owns its adapter): the
 * returned object fits the DriverDirectory seam (findActiveDriver) and adds linkAccount.
 */
import type { CallOptions } from "@weelo/grpc";
import type {
  FindActiveDriverByPhoneRequest,
  FindActiveDriverByPhoneResponse,
  LinkDriverAccountRequest,
  LinkDriverAccountResponse,
} from "@weelo/contracts/grpc/weelo/fleet/v1/fleet_directory_service";

/**
 * What the directory needs: a FleetDirectoryService client over the mesh (identity alone), or
 * the same questions answered by a fleet module in the same process (FleetModule.directory).
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
