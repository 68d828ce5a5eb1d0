/**
 * AccountAdminService: operations staff look up, block and unblock accounts. Internal: the
 * gateway never serves it; its caller (the ops console service) calls without a user token.
 */
import type {
  Account,
  AccountAdminServiceService,
} from "@weelo/contracts/grpc/weelo/identity/v1/account_admin_service";
import type { ServiceHandlers } from "@weelo/grpc";
import { userToProto } from "./identity.handlers.js";
import type { IdentityService } from "./identity.service.js";
import type { UserRow } from "./identity.table.js";

export function accountAdminHandlers(identity: IdentityService): ServiceHandlers<typeof AccountAdminServiceService> {
  return {
    async blockUser(request) {
      const { user, sessionsRevoked } = await identity.blockUser({ userId: request.userId, reason: request.reason });
      return { userId: user.id, blockedAt: user.blocked_at ?? undefined, sessionsRevoked };
    },
    async getAccounts(request) {
      return { accounts: (await identity.getAccounts(request.userIds)).map(accountToProto) };
    },
    async findAccountsByPhone(request) {
      return { accounts: (await identity.findAccountsByPhone(request.phone)).map(accountToProto) };
    },
    async unblockUser(request) {
      const unblocked = await identity.unblockUser({ userId: request.userId, reason: request.reason });
      return { userId: request.userId, unblocked };
    },
  };
}

function accountToProto(user: UserRow): Account {
  return { user: userToProto(user), blockedAt: user.blocked_at ?? undefined };
}
