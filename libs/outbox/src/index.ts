/**
 * The transactional outbox of a service's events. A state change writes its event into the
 * `outbox` table in the same transaction, so the event exists exactly when the change does;
 * the relay publishes unpublished rows to JetStream in order and marks them. If the process
 * dies between commit and publish, the row waits for the next relay (this replica after a
 * restart, or another one). A row published twice (a crash between publish and mark) is
 * dropped by the stream, because the message id is the event id.
 *
 * Several replicas: each relay locks its batch `FOR UPDATE SKIP LOCKED`, so two relays never
 * publish the same rows at once. Two relays may publish neighbouring batches concurrently,
 * so consumers order a subject's events by the envelope's sequence, as they must anyway with
 * at-least-once redelivery.
 */
import { v7 as uuidv7 } from "uuid";
import { envInt } from "@weelo/config";
import { REQUEST_ID_HEADER, subjectFamily, type Bus } from "@weelo/bus";
import { EventEnvelope } from "@weelo/contracts/grpc/weelo/events/v1/envelope";
import { currentContext, type Logger } from "@weelo/log";
import { inRemoteContext, traceHeaders, tracingEnabled } from "@weelo/telemetry";
import { startPolling, type Polling } from "@weelo/runtime/polling";
import { sql, type ColumnType, type Generated, type Kysely } from "kysely";

/** The outbox table, in the schema of each service that publishes events. */
export interface OutboxTable {
  /** The event id: the envelope id and the JetStream message id. */
  id: string;
  /** Publication order. */
  position: ColumnType<string, never, never>;
  subject: string;
  /** The encoded weelo.events.v1.EventEnvelope. */
  payload: Buffer;
  request_id: Generated<string>;
  created_at: ColumnType<Date, Date | undefined, never>;
  published_at: Date | null;
}

export interface OutboxDatabase {
  outbox: OutboxTable;
}

/**
 * Any service database (or transaction) whose schema has the outbox table: services declare
 * `outbox: OutboxTable` in their own database type and pass their db or trx here.
 */
// biome-ignore lint/suspicious/noExplicitAny: any service's database or transaction: its own tables are unknown here
export type AnyDatabaseWithOutbox = Kysely<any>;

/**
 * Creates the outbox table and its index. Version 1, frozen like any migration: services
 * call it from a migration, and a change of shape becomes createOutboxTableV2.
 */
