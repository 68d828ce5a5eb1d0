/** Table types of the ops schema (kysely). */
import type { ColumnType, Generated, Selectable } from "kysely";

export type AuditActionWord = "cancel_booking" | "reopen_booking" | "reassign_driver" | "block_user" | "unblock_user";
export type AuditOutcomeWord = "pending" | "succeeded" | "failed";

/** One intervention of the operations console: written PENDING before the owner is called, completed after. */
export interface AuditEntriesTable {
  /** UUIDv7: time-ordered, so "newest first" is "id descending". */
  id: string;
  /** The operations user who acted (their access token's subject). */
  actor_user_id: string;
  actor_phone: string;
  action: AuditActionWord;
  /** The booking or user acted on. */
  target_id: string;
  reason: string;
  /** The target as read before the action (protobuf JSON of the booking or account); null when it could not be read. */
  before: ColumnType<unknown, string | null, string | null>;
  /** The target as read after a successful action; null while pending, after a failure, or when it could not be read. */
  after: ColumnType<unknown, string | null | undefined, string | null>;
  outcome: AuditOutcomeWord;
  /** The owner's error message of a failed action; empty otherwise. */
  error: Generated<string>;
  /** The client's retry key (with the actor, unique among entries that did not fail). */
  idempotency_key: string | null;
  /** Hash of what was asked (action, target, reason, arguments): tells a replay from a reused key. */
  request_hash: string;
  created_at: ColumnType<Date, Date | undefined, never>;
  completed_at: Date | null;
}

export interface OpsDatabase {
  audit_entries: AuditEntriesTable;
}

export type AuditEntryRow = Selectable<AuditEntriesTable>;
