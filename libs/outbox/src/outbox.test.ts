/**
 * The outbox against the embedded database, or real Postgres when DATABASE_URL is set: an
 * event exists exactly when its transaction commits, nothing is lost when the publisher is
 * down or the process stops, and concurrent relays publish each row once.
 */
import assert from "node:assert/strict";
import { rm } from "node:fs/promises";
import { after, before, describe, it } from "node:test";
import { baseConfigSchema } from "@weelo/config";
import { EventEnvelope } from "@weelo/contracts/grpc/weelo/events/v1/envelope";
import { createDatabase, dropSchema, embeddedTestDataDir, testSchemaName, type Database } from "@weelo/db";
import { createLogger } from "@weelo/log";
import { until } from "@weelo/testing";
import { createOutboxTableV1, enqueueEvent, OutboxRelay, type OutboxDatabase, type OutboxEvent } from "./index.js";

const outboxMigrations = { "2026_11_26_001_create_outbox": { up: createOutboxTableV1 } };

const logger = createLogger({ service: "outbox-test", level: "silent" });

/** A bus that records what it stores (by message id, dropping repeats like JetStream) and can fail on demand. */
function recordingBus() {
  const stored = new Map<string, { subject: string; data: Uint8Array }>();
  const publishes: string[] = [];
  let down = false;
  const failOnce = new Set<string>();
  return {
    stored,
    publishes,
    setDown: (value: boolean) => {
      down = value;
    },
    /** The next publish of this message id fails (a lost acknowledgement, say). */
    failOnce: (msgId: string) => void failOnce.add(msgId),
    async publishEvent(subject: string, data: Uint8Array, options: { msgId: string }) {
      await new Promise((resolve) => setImmediate(resolve));
      if (down) throw new Error("broker unavailable");
      if (failOnce.delete(options.msgId)) throw new Error("publish timed out");
      publishes.push(options.msgId);
      const duplicate = stored.has(options.msgId);
      if (!duplicate) stored.set(options.msgId, { subject, data });
      return { duplicate, seq: stored.size };
    },
  };
}

const event = (n: number): OutboxEvent => ({
  subject: "t.fleet.driver.availability",
  type: "fleet.driver.availability",
  subjectId: "driver-1",
  sequence: n,
  occurredAt: new Date(),
  payloadType: "weelo.fleet.v1.DriverAvailabilityChanged",
  payload: new Uint8Array([n]),
});

describe("transactional outbox", () => {
  let database: Database<OutboxDatabase>;
  let dataDir: string;
  const config = baseConfigSchema.parse({
    DATABASE_URL: process.env.DATABASE_URL,
    DB_POOL_MIN: "0",
    DB_POOL_MAX: "10",
  });
  const schema = testSchemaName("outbox");

  before(async () => {
    dataDir = await embeddedTestDataDir();
    database = await createDatabase<OutboxDatabase>({
      service: "outbox",
      schema,
      config: { ...config, DATA_DIR: dataDir },
      migrations: outboxMigrations,
      logger,
    });
  });
  after(async () => {
    if (config.DATABASE_URL) await dropSchema(database, schema);
    await database.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  const relay = (bus: ReturnType<typeof recordingBus>, batchSize = 100) =>
    new OutboxRelay({ db: database.db, bus, logger, pollMs: 20, batchSize, retentionMs: 3600_000 });
  const clear = () => database.db.deleteFrom("outbox").execute();

  it("writes an event only when its transaction commits, wrapped in an envelope", async () => {
    await clear();
    await assert.rejects(
      database.db.transaction().execute(async (trx) => {
        await enqueueEvent(trx, event(1));
        throw new Error("the change failed");
      }),
      /the change failed/,
    );
    const id = await database.db.transaction().execute((trx) => enqueueEvent(trx, event(2)));
    const bus = recordingBus();
    assert.equal(await relay(bus).publishBatch(), 1);
    const stored = bus.stored.get(id)!;
    assert.equal(stored.subject, "t.fleet.driver.availability");
    const envelope = EventEnvelope.decode(stored.data);
    assert.equal(envelope.id, id);
    assert.equal(envelope.sequence, 2);
    assert.equal(envelope.payload!.typeUrl, "type.googleapis.com/weelo.fleet.v1.DriverAvailabilityChanged");
    assert.deepEqual([...envelope.payload!.value], [2]);
    assert.equal(await relay(bus).publishBatch(), 0, "published rows are not published again");
  });

  it("keeps events while the broker is down, then publishes them in order", async () => {
    await clear();
    const bus = recordingBus();
    bus.setDown(true);
    const r = relay(bus);
    r.start();
    const ids: string[] = [];
    for (let n = 1; n <= 5; n++)
      ids.push(await database.db.transaction().execute((trx) => enqueueEvent(trx, event(n))));
    r.kick();
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.equal(await r.pending(), 5, "nothing is lost or marked while publishing fails");
    bus.setDown(false);
    await until("the backlog to drain", async () => (await r.pending()) === 0, 10_000);
    await r.stop();
    assert.deepEqual([...bus.stored.keys()], ids, "published in the order written");
  });

  it("a failure in the middle of a batch: the rows before it are marked, the rest are published again and stored once", async () => {
    await clear();
    const bus = recordingBus();
    const ids: string[] = [];
    for (let n = 1; n <= 6; n++)
      ids.push(await database.db.transaction().execute((trx) => enqueueEvent(trx, event(n))));
    bus.failOnce(ids[2]!);
    const r = relay(bus);
    await assert.rejects(r.publishBatch(), /publishing an outbox event failed/);
    assert.equal(await r.pending(), 4, "the failed row and those after it stay unpublished");
    assert.equal(await r.publishBatch(), 4);
    assert.deepEqual(new Set(bus.stored.keys()), new Set(ids), "every event stored once");
    assert.equal(
      bus.publishes.filter((id) => id === ids[4]).length,
      2,
      "a row after the failure was sent twice; the stream keeps one",
    );
  });

  it("publishes what a stopped process left behind when a relay starts again", async () => {
    await clear();
    const first = relay(recordingBus());
    first.start();
    await first.stop();
    const id = await database.db.transaction().execute((trx) => enqueueEvent(trx, event(1)));
    const bus = recordingBus();
    const second = relay(bus);
    second.start();
    await until("the leftover event", () => bus.stored.has(id));
    await second.stop();
  });

  it("publishes every row exactly once with several relays at work", async () => {
    await clear();
    const bus = recordingBus();
    const relays = Array.from({ length: 4 }, () => relay(bus, 7));
    const ids: string[] = [];
    for (let n = 1; n <= 60; n++)
      ids.push(await database.db.transaction().execute((trx) => enqueueEvent(trx, event(n))));
    await Promise.all(
      relays.map(async (r) => {
        while ((await r.publishBatch()) > 0);
      }),
    );
    assert.equal(await relays[0]!.pending(), 0);
    assert.deepEqual([...bus.publishes].sort(), [...ids].sort(), "each row published once, none twice");
  });

  it("prunes published rows past the retention", async () => {
    await clear();
    await database.db.transaction().execute((trx) => enqueueEvent(trx, event(1)));
    const r = relay(recordingBus());
    await r.publishBatch();
    await database.db
      .updateTable("outbox")
      .set({ published_at: new Date(Date.now() - 2 * 3600_000) })
      .execute();
    await database.db.transaction().execute((trx) => enqueueEvent(trx, event(2)));
    assert.equal(await r.prune(), 1);
    assert.equal(await r.pending(), 1, "unpublished rows are never pruned");
  });
});
