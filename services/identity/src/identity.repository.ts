/** kysely queries of the identity schema: plain functions taking the db (or a transaction). */
import { sql, type Kysely } from "kysely";
import type { DeviceRow, IdentityDatabase, SessionRow, UserRow, UserUpdate } from "./identity.table.js";

export type IdentityDb = Kysely<IdentityDatabase>;

/** Creates the account on first login or returns the existing one; race-free under concurrent logins. */
export async function upsertUserOnLogin(
  db: IdentityDb,
  user: { id: string; phone: string; role: string; transporterId: string | null },
): Promise<{ user: UserRow; created: boolean }> {
  const inserted = await db
    .insertInto("users")
    .values({ id: user.id, phone: user.phone, role: user.role, transporter_id: user.transporterId })
    .onConflict((oc) => oc.columns(["phone", "role"]).doNothing())
    .returningAll()
    .executeTakeFirst();
  if (inserted) return { user: inserted, created: true };
  // A driver may have moved to another transporter since the last login: keep the link current.
  const existing = await db
    .updateTable("users")
    .set({ transporter_id: user.transporterId, updated_at: new Date() })
    .where("phone", "=", user.phone)
    .where("role", "=", user.role)
    .returningAll()
    .executeTakeFirstOrThrow();
  return { user: existing, created: false };
}

export function findUserById(db: IdentityDb, id: string): Promise<UserRow | undefined> {
  return db.selectFrom("users").selectAll().where("id", "=", id).executeTakeFirst();
}

export function findUserByPhone(db: IdentityDb, phone: string, role: string): Promise<UserRow | undefined> {
  return db.selectFrom("users").selectAll().where("phone", "=", phone).where("role", "=", role).executeTakeFirst();
}

/** The accounts with these ids (any order). */
export async function findUsersByIds(db: IdentityDb, ids: readonly string[]): Promise<UserRow[]> {
  if (ids.length === 0) return [];
  return db.selectFrom("users").selectAll().where("id", "in", ids).execute();
}

/** Every account of a phone, one per role, oldest first. */
export function findUsersByPhone(db: IdentityDb, phone: string): Promise<UserRow[]> {
  return db.selectFrom("users").selectAll().where("phone", "=", phone).orderBy("id").execute();
}

export function updateUser(db: IdentityDb, id: string, changes: UserUpdate): Promise<UserRow | undefined> {
  return db
    .updateTable("users")
    .set({ ...changes, updated_at: new Date() })
    .where("id", "=", id)
    .returningAll()
    .executeTakeFirst();
}

export async function createSession(
  db: IdentityDb,
  session: { id: string; userId: string; tokenId: string; expiresAt: Date },
): Promise<void> {
  await db
    .insertInto("sessions")
    .values({
      id: session.id,
      user_id: session.userId,
      current_token_id: session.tokenId,
      last_used_at: new Date(),
      expires_at: session.expiresAt,
    })
    .execute();
}

/**
 * Rotates a session's refresh token in one conditional update: it succeeds only while the
 * presented token is the current one, the session is live and unexpired. Two concurrent
 * refreshes with the same token cannot both win.
 */
export async function rotateSessionToken(
  db: IdentityDb,
  rotation: { sessionId: string; presentedTokenId: string; nextTokenId: string; expiresAt: Date },
): Promise<{ userId: string } | undefined> {
  const row = await db
    .updateTable("sessions")
    .set({ current_token_id: rotation.nextTokenId, last_used_at: new Date(), expires_at: rotation.expiresAt })
    .where("id", "=", rotation.sessionId)
    .where("current_token_id", "=", rotation.presentedTokenId)
    .where("revoked_at", "is", null)
    .where("expires_at", ">", sql<Date>`now()`)
    .returning("user_id")
    .executeTakeFirst();
  return row ? { userId: row.user_id } : undefined;
}

export function findSession(db: IdentityDb, id: string): Promise<SessionRow | undefined> {
  return db.selectFrom("sessions").selectAll().where("id", "=", id).executeTakeFirst();
}

/** Ends a session; returns false when it was already ended (revocation is idempotent). */
export async function revokeSession(db: IdentityDb, id: string, reason: string): Promise<boolean> {
  const result = await db
    .updateTable("sessions")
    .set({ revoked_at: new Date(), revoked_reason: reason })
    .where("id", "=", id)
    .where("revoked_at", "is", null)
    .executeTakeFirst();
  return Number(result.numUpdatedRows) > 0;
}

/**
 * Ends every open session of a user in one statement (account blocked, driver removed);
 * returns the ids it ended, for the revocation list and the notices.
 */
export async function revokeUserSessions(db: IdentityDb, userId: string, reason: string): Promise<string[]> {
  const rows = await db
    .updateTable("sessions")
    .set({ revoked_at: new Date(), revoked_reason: reason })
    .where("user_id", "=", userId)
    .where("revoked_at", "is", null)
    .returning("id")
    .execute();
  return rows.map((row) => row.id);
}

/** Blocks an account; a blocked one keeps its first block (time and reason). Undefined for an unknown user. */
export async function blockUser(db: IdentityDb, id: string, reason: string): Promise<UserRow | undefined> {
  const blocked = await db
    .updateTable("users")
    .set({ blocked_at: new Date(), blocked_reason: reason, updated_at: new Date() })
    .where("id", "=", id)
    .where("blocked_at", "is", null)
    .returningAll()
    .executeTakeFirst();
  return blocked ?? findUserById(db, id);
}

/** Unblocks an account; true when it was blocked, false when not, undefined for an unknown user. */
export async function unblockUser(db: IdentityDb, id: string): Promise<boolean | undefined> {
  const result = await db
    .updateTable("users")
    .set({ blocked_at: null, blocked_reason: null, updated_at: new Date() })
    .where("id", "=", id)
    .where("blocked_at", "is not", null)
    .executeTakeFirst();
  if (Number(result.numUpdatedRows) > 0) return true;
  return (await findUserById(db, id)) ? false : undefined;
}

/** Registers a push token for a user; a token seen before (reinstall, account switch) moves to this user. */
export async function upsertDevice(
  db: IdentityDb,
  device: { id: string; userId: string; pushToken: string; platform: string },
): Promise<DeviceRow> {
  return db
    .insertInto("devices")
    .values({ id: device.id, user_id: device.userId, push_token: device.pushToken, platform: device.platform })
    .onConflict((oc) =>
      oc
        .column("push_token")
        .doUpdateSet({ user_id: device.userId, platform: device.platform, updated_at: new Date() }),
    )
    .returningAll()
    .executeTakeFirstOrThrow();
}

/** Keeps only a user's newest `keep` devices, so stale installs don't pile up. */
export async function pruneDevices(db: IdentityDb, userId: string, keep: number): Promise<void> {
  const stale = db
    .selectFrom("devices")
    .select("id")
    .where("user_id", "=", userId)
    .orderBy("updated_at", "desc")
    .orderBy("id", "desc")
    .offset(keep);
  await db.deleteFrom("devices").where("id", "in", stale).execute();
}

export async function deleteDevice(db: IdentityDb, userId: string, pushToken: string): Promise<boolean> {
  const result = await db
    .deleteFrom("devices")
    .where("user_id", "=", userId)
    .where("push_token", "=", pushToken)
    .executeTakeFirst();
  return Number(result.numDeletedRows) > 0;
}
