/** FindUsers (a phone's accounts, from identity) and ListAuditEntries (this service's trail, newest first). */
import type { AuditEntry, Person } from "@weelo/contracts/grpc/weelo/ops/v1/ops";
import { decodePageToken, isUuid, normalizeIndianPhone, pageOf, pageSize } from "@weelo/formats";
import type { OpsContext } from "./ops.context.js";
import { auditEntryToProto, personOf } from "./ops.convert.js";
import * as repo from "./ops.repository.js";

export function createUsersAndAudit(ctx: OpsContext) {
  return {
    async findUsers(phone: string): Promise<Person[]> {
      const { accounts } = await ctx.upstreams.accounts.findAccountsByPhone({ phone: normalizeIndianPhone(phone) });
      return accounts.map(personOf);
    },

    async listAuditEntries(query: {
      targetId: string;
      actorUserId: string;
      page?: { pageSize: number; pageToken: string } | undefined;
    }): Promise<{ entries: AuditEntry[]; nextPageToken: string }> {
      const actorUserId = query.actorUserId.trim().toLowerCase();
      // The column is a uuid: an actor id that is not one names nobody.
      if (actorUserId !== "" && !isUuid(actorUserId)) return { entries: [], nextPageToken: "" };
      const limit = pageSize(query.page?.pageSize ?? 0);
      const rows = await repo.listAuditEntries(ctx.db, {
        targetId: query.targetId.trim().toLowerCase() || undefined,
        actorUserId: actorUserId || undefined,
        beforeId: decodePageToken(query.page?.pageToken ?? ""),
        limit: limit + 1,
      });
      const page = pageOf(rows, limit);
      return { entries: page.items.map(auditEntryToProto), nextPageToken: page.nextPageToken };
    },
  };
}
