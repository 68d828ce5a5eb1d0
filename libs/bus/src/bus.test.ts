/**
 * The bus contract: the same tests run against the in-process broker and, when NATS_URL is
 * set, against a real NATS server with JetStream. Every test uses its own random subjects
 * (t_<random>.…) and streams, and deletes its streams when done. Two buses stand for two
 * processes (two connections to the same server, or two clients of the same broker).
 */
import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import { isDeepStrictEqual } from "node:util";
import { createLogger, currentContext, runWithContext } from "@weelo/log";
import { Metrics } from "@weelo/metrics";
import { sleep, uniqueSuffix, until } from "@weelo/testing";
import {
  createBus,
  type Bus,
  type BusMessage,
  type ConsumeOptions,
  type Consumer,
  type DeadLetter,
  type EventMessage,
} from "./index.js";

const logger = createLogger({ service: "bus-test", level: "silent" });
const NATS_URL = process.env.NATS_URL;
const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array) => new TextDecoder().decode(b);
const rand = () => uniqueSuffix();

/** Polls a predicate (see @weelo/testing's until) every 10 ms, for at most 5 s by default. */
const eventually = (what: string, condition: () => boolean, timeoutMs = 5000) => until(what, condition, timeoutMs, 10);

const backends = [
  { name: "memory", url: undefined, skip: false as const },
  { name: "nats", url: NATS_URL, skip: NATS_URL ? (false as const) : "NATS_URL not set" },
];

