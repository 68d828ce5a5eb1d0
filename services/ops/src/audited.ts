/**
 * How every intervention runs: the target is read ("before"), a PENDING entry is written, the
 * owner is called over the mesh, the target is read again ("after") and the entry completed
 * SUCCEEDED, or FAILED with the owner's error, which the caller then gets unchanged. A target
 * that cannot be read is an intervention refused: recorded FAILED at once.
 *
 * Retries: a request with an idempotency key that an entry of the same operations user already
 * carries is a replay. A SUCCEEDED entry is answered from the target as it is now, without acting
 * again; a PENDING one (the first call still running, or this process stopped mid-call) calls
 * the owner again (owners are idempotent) and completes that same entry; a FAILED one leaves the
 * key free, so a retry after an outage acts, and is recorded, anew. A key used for a different
 * request is refused (IDEMPOTENCY_KEY_REUSED).
 */
import { v7 as uuidv7 } from "uuid";
import { isUniqueViolation } from "@weelo/db";
import { InvalidArgumentError } from "@weelo/errors";
import { validateIdempotencyKey } from "@weelo/formats";
import type { Actor, OpsContext } from "./ops.context.js";
import * as repo from "./ops.repository.js";
import { auditReason, errorText, requestHash } from "./ops.rules.js";
import type { AuditActionWord, AuditEntryRow } from "./ops.table.js";

export interface Intervention<Result, Target> {
  action: AuditActionWord;
  targetId: string;
  reason: string;
  /** What else the request names (driver and vehicle of a reassignment), for the replay check. */
  args?: readonly string[];
  idempotencyKey: string;
  /** The target as it is now, from its owner (NOT_FOUND when there is none). */
  read(): Promise<Target>;
  /** The target as the audit keeps it (protobuf JSON). */
  toJson(target: Target): unknown;
  /** Calls the owner. */
  act(reason: string): Promise<Result>;
  /** The target after the action when the owner's answer carries it (else it is read again). */
  targetOf?(result: Result): Target | undefined;
}

export interface InterventionOutcome<Result, Target> {
  /** The owner's answer; undefined when this call replayed a finished one. */
  result: Result | undefined;
  /** The target after the action, when it could be read. */
  target: Target | undefined;
  entry: AuditEntryRow;
}

export function createAudited(ctx: OpsContext) {
  const { db, logger } = ctx;

  async function finish<R, T>(
    intervention: Intervention<R, T>,
    entry: AuditEntryRow,
    reason: string,
  ): Promise<InterventionOutcome<R, T>> {
    let result: R;
    try {
      result = await intervention.act(reason);
    } catch (error) {
      await repo
        .completeAuditEntry(db, entry.id, { outcome: "failed", error: errorText(error) })
        .catch((cause: unknown) => logger.error({ err: cause, auditId: entry.id }, "audit entry left PENDING"));
      throw error;
    }
    let target = intervention.targetOf?.(result);
    if (target === undefined) {
      target = await intervention.read().catch((error: unknown) => {
        logger.warn({ err: error, auditId: entry.id }, "target not read after the action: audit kept without it");
        return undefined;
      });
    }
    const done = await repo
      .completeAuditEntry(db, entry.id, {
        outcome: "succeeded",
        after: target === undefined ? null : intervention.toJson(target),
      })
      .catch((cause: unknown) => {
        // The action is made: the caller is told so; the entry stays PENDING for a replay to complete.
        logger.error({ err: cause, auditId: entry.id }, "audit entry left PENDING after a successful action");
        return undefined;
      });
    return { result, target, entry: done ?? entry };
  }

  async function replay<R, T>(
    intervention: Intervention<R, T>,
    earlier: readonly AuditEntryRow[],
    hash: string,
    reason: string,
  ): Promise<InterventionOutcome<R, T> | undefined> {
    if (earlier.some((entry) => entry.request_hash !== hash))
      throw new InvalidArgumentError(
        "idempotency_key",
        "idempotency_key was already used for a different intervention; use a new key for a new one",
        { reason: "IDEMPOTENCY_KEY_REUSED" },
      );
    const live = earlier.find((entry) => entry.outcome !== "failed");
    if (!live) return undefined;
    if (live.outcome === "succeeded") return { result: undefined, target: await intervention.read(), entry: live };
    return finish(intervention, live, reason);
  }

  return async function audited<R, T>(
    actor: Actor,
    intervention: Intervention<R, T>,
  ): Promise<InterventionOutcome<R, T>> {
    const reason = auditReason(intervention.reason);
    const key = validateIdempotencyKey(intervention.idempotencyKey);
    const hash = requestHash(intervention.action, intervention.targetId, reason, ...(intervention.args ?? []));
    if (key) {
      const replayed = await replay(intervention, await repo.findByIdempotencyKey(db, actor.userId, key), hash, reason);
      if (replayed) return replayed;
    }
    const base = {
      actorUserId: actor.userId,
      actorPhone: actor.phone,
      action: intervention.action,
      targetId: intervention.targetId,
      reason,
      idempotencyKey: key,
      requestHash: hash,
    };
    let before: T;
    try {
      before = await intervention.read();
    } catch (error) {
      await repo
        .insertAuditEntry(db, { ...base, id: uuidv7(), before: null, outcome: "failed", error: errorText(error) })
        .catch((cause: unknown) => logger.error({ err: cause }, "refused intervention not recorded"));
      throw error;
    }
    let entry: AuditEntryRow;
    try {
      entry = await repo.insertAuditEntry(db, {
        ...base,
        id: uuidv7(),
        before: intervention.toJson(before),
        outcome: "pending",
      });
    } catch (error) {
      // The same key, inserted by a concurrent replay a moment ago: that entry is this call's.
      if (!key || !isUniqueViolation(error)) throw error;
      const replayed = await replay(intervention, await repo.findByIdempotencyKey(db, actor.userId, key), hash, reason);
      if (!replayed) throw error;
      return replayed;
    }
    logger.info(
      { auditId: entry.id, action: entry.action, targetId: entry.target_id, actorUserId: actor.userId },
      "intervention",
    );
    return finish(intervention, entry, reason);
  };
}

export type Audited = ReturnType<typeof createAudited>;
