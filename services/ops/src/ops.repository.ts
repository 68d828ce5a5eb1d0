/** kysely queries of the ops schema: plain functions taking the db. */
import type { Kysely } from "kysely";
import type { AuditActionWord, AuditEntryRow, AuditOutcomeWord, OpsDatabase } from "./ops.table.js";

export type OpsDb = Kysely<OpsDatabase>;

export interface NewAuditEntry {
  id: string;
  actorUserId: string;
  actorPhone: string;
  action: AuditActionWord;
  targetId: string;
  reason: string;
  before: unknown;
  outcome: AuditOutcomeWord;
  error?: string;
  idempotencyKey: string | null;
  requestHash: string;
}

const json = (value: unknown) => (value === undefined || value === null ? null : JSON.stringify(value));

/** Inserts an entry (PENDING before the action, or FAILED at once when the target could not be read). */
export async function insertAuditEntry(db: OpsDb, entry: NewAuditEntry): Promise<AuditEntryRow> {
  const finished = entry.outcome !== "pending";
  return db
    .insertInto("audit_entries")
    .values({
      id: entry.id,
      actor_user_id: entry.actorUserId,
      actor_phone: entry.actorPhone,
      action: entry.action,
      target_id: entry.targetId,
      reason: entry.reason,
      before: json(entry.before),
      outcome: entry.outcome,
      error: entry.error ?? "",
      idempotency_key: entry.idempotencyKey,
      request_hash: entry.requestHash,
      completed_at: finished ? new Date() : null,
    })
    .returningAll()
    .executeTakeFirstOrThrow();
}

/**
 * Completes a PENDING entry; a conditional update, so of two replays finishing the same entry the
 * first answer is kept. Returns the entry as stored.
 */
export async function completeAuditEntry(
  db: OpsDb,
  id: string,
  result: { outcome: "succeeded" | "failed"; after?: unknown; error?: string },
): Promise<AuditEntryRow | undefined> {
  const updated = await db
    .updateTable("audit_entries")
    .set({
      outcome: result.outcome,
      after: json(result.after),
      error: result.error ?? "",
      completed_at: new Date(),
    })
    .where("id", "=", id)
    .where("outcome", "=", "pending")
    .returningAll()
    .executeTakeFirst();
  return updated ?? db.selectFrom("audit_entries").selectAll().where("id", "=", id).executeTakeFirst();
}

/** Every entry an operations user made with a retry key, newest first. */
export function findByIdempotencyKey(db: OpsDb, actorUserId: string, key: string): Promise<AuditEntryRow[]> {
  return db
    .selectFrom("audit_entries")
    .selectAll()
    .where("actor_user_id", "=", actorUserId)
    .where("idempotency_key", "=", key)
    .orderBy("id", "desc")
    .execute();
}

/** One page of the trail, newest first, optionally of one target or one actor (keyset on id). */
export function listAuditEntries(
  db: OpsDb,
  query: {
    targetId?: string | undefined;
    actorUserId?: string | undefined;
    beforeId?: string | undefined;
    limit: number;
  },
): Promise<AuditEntryRow[]> {
  let select = db.selectFrom("audit_entries").selectAll();
  if (query.targetId) select = select.where("target_id", "=", query.targetId);
  if (query.actorUserId) select = select.where("actor_user_id", "=", query.actorUserId);
  if (query.beforeId) select = select.where("id", "<", query.beforeId);
  return select.orderBy("id", "desc").limit(query.limit).execute();
}
