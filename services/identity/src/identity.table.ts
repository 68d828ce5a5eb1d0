/** Table types of the identity schema (kysely). */
import type { ColumnType, Generated, Insertable, Selectable, Updateable } from "kysely";

type CreatedAt = ColumnType<Date, Date | undefined, never>;
type UpdatedAt = ColumnType<Date, Date | undefined, Date>;

export interface UsersTable {
  id: string;
  /** E.164, e.g. +919876543210. */
  phone: string;
  /** customer | transporter | driver | ops; one account per phone and role. */
  role: string;
  name: Generated<string>;
  email: Generated<string>;
  company_name: Generated<string>;
  gstin: Generated<string>;
  /** en | hi */
  language: Generated<string>;
  transporter_id: string | null;
  /** Set while the account is blocked: no login, no refresh. */
  blocked_at: ColumnType<Date | null, Date | null | undefined, Date | null>;
  blocked_reason: ColumnType<string | null, string | null | undefined, string | null>;
  created_at: CreatedAt;
  updated_at: UpdatedAt;
}

/** One login session = one refresh-token family. */
export interface SessionsTable {
  id: string;
  user_id: string;
  /** Id of the only refresh token of this family that may still be used. */
  current_token_id: string;
  created_at: CreatedAt;
  last_used_at: Date;
  expires_at: Date;
  revoked_at: Date | null;
  revoked_reason: string | null;
}

export interface DevicesTable {
  id: string;
  user_id: string;
  push_token: string;
  platform: string;
  created_at: CreatedAt;
  updated_at: UpdatedAt;
}

export interface IdentityDatabase {
  users: UsersTable;
  sessions: SessionsTable;
  devices: DevicesTable;
}

export type UserRow = Selectable<UsersTable>;
export type NewUser = Insertable<UsersTable>;
export type UserUpdate = Updateable<UsersTable>;
export type SessionRow = Selectable<SessionsTable>;
export type DeviceRow = Selectable<DevicesTable>;
