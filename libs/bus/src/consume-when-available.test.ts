/**
 * consumeWhenAvailable against the in-process broker and, when NATS_URL is set, a real NATS
 * server: a consumer started before its stream exists picks the stream up when it appears,
 * and one stopped first leaves nothing running behind. Every test uses its own stream.
 */
import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import { capturingLogger, sleep, uniqueSuffix, until } from "@weelo/testing";
import { consumeWhenAvailable, createBus, type Bus, type ConsumeOptions, type Consumer } from "./index.js";

const NATS_URL = process.env.NATS_URL;
const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array) => new TextDecoder().decode(b);

const backends = [
  { name: "memory", url: undefined, skip: false as const },
  { name: "nats", url: NATS_URL, skip: NATS_URL ? (false as const) : "NATS_URL not set" },
];

/** The bus, seen through its consume calls: how many were made and how many consumers run now. */
function countingConsumes(bus: Bus, beforeConsume: () => Promise<void> = async () => {}) {
  const counts = { attempts: 0, running: 0 };
  const counted: Pick<Bus, "consume"> = {
    async consume(options: ConsumeOptions): Promise<Consumer> {
      counts.attempts++;
      await beforeConsume();
      const consumer = await bus.consume(options);
      counts.running++;
      return {
        async stop() {
          counts.running--;
          await consumer.stop();
        },
      };
    },
  };
  return { counts, bus: counted };
}

for (const backend of backends) {
  describe(`consumeWhenAvailable (${backend.name})`, { skip: backend.skip }, () => {
    const buses: Bus[] = [];
    const streams: { bus: Bus; name: string }[] = [];
    const { logger, lines } = capturingLogger("bus-test");

    function newBus(): Bus {
      const bus = createBus({ config: { NATS_URL: backend.url }, service: "bus-test", logger });
      buses.push(bus);
      return bus;
    }
    /** A stream name and subject prefix of this test's own, not created yet. */
    function laterStream(bus: Bus): { name: string; prefix: string; create(): Promise<void> } {
      const name = `t_${uniqueSuffix()}`;
      return {
        name,
        prefix: name,
        async create() {
          await bus.ensureStream({ name, subjects: [`${name}.>`], maxAgeMs: 60_000 });
          streams.push({ bus, name });
        },
      };
    }
    const warningsAbout = (stream: string) => lines.filter((l) => l.level === "warn" && l.stream === stream).length;

    after(async () => {
      for (const { bus, name } of streams) await bus.deleteStream(name);
      await Promise.all(buses.map((b) => b.close()));
    });

    it("handles the stream's messages once its producer creates it after the consumer started", async () => {
      const bus = newBus();
      const stream = laterStream(bus);
      const { counts, bus: counted } = countingConsumes(bus);
      const got: string[] = [];
      const pending = consumeWhenAvailable(
        counted,
        { stream: stream.name, durable: "late", streamWaitMs: 20, handler: (m) => void got.push(dec(m.data)) },
        logger,
      );
      let ready = false;
      void pending.ready.then(() => (ready = true));
      try {
        await until("a few attempts without the stream", () => counts.attempts >= 3);
        assert.equal(ready, false, "not ready while the stream is missing");
        assert.equal(warningsAbout(stream.name), 1, "the first failure is logged, not every one");
        await stream.create();
        await bus.publishEvent(`${stream.prefix}.x`, enc("first"), { msgId: uniqueSuffix() });
        await pending.ready;
        await bus.publishEvent(`${stream.prefix}.x`, enc("second"), { msgId: uniqueSuffix() });
        await until("both messages handled", () => got.length === 2);
        assert.deepEqual(got, ["first", "second"]);
        assert.equal(counts.running, 1);
      } finally {
        await pending.stop();
      }
      assert.equal(counts.running, 0, "stop() stops the consumer");
    });

    it("stopped before the stream exists, leaves no consumer and stops looking", async () => {
      const bus = newBus();
      const stream = laterStream(bus);
      const { counts, bus: counted } = countingConsumes(bus);
      const got: string[] = [];
      const pending = consumeWhenAvailable(
        counted,
        { stream: stream.name, durable: "never", streamWaitMs: 20, handler: (m) => void got.push(dec(m.data)) },
        logger,
      );
      await until("a first attempt", () => counts.attempts >= 1);
      await pending.stop();
      await pending.ready;
      const attemptsAtStop = counts.attempts;
      await stream.create();
      await bus.publishEvent(`${stream.prefix}.x`, enc("unheard"), { msgId: uniqueSuffix() });
      await sleep(200); // ten retry periods: nothing may look for the stream or take its message
      assert.equal(counts.attempts, attemptsAtStop, "no attempt after stop()");
      assert.equal(counts.running, 0);
      assert.deepEqual(got, []);
    });

    it("stopped while the consumer is being created, stops that consumer before stop() resolves", async () => {
      const bus = newBus();
      const stream = laterStream(bus);
      await stream.create();
      let letConsumeFinish!: () => void;
      const consumeHeld = new Promise<void>((resolve) => (letConsumeFinish = resolve));
      const { counts, bus: counted } = countingConsumes(bus, () => consumeHeld);
      const pending = consumeWhenAvailable(
        counted,
        { stream: stream.name, durable: "racing", handler: () => {} },
        logger,
      );
      await until("the consume call is under way", () => counts.attempts === 1);
      const stopping = pending.stop();
      letConsumeFinish();
      await stopping;
      assert.equal(counts.attempts, 1);
      assert.equal(counts.running, 0, "the consumer created during stop() was stopped");
    });

    it("logs the first failed attempt and then every 30th", async () => {
      const bus = newBus();
      const stream = laterStream(bus);
      const { counts, bus: counted } = countingConsumes(bus);
      const pending = consumeWhenAvailable(
        counted,
        { stream: stream.name, durable: "patient", streamWaitMs: 1, handler: () => {} },
        logger,
      );
      await until("31 attempts", () => counts.attempts >= 31);
      await pending.stop();
      assert.equal(warningsAbout(stream.name), 1 + Math.floor(counts.attempts / 30), `${counts.attempts} attempts`);
    });
  });
}