export async function createOutboxTableV1(db: AnyDatabaseWithOutbox): Promise<void> {
  await db.schema
    .createTable("outbox")
    .addColumn("id", "uuid", (c) => c.primaryKey())
    .addColumn("position", "bigserial", (c) => c.notNull().unique())
    .addColumn("subject", "text", (c) => c.notNull())
    .addColumn("payload", "bytea", (c) => c.notNull())
    .addColumn("request_id", "text", (c) => c.notNull().defaultTo(""))
    .addColumn("created_at", "timestamptz", (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn("published_at", "timestamptz")
    .execute();
  await db.schema
    .createIndex("outbox_unpublished_idx")
    .on("outbox")
    .column("position")
    .where(sql.ref("published_at"), "is", null)
    .execute();
}

export interface OutboxEvent {
  /** Subject published on, e.g. "fleet.driver.availability". */
  subject: string;
  /** Event type (the subject under the default subject root). */
  type: string;
  /** Id of the entity the event is about; `sequence` counts that entity's events. */
  subjectId: string;
  sequence: number;
  occurredAt: Date;
  /** Fully qualified protobuf name of the payload, e.g. "weelo.fleet.v1.DriverAvailabilityChanged". */
  payloadType: string;
  payload: Uint8Array;
}

/** Writes an event, wrapped in its envelope, in the transaction of the change it describes. */
export async function enqueueEvent(trx: AnyDatabaseWithOutbox, event: OutboxEvent): Promise<string> {
  const row = outboxRow(event);
  await (trx as Kysely<OutboxDatabase>).insertInto("outbox").values(row).execute();
  return row.id;
}

/** Writes several events in one statement, in the transaction of the change they describe. */
export async function enqueueEvents(trx: AnyDatabaseWithOutbox, events: readonly OutboxEvent[]): Promise<void> {
  if (events.length === 0) return;
  await (trx as Kysely<OutboxDatabase>).insertInto("outbox").values(events.map(outboxRow)).execute();
}

/**
 * The outbox row of an event (its envelope, with the request id and trace context of the
 * current call), for a service that writes it in the same statement as its change.
 */
export function outboxRow(event: OutboxEvent): { id: string; subject: string; payload: Buffer; request_id: string } {
  const id = uuidv7();
  const requestId = currentContext()?.requestId ?? "";
  const envelope = EventEnvelope.encode({
    id,
    type: event.type,
    subjectId: event.subjectId,
    sequence: event.sequence,
    occurredAt: event.occurredAt,
    payload: { typeUrl: `type.googleapis.com/${event.payloadType}`, value: Buffer.from(event.payload) },
    requestId,
    // The relay publishes later, outside this call: the envelope carries its trace onward.
    ...traceHeaders(),
  }).finish();
  return { id, subject: event.subject, payload: Buffer.from(envelope), request_id: requestId };
}

export interface OutboxRelayOptions {
  db: AnyDatabaseWithOutbox;
  bus: Pick<Bus, "publishEvent">;
  logger: Logger;
  /** Look for rows this often even when not kicked (rows of crashed processes, other replicas). */
  pollMs: number;
  batchSize: number;
  /** Published rows older than this are deleted. */
  retentionMs: number;
  /** The process's metrics (platform.metrics): publish lag goes to weelo_outbox_publish_lag_seconds. */
  metrics?: { outboxLag: { observe(labels: { family: string }, seconds: number): void } };
}

/** Publishes the outbox: kicked after each commit that wrote events, and polling as a safety net. */
export class OutboxRelay {
  private loop: Polling | undefined;
  private lastPrune = 0;
  /**
   * Rows are known to wait (a kick after a commit, or a full round): the next round claims at
   * once. Otherwise a round only looks first, so an idle poll is one read, not a transaction.
   */
  private expecting = false;

  private readonly db: Kysely<OutboxDatabase>;

  constructor(private readonly options: OutboxRelayOptions) {
    this.db = options.db as Kysely<OutboxDatabase>;
  }

  start(): void {
    if (this.loop) return;
    const { logger, pollMs, batchSize } = this.options;
    // A full batch or a kick during a round is followed at once by the next round; while
    // publishing fails the pause doubles up to 30 polls, so a dead broker is not hammered.
    this.loop = startPolling({
      name: "outbox relay",
      everyMs: pollMs,
      maxBackoff: 30,
      logger,
      task: async () => {
        const expected = this.expecting;
        this.expecting = false;
        const full = (expected || (await this.anyUnpublished())) && (await this.publishBatch()) === batchSize;
        if (full) this.expecting = true;
        if (Date.now() - this.lastPrune > 60_000) {
          this.lastPrune = Date.now();
          await this.prune();
        }
        return full;
      },
    });
  }

  /** Asks for a publish round now (after a commit that wrote events). */
  kick(): void {
    this.expecting = true;
    this.loop?.kick();
  }

  /** Stops after the round in progress; unpublished rows stay for the next start. */
  async stop(): Promise<void> {
    const loop = this.loop;
    this.loop = undefined;
    await loop?.stop();
  }

  /**
   * One publish round: claims the oldest unpublished rows that no other relay holds and marks
   * them published in one statement (the marks commit with the round, so a crash leaves them
   * unpublished), publishes them in order, all at once, and takes the mark back from those from
   * the first failure on (they wait for the next round). Returns how many rows were published.
   */
  async publishBatch(): Promise<number> {
    const { bus, batchSize } = this.options;
    const round = await this.db.transaction().execute(async (trx) => {
      const claimed = await trx
        .updateTable("outbox")
        .set({ published_at: new Date() })
        .where("id", "in", (eb) =>
          eb
            .selectFrom("outbox")
            .select("id")
            .where("published_at", "is", null)
            .orderBy("position")
            .limit(batchSize)
            .forUpdate()
            .skipLocked(),
        )
        .where("published_at", "is", null)
        .returning(["id", "subject", "payload", "request_id", "position"])
        .execute();
      // RETURNING keeps no order: the rows go out in the order they were written.
      const rows = claimed.sort((a, b) => (BigInt(a.position) < BigInt(b.position) ? -1 : 1));
      // Published together, in order: one connection keeps their order to the stream, and the
      // acknowledgements come back in one round trip instead of one each.
      const results = await Promise.allSettled(
        rows.map((row) => {
          const headers = row.request_id ? { [REQUEST_ID_HEADER]: row.request_id } : undefined;
          const traceContext = tracingEnabled() ? traceContextOf(row.payload) : undefined;
          return inRemoteContext(traceContext, () =>
            bus.publishEvent(row.subject, row.payload, { msgId: row.id, ...(headers ? { headers } : {}) }),
          );
        }),
      );
      // Only the rows before the first failure count as published: the ones after it that made it
      // are published again next round and dropped by the stream as duplicates of their id.
      const failed = results.findIndex((r) => r.status === "rejected");
      const done = failed === -1 ? rows : rows.slice(0, failed);
      const failure: unknown = failed === -1 ? undefined : (results[failed] as PromiseRejectedResult).reason;
      for (const row of done)
        this.options.metrics?.outboxLag.observe(
          { family: subjectFamily(row.subject) },
          Math.max(0, Date.now() - writtenAt(row.id)) / 1000,
        );
      if (failed !== -1) {
        await trx
          .updateTable("outbox")
          .set({ published_at: null })
          .where(
            "id",
            "in",
            rows.slice(failed).map((row) => row.id),
          )
          .execute();
      }
      return { published: done.length, failed: failed !== -1, failure };
    });
    // Thrown after the commit, so the rows published before the failure stay marked.
    if (round.failed)
      throw Object.assign(new Error("publishing an outbox event failed"), {
        cause: round.failure,
        published: round.published,
      });
    return round.published;
  }

  /** Deletes published rows past the retention. */
  async prune(): Promise<number> {
    const cutoff = new Date(Date.now() - this.options.retentionMs);
    const result = await this.db
      .deleteFrom("outbox")
      .where("published_at", "is not", null)
      .where("published_at", "<", cutoff)
      .executeTakeFirst();
    return Number(result.numDeletedRows);
  }

  /** Whether any row waits (one read on the unpublished rows' partial index). */
  private async anyUnpublished(): Promise<boolean> {
    const row = await this.db
      .selectFrom("outbox")
      .select("id")
      .where("published_at", "is", null)
      .limit(1)
      .executeTakeFirst();
    return row !== undefined;
  }

  /** Rows not yet published (for tests and diagnostics). */
  async pending(): Promise<number> {
    const row = await this.db
      .selectFrom("outbox")
      .select(sql<string>`count(*)`.as("count"))
      .where("published_at", "is", null)
      .executeTakeFirstOrThrow();
    return Number(row.count);
  }
}

/** The trace context an event's envelope carries (see enqueueEvent). */
function traceContextOf(payload: Uint8Array): Record<string, string> | undefined {
  const { traceparent, tracestate } = EventEnvelope.decode(payload);
  if (!traceparent) return undefined;
  return tracestate ? { traceparent, tracestate } : { traceparent };
}

/** When an outbox row was written: its id is a UUIDv7, whose first 48 bits are the Unix time in ms. */
function writtenAt(id: string): number {
  return Number.parseInt(id.replace(/-/g, "").slice(0, 12), 16);
}

/** The relay's settings, the same in every service that publishes through an outbox. */
export const outboxConfigShape = {
  /** The outbox relay looks for unpublished events this often even when nothing woke it (ms). */
  OUTBOX_POLL_MS: envInt(1000, 10, 60_000),
  /** Events the relay publishes per transaction. */
  OUTBOX_BATCH_SIZE: envInt(100, 1, 10_000),
  /** Published events are kept in the outbox this long, for inspection, then deleted (hours). */
  OUTBOX_RETENTION_H: envInt(24, 1, 24 * 30),
};

export interface OutboxConfig {
  OUTBOX_POLL_MS: number;
  OUTBOX_BATCH_SIZE: number;
  OUTBOX_RETENTION_H: number;
}

/** What the relay needs of the process (a @weelo/runtime Platform has it all). */
export interface OutboxHost {
  bus: Pick<Bus, "publishEvent">;
  logger: Logger;
  metrics?: OutboxRelayOptions["metrics"];
  onShutdown(name: string, fn: () => Promise<void>): void;
}

/**
 * Starts a service's relay and stops it at shutdown. Call it after the database is opened: the
 * relay is then stopped (finishing its round) before the database closes.
 */
export function startOutboxRelay(
  host: OutboxHost,
  db: AnyDatabaseWithOutbox,
  config: OutboxConfig,
  service: string,
): OutboxRelay {
  const relay = new OutboxRelay({
    db,
    bus: host.bus,
    logger: host.logger.child({ component: `${service}-outbox` }),
    pollMs: config.OUTBOX_POLL_MS,
    batchSize: config.OUTBOX_BATCH_SIZE,
    retentionMs: config.OUTBOX_RETENTION_H * 3600 * 1000,
    ...(host.metrics ? { metrics: host.metrics } : {}),
  });
  relay.start();
  host.onShutdown(`${service} outbox relay`, () => relay.stop());
  return relay;
}
