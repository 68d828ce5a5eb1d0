/**
 * Notification's use cases: deliver the messages of one event (inbox, push, SMS fallback),
 * at most once per event, recipient and channel; and the caller's inbox.
 */
import { v7 as uuidv7 } from "uuid";
import type { Principal } from "@weelo/auth";
import { NotFoundError, UnavailableError } from "@weelo/errors";
import { decodePageToken, pageOf, pageSize, validateId } from "@weelo/formats";
import type { Logger } from "@weelo/log";
import type { Counter } from "prom-client";
import type { Contact, ContactDirectory } from "./contacts.js";
import {
  CRITICAL_KINDS,
  isStale,
  needsSmsFallback,
  render,
  smsText,
  type PlannedMessage,
  type PushOutcome,
  type Rendered,
} from "./notification.rules.js";
import * as repo from "./notification.repository.js";
import type { NotificationRow } from "./notification.table.js";
import type { PushSender } from "./senders/push-sender.js";
import { PushUnavailableError } from "./senders/push-sender.js";
import type { SmsSender } from "./senders/sms-sender.js";

export interface NotificationServiceDeps {
  db: repo.NotificationDb;
  contacts: ContactDirectory;
  push: PushSender;
  sms: SmsSender;
  logger: Logger;
  /** weelo_notifications_total{channel, kind, outcome}. */
  counter?: Counter<"channel" | "kind" | "outcome">;
  /** Events older than this (ms) reach the inbox only, without push or SMS; default one hour. */
  pushMaxAgeMs?: number;
  /** How long inbox entries and delivery claims are kept. */
  retention?: { inboxDays: number; deliveryDays: number };
  now?: () => Date;
}

const DAY_MS = 24 * 3600 * 1000;
const PRUNE_BATCH = 5000;

export interface InboxPage {
  items: NotificationRow[];
  nextPageToken: string;
  unreadCount: number;
}

/** A delivery that must be tried again (the event is redelivered with backoff). */
export class DeliveryFailedError extends Error {
  constructor(readonly failures: { recipientId: string; kind: string; error: unknown }[]) {
    super(
      `${failures.length} message(s) could not be delivered: ${failures.map((f) => `${f.kind}: ${errorText(f.error)}`).join("; ")}`,
    );
  }
}

export type NotificationService = ReturnType<typeof createNotificationService>;