for (const backend of backends) {
  describe(`bus contract (${backend.name})`, { skip: backend.skip }, () => {
    const buses: Bus[] = [];
    const streams: { bus: Bus; name: string }[] = [];
    const consumers: Consumer[] = [];

    function newBus(metrics?: Metrics): Bus {
      const bus = createBus({ config: { NATS_URL: backend.url }, service: "bus-test", logger, metrics });
      buses.push(bus);
      return bus;
    }
    /** A fresh stream on t_<random>.> ; the suite deletes it at the end. */
    async function newStream(
      bus: Bus,
      options: { duplicateWindowMs?: number } = {},
    ): Promise<{ name: string; prefix: string }> {
      const id = rand();
      const name = `t_${id}`;
      const prefix = `t_${id}`;
      await bus.ensureStream({ name, subjects: [`${prefix}.>`], maxAgeMs: 60_000, ...options });
      streams.push({ bus, name });
      return { name, prefix };
    }
    async function consume(bus: Bus, options: ConsumeOptions): Promise<Consumer> {
      const consumer = await bus.consume(options);
      consumers.push(consumer);
      return consumer;
    }

    after(async () => {
      await Promise.all(consumers.map((c) => c.stop()));
      for (const { bus, name } of streams) await bus.deleteStream(name);
      await Promise.all(buses.map((b) => b.close()));
    });

    it("reports its kind and answers ping", async () => {
      const bus = newBus();
      assert.equal(bus.kind, backend.name);
      await bus.ping();
    });

    it("delivers core messages by subject with * and > wildcards", async () => {
      const sub = newBus();
      const pub = newBus();
      const p = `t_${rand()}`;
      const got: Record<string, string[]> = { exact: [], star: [], tail: [] };
      sub.subscribe(`${p}.a`, (m) => void got.exact!.push(m.subject));
      sub.subscribe(`${p}.*`, (m) => void got.star!.push(m.subject));
      sub.subscribe(`${p}.>`, (m) => void got.tail!.push(m.subject));
      await sub.ping(); // the subscriptions have reached the server
      for (const s of ["a", "a.b", "b", "a.b.c"]) pub.publish(`${p}.${s}`, enc(s));
      pub.publish(`${p}`, enc("not below the prefix"));
      await eventually("got.tail.length = 4", () => got.tail!.length === 4);
      await sleep(50);
      assert.deepEqual(got.exact, [`${p}.a`]);
      assert.deepEqual(got.star, [`${p}.a`, `${p}.b`]);
      assert.deepEqual(got.tail, [`${p}.a`, `${p}.a.b`, `${p}.b`, `${p}.a.b.c`]);
    });

    it("gives each message to one member of each queue group and to every plain subscriber", async () => {
      const processes = [newBus(), newBus(), newBus()];
      const pub = newBus();
      const p = `t_${rand()}`;
      const members = processes.map(() => [] as string[]);
      const other: string[] = [];
      const plain: string[] = [];
      for (const [i, bus] of processes.entries()) {
        bus.subscribe(`${p}.job`, (m) => void members[i]!.push(dec(m.data)), { queue: "workers" });
      }
      processes[0]!.subscribe(`${p}.*`, (m) => void other.push(dec(m.data)), { queue: "auditors" });
      processes[1]!.subscribe(`${p}.job`, (m) => void plain.push(dec(m.data)));
      await Promise.all(processes.map((b) => b.ping()));
      for (let i = 0; i < 30; i++) pub.publish(`${p}.job`, enc(String(i)));
      await eventually("members.flat().length = 30", () => members.flat().length === 30);
      await eventually("plain.length = 30", () => plain.length === 30);
      await eventually("other.length = 30", () => other.length === 30);
      await sleep(50);
      const all = members.flat();
      assert.equal(all.length, 30);
      assert.equal(new Set(all).size, 30, "no message reached two members of one group");
      assert.ok(members.filter((m) => m.length > 0).length >= 2, `work was shared: ${members.map((m) => m.length)}`);
    });

    it("stops delivering after unsubscribe", async () => {
      const bus = newBus();
      const p = `t_${rand()}`;
      const got: string[] = [];
      const sub = bus.subscribe(`${p}.x`, (m) => void got.push(dec(m.data)));
      await bus.ping();
      bus.publish(`${p}.x`, enc("1"));
      await eventually("got.length = 1", () => got.length === 1);
      sub.unsubscribe();
      await bus.ping();
      bus.publish(`${p}.x`, enc("2"));
      await sleep(80);
      assert.deepEqual(got, ["1"]);
    });

    it("carries the request id and headers to core subscribers", async () => {
      const sub = newBus();
      const pub = newBus();
      const p = `t_${rand()}`;
      const seen: { ctx: string | undefined; msg: BusMessage }[] = [];
      sub.subscribe(`${p}.>`, (msg) => void seen.push({ ctx: currentContext()?.requestId, msg }));
      await sub.ping();
      runWithContext({ requestId: "req-core-1" }, () =>
        pub.publish(`${p}.a`, enc("x"), { headers: { "x-custom": "yes" } }),
      );
      pub.publish(`${p}.b`, enc("y")); // outside any request
      await eventually("seen.length = 2", () => seen.length === 2);
      const [first, second] = seen.sort((a, b) => a.msg.subject.localeCompare(b.msg.subject));
      assert.equal(first!.ctx, "req-core-1");
      assert.equal(first!.msg.headers["x-request-id"], "req-core-1");
      assert.equal(first!.msg.headers["x-custom"], "yes");
      assert.ok(second!.ctx && second!.ctx !== "req-core-1", "a message without one gets a fresh request id");
      assert.equal(second!.msg.headers["x-request-id"], undefined);
    });

    it("rejects wildcard publishes and malformed subjects", () => {
      const bus = newBus();
      assert.throws(() => bus.publish("t.*", enc("x")), /wildcard/);
      assert.throws(() => bus.publish("t..x", enc("x")), /invalid subject/);
      assert.throws(() => bus.subscribe("t.>.x", () => {}), /last token/);
    });

    it("drops a re-published event id within the duplicate window", async () => {
      const metrics = new Metrics({ defaultMetrics: false });
      const bus = newBus(metrics);
      const { name, prefix } = await newStream(bus);
      const first = await bus.publishEvent(`${prefix}.created`, enc("one"), { msgId: "evt-1" });
      const again = await bus.publishEvent(`${prefix}.created`, enc("one again"), { msgId: "evt-1" });
      const second = await bus.publishEvent(`${prefix}.created`, enc("two"), { msgId: "evt-2" });
      assert.deepEqual(first, { duplicate: false, seq: 1 });
      assert.deepEqual(again, { duplicate: true, seq: 1 });
      assert.deepEqual(second, { duplicate: false, seq: 2 });
      const got: EventMessage[] = [];
      await consume(bus, { stream: name, durable: "dedup", handler: (m) => void got.push(m) });
      await eventually("got.length = 2", () => got.length === 2);
      await sleep(50);
      assert.deepEqual(
        got.map((m) => [m.msgId, dec(m.data), m.seq, m.deliveryCount]),
        [
          ["evt-1", "one", 1, 1],
          ["evt-2", "two", 2, 1],
        ],
      );
      const out = (await metrics.busMessages.get()).values.filter((v) => v.labels.direction === "out");
      assert.deepEqual(out.map((v) => [v.labels.outcome, v.value]).sort(), [
        ["duplicate", 1],
        ["ok", 2],
      ]);
    });

    it("shows events to plain subscribers of their subject too, as NATS does", async () => {
      const bus = newBus();
      const { prefix } = await newStream(bus);
      const seen: string[] = [];
      const subscription = bus.subscribe(`${prefix}.>`, (m) => void seen.push(`${m.subject}:${dec(m.data)}`));
      await sleep(50); // the NATS subscription reaches the server
      await bus.publishEvent(`${prefix}.created`, enc("one"), { msgId: "evt-core-1" });
      await eventually("the core subscriber sees the event", () => seen.length === 1);
      assert.deepEqual(seen, [`${prefix}.created:one`]);
      subscription.unsubscribe();
    });

    it("rejects an event without a msgId or for a subject no stream stores", async () => {
      const bus = newBus();
      await assert.rejects(bus.publishEvent(`t_${rand()}.nowhere`, enc("x"), { msgId: rand() }));
      await assert.rejects(bus.publishEvent(`t_${rand()}.nowhere`, enc("x"), { msgId: "" }), /msgId/);
    });

    it("redelivers an event whose handler threw, after the retry delay", async () => {
      const bus = newBus();
      const { name, prefix } = await newStream(bus);
      const deliveries: { count: number; at: number }[] = [];
      await consume(bus, {
        stream: name,
        durable: "retry",
        retryDelayMs: 150,
        handler: (m) => {
          deliveries.push({ count: m.deliveryCount, at: Date.now() });
          if (m.deliveryCount === 1) throw new Error("transient");
        },
      });
      await bus.publishEvent(`${prefix}.x`, enc("x"), { msgId: rand() });
      await eventually("deliveries.length = 2", () => deliveries.length === 2);
      await sleep(200);
      assert.deepEqual(
        deliveries.map((d) => d.count),
        [1, 2],
      );
      const gap = deliveries[1]!.at - deliveries[0]!.at;
      assert.ok(gap >= 130, `redelivered after ${gap} ms`);
    });

    it("redelivers an event not acked within ackWait", async () => {
      const bus = newBus();
      const { name, prefix } = await newStream(bus);
      const deliveries: { count: number; at: number }[] = [];
      const finished: number[] = [];
      await consume(bus, {
        stream: name,
        durable: "slow",
        ackWaitMs: 300,
        concurrency: 2, // a free slot to receive the redelivery while the first handler still runs
        handler: async (m) => {
          deliveries.push({ count: m.deliveryCount, at: Date.now() });
          if (m.deliveryCount === 1) await sleep(800);
          finished.push(m.deliveryCount);
        },
      });
      await bus.publishEvent(`${prefix}.x`, enc("x"), { msgId: rand() });
      await eventually("deliveries.length = 2", () => deliveries.length === 2);
      assert.ok(!finished.includes(1), "the redelivery came while the first handler was still running");
      const gap = deliveries[1]!.at - deliveries[0]!.at;
      assert.ok(gap >= 250 && gap < 800, `redelivered after ${gap} ms`);
      await eventually("both handlers finished", () => finished.length === 2);
      await sleep(400); // both deliveries are acked (one late): nothing more comes
      assert.deepEqual(
        deliveries.map((d) => d.count),
        [1, 2],
      );
    });

    it("hands a message to onDeadLetter after maxDeliver failed deliveries", async () => {
      const bus = newBus();
      const { name, prefix } = await newStream(bus);
      const counts: number[] = [];
      const dead: DeadLetter[] = [];
      await consume(bus, {
        stream: name,
        durable: "dlq",
        maxDeliver: 3,
        retryDelayMs: 20,
        handler: (m) => {
          counts.push(m.deliveryCount);
          throw new Error(`boom ${m.deliveryCount}`);
        },
        onDeadLetter: (d) => void dead.push(d),
      });
      await runWithContext({ requestId: "req-dlq" }, () =>
        bus.publishEvent(`${prefix}.bad`, enc("payload"), { msgId: "evt-bad" }),
      );
      await eventually("dead.length = 1", () => dead.length === 1);
      await sleep(200);
      assert.deepEqual(counts, [1, 2, 3]);
      const letter = dead[0]!;
      assert.equal(letter.reason, "boom 3");
      assert.equal(letter.deliveryCount, 3);
      assert.equal(letter.msgId, "evt-bad");
      assert.equal(letter.durable, "dlq");
      assert.equal(letter.stream, name);
      assert.equal(letter.subject, `${prefix}.bad`);
      assert.equal(dec(letter.data), "payload");
      assert.equal(letter.headers["x-request-id"], "req-dlq");
    });

    it("dead-letters a message whose last delivery timed out, without running the handler again", async () => {
      const bus = newBus();
      const { name, prefix } = await newStream(bus);
      const counts: number[] = [];
      const dead: DeadLetter[] = [];
      await consume(bus, {
        stream: name,
        durable: "hung",
        maxDeliver: 2,
        ackWaitMs: 200,
        concurrency: 3,
        handler: async (m) => {
          counts.push(m.deliveryCount);
          await sleep(700); // never in time
        },
        onDeadLetter: (d) => void dead.push(d),
      });
      await bus.publishEvent(`${prefix}.slow`, enc("x"), { msgId: rand() });
      await eventually("dead.length = 1", () => dead.length === 1);
      assert.deepEqual(counts, [1, 2]);
      assert.equal(dead[0]!.deliveryCount, 3);
      assert.match(dead[0]!.reason, /not acknowledged within 2 deliveries/);
    });

    it("keeps a message whose dead-letter handler failed, and dead-letters it again", async () => {
      const bus = newBus();
      const { name, prefix } = await newStream(bus);
      let attempts = 0;
      const dead: DeadLetter[] = [];
      await consume(bus, {
        stream: name,
        durable: "dlq-retry",
        maxDeliver: 1,
        retryDelayMs: 20,
        handler: () => {
          throw new Error("always");
        },
        onDeadLetter: (d) => {
          if (++attempts === 1) throw new Error("dead-letter stream unavailable");
          dead.push(d);
        },
      });
      await bus.publishEvent(`${prefix}.x`, enc("x"), { msgId: rand() });
      await eventually("dead.length = 1", () => dead.length === 1);
      assert.equal(attempts, 2);
      assert.equal(dead[0]!.deliveryCount, 2);
    });

    it("lets two processes on one durable split the work, each message handled once", async () => {
      const a = newBus();
      const b = newBus();
      const { name, prefix } = await newStream(a);
      const handledBy = new Map<string, string[]>();
      const handler = (who: string) => async (m: EventMessage) => {
        handledBy.set(m.msgId!, [...(handledBy.get(m.msgId!) ?? []), who]);
        await sleep(5);
      };
      await consume(a, { stream: name, durable: "shared", handler: handler("a") });
      await consume(b, { stream: name, durable: "shared", handler: handler("b") });
      for (let i = 0; i < 40; i++) await a.publishEvent(`${prefix}.job`, enc(String(i)), { msgId: `job-${i}` });
      await eventually("handledBy.size = 40", () => handledBy.size === 40, 8000);
      await sleep(100);
      const handlers = [...handledBy.values()];
      assert.ok(
        handlers.every((h) => h.length === 1),
        "no message was handled twice",
      );
      const byA = handlers.filter((h) => h[0] === "a").length;
      assert.ok(byA > 0 && byA < 40, `both processes took work (a: ${byA}, b: ${40 - byA})`);
    });

    it("runs event handlers in the publisher's request context", async () => {
      const bus = newBus();
      const { name, prefix } = await newStream(bus);
      const seen: { ctx: string | undefined; header: string | undefined }[] = [];
      await consume(bus, {
        stream: name,
        durable: "ctx",
        handler: (m) => void seen.push({ ctx: currentContext()?.requestId, header: m.headers["x-request-id"] }),
      });
      await runWithContext({ requestId: "req-evt-7" }, () =>
        bus.publishEvent(`${prefix}.x`, enc("x"), { msgId: rand() }),
      );
      await eventually("seen.length = 1", () => seen.length === 1);
      assert.deepEqual(seen[0], { ctx: "req-evt-7", header: "req-evt-7" });
    });

    it("filters by subject and resumes a durable where it stopped", async () => {
      const bus = newBus();
      const { name, prefix } = await newStream(bus);
      const got: string[] = [];
      const options: ConsumeOptions = {
        stream: name,
        durable: "filtered",
        filterSubjects: [`${prefix}.keep`],
        handler: (m) => void got.push(dec(m.data)),
      };
      const first = await bus.consume(options);
      await bus.publishEvent(`${prefix}.keep`, enc("1"), { msgId: "k1" });
      await bus.publishEvent(`${prefix}.skip`, enc("s"), { msgId: "s1" });
      await bus.publishEvent(`${prefix}.keep`, enc("2"), { msgId: "k2" });
      await eventually("got = [1, 2]", () => isDeepStrictEqual(got, ["1", "2"]));
      await first.stop();
      await bus.publishEvent(`${prefix}.keep`, enc("3"), { msgId: "k3" });
      await sleep(100);
      assert.deepEqual(got, ["1", "2"], "a stopped consumer receives nothing");
      await consume(bus, options);
      await eventually("got = [1, 2, 3]", () => isDeepStrictEqual(got, ["1", "2", "3"]));
      await sleep(100);
      assert.deepEqual(got, ["1", "2", "3"], "acked messages are not delivered again");
    });

    it("runs up to `concurrency` handlers at once and stop() waits for them", async () => {
      const bus = newBus();
      const { name, prefix } = await newStream(bus);
      let running = 0;
      let peak = 0;
      let done = 0;
      const consumer = await bus.consume({
        stream: name,
        durable: "parallel",
        concurrency: 3,
        handler: async () => {
          peak = Math.max(peak, ++running);
          await sleep(100);
          running--;
          done++;
        },
      });
      for (let i = 0; i < 6; i++) await bus.publishEvent(`${prefix}.x`, enc(String(i)), { msgId: `p-${i}` });
      await eventually("a handler finished", () => done >= 1);
      await consumer.stop();
      assert.equal(running, 0, "stop() returned with no handler running");
      assert.equal(peak, 3);
    });
  });
}
