/** Protobuf shapes the ops service builds: people from identity's accounts, audit entries from rows. */
import type { Account } from "@weelo/contracts/grpc/weelo/identity/v1/account_admin_service";
import { type AuditEntry, Person } from "@weelo/contracts/grpc/weelo/ops/v1/ops";
import { actionToProto, outcomeToProto } from "./ops.rules.js";
import type { AuditEntryRow } from "./ops.table.js";

export function personOf(account: Account): Person {
  const user = account.user;
  return {
    userId: user?.id ?? "",
    phone: user?.phone ?? "",
    name: user?.name ?? "",
    role: user?.role ?? 0,
    blockedAt: account.blockedAt,
  };
}

export const personJson = (person: Person): unknown => Person.toJSON(person);

const jsonText = (value: unknown) => (value === null || value === undefined ? "" : JSON.stringify(value));

export function auditEntryToProto(row: AuditEntryRow): AuditEntry {
  return {
    id: row.id,
    actorUserId: row.actor_user_id,
    actorPhone: row.actor_phone,
    action: actionToProto(row.action),
    targetId: row.target_id,
    reason: row.reason,
    beforeJson: jsonText(row.before),
    afterJson: jsonText(row.after),
    outcome: outcomeToProto(row.outcome),
    error: row.error,
    createdAt: row.created_at,
    completedAt: row.completed_at ?? undefined,
  };
}
