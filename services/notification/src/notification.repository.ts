/** kysely queries of the notification schema: plain functions taking the db (or a transaction). */
import { sql, type Kysely } from "kysely";
import type { DeliveryRow, NotificationDatabase, NotificationRow } from "./notification.table.js";

export type NotificationDb = Kysely<NotificationDatabase>;

export interface DeliveryKey {
  eventId: string;
  recipientId: string;
  channel: "push" | "sms";
}

export interface InboxEntry {
  id: string;
  userId: string;
  eventId: string;
  kind: string;
  title: string;
  body: string;
  bookingId: string;
  data: Record<string, string>;
}

/** The texts an event's inbox entry was stored with. */
export type StoredTexts = Pick<NotificationRow, "title" | "body">;

function insertInboxEntry(db: NotificationDb, row: InboxEntry) {
  return db
    .insertInto("notifications")
    .values({
      id: row.id,
      user_id: row.userId,
      event_id: row.eventId,
      kind: row.kind,
      title: row.title,
      body: row.body,
      booking_id: row.bookingId,
      data: JSON.stringify(row.data),
    })
    .onConflict((oc) => oc.columns(["event_id", "user_id"]).doNothing());
}

/** Adds a notification to the user's inbox once per event; a redelivery gets the existing row. */
export async function addToInbox(db: NotificationDb, row: InboxEntry): Promise<NotificationRow> {
  const inserted = await insertInboxEntry(db, row).returningAll().executeTakeFirst();
  if (inserted) return inserted;
  return db
    .selectFrom("notifications")
    .selectAll()
    .where("event_id", "=", row.eventId)
    .where("user_id", "=", row.userId)
    .executeTakeFirstOrThrow();
}

export type Claim = { claimed: true; attempt: number } | { claimed: false; status: string };

/** The outcome of a claim with nothing to send, written with the claim (see addToInboxAndClaim). */
export type Settled = { status: "skipped"; detail: string };

function insertClaim(db: NotificationDb, key: DeliveryKey, now: Date, settled: Settled | undefined) {
  const outcome = settled ? { status: settled.status, detail: settled.detail, finished_at: now } : undefined;
  return db
    .insertInto("deliveries")
    .values({
      event_id: key.eventId,
      recipient_id: key.recipientId,
      channel: key.channel,
      status: "sending",
      claimed_at: now,
      ...outcome,
    })
    .onConflict((oc) =>
      oc
        .columns(["event_id", "recipient_id", "channel"])
        .doUpdateSet({
          status: "sending",
          attempts: sql`deliveries.attempts + 1`,
          claimed_at: now,
          finished_at: null,
          ...outcome,
        })
        .where("deliveries.status", "=", "failed"),
    );
}

/** The claim a claiming statement made (its attempt), or why it made none (the claim as it stands). */
async function claimOf(db: NotificationDb, key: DeliveryKey, attempt: number | null | undefined): Promise<Claim> {
  if (attempt !== null && attempt !== undefined) return { claimed: true, attempt };
  const existing = await findDelivery(db, key);
  return { claimed: false, status: existing?.status ?? "sending" };
}

/**
 * Claims the right to send on one channel: a new claim, or one whose earlier try failed. A
 * claim that is sending (another delivery of the same event, or a crash mid-send), sent or
 * skipped is not taken again: at most one message per event, recipient and channel.
 */
export async function claimDelivery(db: NotificationDb, key: DeliveryKey, now: Date): Promise<Claim> {
  const claimed = await insertClaim(db, key, now, undefined).returning(["attempts"]).executeTakeFirst();
  return claimOf(db, key, claimed?.attempts);
}

/**
 * addToInbox and claimDelivery in one statement (one commit instead of two): the inbox entry
 * of an event and the claim of its push. Answers with the texts the entry was stored with (a
 * redelivery's are the first ones) and the claim, as each function alone would. `settled`:
 * there is nothing to send (no registered devices), so the claim is written already finished
 * with that outcome rather than claimed then finished.
 */
