/** Table types of the notification schema (kysely). */
import type { ColumnType, Generated, Selectable } from "kysely";

type CreatedAt = ColumnType<Date, Date | undefined, never>;

/** The in-app inbox: one row per event and recipient. */
export interface NotificationsTable {
  /** UUIDv7: time-ordered, so "newest first" is "id descending". */
  id: string;
  user_id: string;
  /** Id of the event (EventEnvelope.id) that caused it. */
  event_id: string;
  kind: string;
  title: string;
  body: string;
  /** Empty when the notification is about no booking. */
  booking_id: string;
  data: ColumnType<Record<string, string>, string, string>;
  created_at: CreatedAt;
  read_at: Date | null;
}

/**
 * One row per (event, recipient, channel): claimed before sending, so a redelivered event
 * never sends twice. status: sending → sent | skipped | failed; only failed is claimed again.
 */
export interface DeliveriesTable {
  event_id: string;
  recipient_id: string;
  /** push | sms */
  channel: string;
  status: string;
  attempts: Generated<number>;
  /** Why it failed or was skipped, for an operator. */
  detail: string | null;
  claimed_at: Date;
  finished_at: Date | null;
}

export interface NotificationDatabase {
  notifications: NotificationsTable;
  deliveries: DeliveriesTable;
}

export type NotificationRow = Selectable<NotificationsTable>;
export type DeliveryRow = Selectable<DeliveriesTable>;
