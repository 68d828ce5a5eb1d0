/**
 * AccountAdminService: operations staff block and unblock accounts. Internal: the gateway
 * never serves it; its caller (the ops console service) calls without a user token.
 */
import { DomainError, GrpcCode } from "@weelo/errors";
import type { AccountAdminServiceService } from "@weelo/contracts/grpc/weelo/identity/v1/account_admin_service";
import type { ServiceHandlers } from "@weelo/grpc";
import type { IdentityService } from "./identity.service.js";

export function accountAdminHandlers(identity: IdentityService): ServiceHandlers<typeof AccountAdminServiceService> {
  return {
    async blockUser(request) {
      const { user, sessionsRevoked } = await identity.blockUser({ userId: request.userId, reason: request.reason });
      return { userId: user.id, blockedAt: user.blocked_at ?? undefined, sessionsRevoked };
    },
    // Placeholders until the ops console service lands (issue 17, this session).
    async getAccounts() {
      throw new DomainError(GrpcCode.UNIMPLEMENTED, "GetAccounts is not implemented yet");
    },
    async findAccountsByPhone() {
      throw new DomainError(GrpcCode.UNIMPLEMENTED, "FindAccountsByPhone is not implemented yet");
    },
    async unblockUser(request) {
      const unblocked = await identity.unblockUser({ userId: request.userId, reason: request.reason });
      return { userId: request.userId, unblocked };
    },
  };
}