export function createNotificationService(deps: NotificationServiceDeps) {
  const { db, contacts, push, sms, logger } = deps;
  const now = deps.now ?? (() => new Date());
  const count = (channel: string, kind: string, outcome: string) => deps.counter?.inc({ channel, kind, outcome });

  /**
   * Pushes to the user's devices under the claim taken with the inbox entry (settled at once
   * when there was nothing to send); what happened, or "unavailable" when the provider failed.
   */
  async function pushOnce(
    key: repo.DeliveryKey,
    m: PlannedMessage,
    tokens: string[],
    claim: repo.Claim,
    settled: boolean,
    text: Rendered,
  ): Promise<PushOutcome | "unavailable" | "elsewhere"> {
    const { eventId } = key;
    if (!claim.claimed) {
      // Sent or skipped by an earlier delivery of this event, or being sent by a concurrent one.
      if (claim.status === "sent") return { delivered: 1, invalidTokens: [], failed: 0 };
      if (claim.status === "sending") return "elsewhere";
      return { delivered: 0, invalidTokens: [], failed: 0 };
    }
    if (settled) {
      count("push", m.kind, "no_devices");
      return { delivered: 0, invalidTokens: [], failed: 0 };
    }
    const data = { ...m.params, kind: m.kind, event_id: eventId };
    try {
      const outcome = await push.send(tokens, {
        title: text.title,
        body: text.body,
        data,
        urgent: CRITICAL_KINDS.has(m.kind),
      });
      await removeDead(m.recipientId, outcome.invalidTokens);
      await repo.finishDelivery(
        db,
        key,
        outcome.delivered > 0 ? "sent" : "skipped",
        outcome.delivered > 0 ? null : "every device token was rejected",
        now(),
      );
      count("push", m.kind, outcome.delivered > 0 ? "sent" : "no_devices");
      return outcome;
    } catch (error) {
      if (error instanceof PushUnavailableError) await removeDead(m.recipientId, error.outcome.invalidTokens);
      await repo.finishDelivery(db, key, "failed", errorText(error), now());
      count("push", m.kind, "failed");
      logger.warn({ err: error, kind: m.kind, eventId, attempt: claim.attempt }, "push failed");
      return "unavailable";
    }
  }

  async function removeDead(userId: string, tokens: readonly string[]): Promise<void> {
    if (tokens.length === 0) return;
    try {
      const removed = await contacts.removePushTokens(userId, tokens);
      logger.info({ userId, removed }, "removed push tokens the provider rejected");
    } catch (error) {
      // Not fatal: the next push reports them again.
      logger.warn({ err: error, userId }, "could not remove rejected push tokens");
    }
  }

  /** Texts the user once; throws when the SMS provider fails (the event is retried). */
  async function smsOnce(
    eventId: string,
    m: PlannedMessage,
    contact: Contact | undefined,
    text: Rendered,
  ): Promise<boolean> {
    if (!contact?.phone) return false;
    const key: repo.DeliveryKey = { eventId, recipientId: m.recipientId, channel: "sms" };
    const claim = await repo.claimDelivery(db, key, now());
    if (!claim.claimed) return claim.status === "sent" || claim.status === "sending";
    try {
      await sms.sendText(contact.phone, smsText(text));
      await repo.finishDelivery(db, key, "sent", null, now());
      count("sms", m.kind, "sent");
      return true;
    } catch (error) {
      await repo.finishDelivery(db, key, "failed", errorText(error), now());
      count("sms", m.kind, "failed");
      throw error;
    }
  }

  async function deliverOne(eventId: string, m: PlannedMessage, stale: boolean): Promise<void> {
    const contact = await contacts.get(m.recipientId);
    const text = render(m.kind, contact?.language ?? "en", m.params);
    const entry: repo.InboxEntry = {
      id: uuidv7(),
      userId: m.recipientId,
      eventId,
      kind: m.kind,
      title: text.title,
      body: text.body,
      bookingId: m.bookingId,
      data: m.params,
    };
    if (stale) {
      await repo.addToInbox(db, entry);
      count("push", m.kind, "stale");
      return;
    }
    const key: repo.DeliveryKey = { eventId, recipientId: m.recipientId, channel: "push" };
    const tokens = contact?.pushTokens ?? [];
    // Nothing to send: the push's claim is written settled as skipped.
    const settled =
      tokens.length === 0
        ? { status: "skipped" as const, detail: contact ? "no registered devices" : "unknown user" }
        : undefined;
    // The inbox entry and the push's claim in one statement. Texts stay as first rendered (a
    // redelivery after a language change does not mix languages).
    const { stored, claim } = await repo.addToInboxAndClaim(db, entry, key, now(), settled);
    const pushed = await pushOnce(key, m, tokens, claim, settled !== undefined, stored);
    if (pushed === "elsewhere") return;
    const texted = needsSmsFallback(m.kind, pushed) ? await smsOnce(eventId, m, contact, stored) : false;
    if (pushed === "unavailable" && !texted) {
      throw new UnavailableError("the push provider failed and no SMS fallback applies", {
        reason: "PUSH_UNAVAILABLE",
      });
    }
  }

  return {
    /**
     * Delivers an event's messages. Each recipient is independent; when any failed, throws
     * DeliveryFailedError after trying them all, so the redelivery retries only what failed
     * (the rest is claimed).
     */
    async deliver(eventId: string, messages: readonly PlannedMessage[], occurredAt?: Date): Promise<void> {
      const failures: DeliveryFailedError["failures"] = [];
      const stale = isStale(occurredAt, now(), deps.pushMaxAgeMs ?? 3_600_000);
      if (stale) logger.info({ eventId, occurredAt }, "event too old to push: inbox only");
      for (const m of messages) {
        try {
          await deliverOne(eventId, m, stale);
        } catch (error) {
          failures.push({ recipientId: m.recipientId, kind: m.kind, error });
        }
      }
      if (failures.length > 0) throw new DeliveryFailedError(failures);
    },

    /**
     * Deletes inbox entries and delivery claims past their retention, in batches. Every replica
     * may run it at once: the deletes are idempotent.
     */
    async prune(at: Date = now()): Promise<{ notifications: number; deliveries: number }> {
      const retention = deps.retention ?? { inboxDays: 90, deliveryDays: 30 };
      const removed = { notifications: 0, deliveries: 0 };
      for (let n = PRUNE_BATCH; n === PRUNE_BATCH; removed.notifications += n) {
        n = await repo.pruneInbox(db, new Date(at.getTime() - retention.inboxDays * DAY_MS), PRUNE_BATCH);
      }
      for (let n = PRUNE_BATCH; n === PRUNE_BATCH; removed.deliveries += n) {
        n = await repo.pruneDeliveries(db, new Date(at.getTime() - retention.deliveryDays * DAY_MS), PRUNE_BATCH);
      }
      if (removed.notifications + removed.deliveries > 0)
        logger.info(removed, "pruned notifications and delivery claims past their retention");
      return removed;
    },

    async listNotifications(
      principal: Principal,
      input: { pageSize: number; pageToken: string; unreadOnly: boolean },
    ): Promise<InboxPage> {
      const limit = pageSize(input.pageSize);
      const beforeId = decodePageToken(input.pageToken);
      const rows = await repo.listInbox(db, principal.userId, {
        limit: limit + 1,
        unreadOnly: input.unreadOnly,
        ...(beforeId ? { beforeId } : {}),
      });
      return { ...pageOf(rows, limit), unreadCount: await repo.unreadCount(db, principal.userId) };
    },

    async markRead(
      principal: Principal,
      notificationId: string,
    ): Promise<{ notification: NotificationRow; unreadCount: number }> {
      const id = validateId(notificationId, "notification_id");
      const notification = await repo.markRead(db, principal.userId, id, now());
      // Someone else's notification is as unknown as a missing one.
      if (!notification) throw new NotFoundError("no such notification", { reason: "NOTIFICATION_NOT_FOUND" });
      return { notification, unreadCount: await repo.unreadCount(db, principal.userId) };
    },
  };
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