export async function addToInboxAndClaim(
  db: NotificationDb,
  row: InboxEntry,
  key: DeliveryKey,
  now: Date,
  settled?: Settled,
): Promise<{ stored: StoredTexts; claim: Claim }> {
  const result = await db
    .with("inbox", () => insertInboxEntry(db, row).returning(["title", "body"]))
    .with("claim", () => insertClaim(db, key, now, settled).returning(["attempts"]))
    .selectNoFrom((eb) => [
      eb.selectFrom("inbox").select("title").as("title"),
      eb.selectFrom("inbox").select("body").as("body"),
      eb.selectFrom("claim").select("attempts").as("attempts"),
    ])
    .executeTakeFirstOrThrow();
  const stored =
    result.title !== null && result.body !== null
      ? { title: result.title, body: result.body }
      : await db
          .selectFrom("notifications")
          .select(["title", "body"])
          .where("event_id", "=", row.eventId)
          .where("user_id", "=", row.userId)
          .executeTakeFirstOrThrow();
  return { stored, claim: await claimOf(db, key, result.attempts) };
}

/** Records how a claimed delivery ended. */
export async function finishDelivery(
  db: NotificationDb,
  key: DeliveryKey,
  status: "sent" | "skipped" | "failed",
  detail: string | null,
  now: Date,
): Promise<void> {
  await db
    .updateTable("deliveries")
    .set({ status, detail: detail?.slice(0, 500) ?? null, finished_at: now })
    .where("event_id", "=", key.eventId)
    .where("recipient_id", "=", key.recipientId)
    .where("channel", "=", key.channel)
    .where("status", "=", "sending")
    .execute();
}

export function findDelivery(db: NotificationDb, key: DeliveryKey): Promise<DeliveryRow | undefined> {
  return db
    .selectFrom("deliveries")
    .selectAll()
    .where("event_id", "=", key.eventId)
    .where("recipient_id", "=", key.recipientId)
    .where("channel", "=", key.channel)
    .executeTakeFirst();
}

/** A page of a user's inbox, newest first, after the row with id `beforeId` when given. */
export function listInbox(
  db: NotificationDb,
  userId: string,
  options: { limit: number; beforeId?: string; unreadOnly: boolean },
): Promise<NotificationRow[]> {
  let query = db.selectFrom("notifications").selectAll().where("user_id", "=", userId);
  if (options.beforeId) query = query.where("id", "<", options.beforeId);
  if (options.unreadOnly) query = query.where("read_at", "is", null);
  return query.orderBy("id", "desc").limit(options.limit).execute();
}

export async function unreadCount(db: NotificationDb, userId: string): Promise<number> {
  const row = await db
    .selectFrom("notifications")
    .select((eb) => eb.fn.countAll<string>().as("count"))
    .where("user_id", "=", userId)
    .where("read_at", "is", null)
    .executeTakeFirstOrThrow();
  return Number(row.count);
}

/** Marks the user's notification read (keeping the first read time); undefined when it is not theirs. */
export function markRead(
  db: NotificationDb,
  userId: string,
  id: string,
  now: Date,
): Promise<NotificationRow | undefined> {
  return db
    .updateTable("notifications")
    .set({ read_at: sql`coalesce(read_at, ${now})` })
    .where("id", "=", id)
    .where("user_id", "=", userId)
    .returningAll()
    .executeTakeFirst();
}

/** The smallest UUIDv7 of a moment: every id created before it sorts lower. */
export function uuidv7Floor(at: Date): string {
  const hex = Math.max(0, Math.floor(at.getTime())).toString(16).padStart(12, "0").slice(-12);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-7000-8000-000000000000`;
}

/** Deletes up to `limit` inbox entries created before `before` (by their time-ordered id); returns how many. */
export async function pruneInbox(db: NotificationDb, before: Date, limit: number): Promise<number> {
  const result = await db
    .deleteFrom("notifications")
    .where("id", "in", (eb) =>
      eb.selectFrom("notifications").select("id").where("id", "<", uuidv7Floor(before)).limit(limit),
    )
    .executeTakeFirst();
  return Number(result.numDeletedRows);
}

/** Deletes up to `limit` delivery claims made before `before`; returns how many. */
export async function pruneDeliveries(db: NotificationDb, before: Date, limit: number): Promise<number> {
  // The builder, not raw SQL: it names the schema (no search_path needed behind PgBouncer).
  const result = await db
    .deleteFrom("deliveries")
    .where((eb) =>
      eb(
        eb.refTuple("event_id", "recipient_id", "channel"),
        "in",
        eb
          .selectFrom("deliveries")
          .select(["event_id", "recipient_id", "channel"])
          .where("claimed_at", "<", before)
          .limit(limit)
          .$asTuple("event_id", "recipient_id", "channel"),
      ),
    )
    .executeTakeFirst();
  return Number(result.numDeletedRows);
}
