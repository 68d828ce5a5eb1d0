/**
 * The in-process bus used when NATS_URL is unset (embedded mode and tests). A MemoryBroker
 * plays the NATS server: core subjects with wildcards and queue groups, and JetStream-like
 * streams with dedup by message id, durable consumers shared by several workers, ack wait,
 * nak with delay, and redelivery. MemoryBus is one client of it, as a NatsBus is one
 * connection. Deliveries are asynchronous, like over a network, so a handler never runs
 * inside the publisher's call stack.
 */
import {
  consumerRuntime,
  countMessage,
  deliverCore,
  DEFAULTS,
  tracedPublish,
  processDelivery,
  Slots,
  type Telemetry,
} from "./delivery.js";
import { assertFilterSubject, assertMsgId, assertPublishSubject, filtersOverlap, subjectMatches } from "./subjects.js";
import type {
  Bus,
  BusMessage,
  ConsumeOptions,
  Consumer,
  Headers,
  MessageHandler,
  PublishEventOptions,
  PublishEventResult,
  PublishOptions,
  StreamSpec,
  SubscribeOptions,
  Subscription,
} from "./types.js";
import { MemoryDurable, MemoryStream, type Worker } from "./memory-stream.js";

interface CoreSub {
  filter: string;
  queue: string | undefined;
  active: boolean;
  deliver(msg: BusMessage): void;
}

/**
 * The in-process stand-in for the NATS server. All buses of a process share one unless given
 * their own, so services in the all-in-one process talk to each other as they would over NATS.
 */
export class MemoryBroker {
  private readonly subs = new Set<CoreSub>();
  private readonly streams = new Map<string, MemoryStream>();

  publish(subject: string, data: Uint8Array, headers: Headers): void {
    const queues = new Map<string, CoreSub[]>();
    for (const sub of this.subs) {
      if (!subjectMatches(sub.filter, subject)) continue;
      if (sub.queue === undefined) this.send(sub, subject, data, headers);
      else queues.set(sub.queue, [...(queues.get(sub.queue) ?? []), sub]);
    }
    // One member of each queue group, picked at random as the NATS server does.
    for (const members of queues.values()) {
      this.send(members[Math.floor(Math.random() * members.length)]!, subject, data, headers);
    }
  }

  private send(sub: CoreSub, subject: string, data: Uint8Array, headers: Headers): void {
    const msg: BusMessage = { subject, data: data.slice(), headers: { ...headers } };
    setImmediate(() => {
      if (sub.active) sub.deliver(msg);
    });
  }

  subscribe(filter: string, queue: string | undefined, deliver: (msg: BusMessage) => void): () => void {
    const sub: CoreSub = { filter, queue, active: true, deliver };
    this.subs.add(sub);
    return () => {
      sub.active = false;
      this.subs.delete(sub);
    };
  }

  ensureStream(spec: StreamSpec): void {
    if (!/^[A-Za-z0-9_-]+$/.test(spec.name)) throw new Error(`invalid stream name: "${spec.name}"`);
    if (spec.subjects.length === 0) throw new Error(`stream ${spec.name} needs at least one subject`);
    spec.subjects.forEach(assertFilterSubject);
    for (const other of this.streams.values()) {
      if (other.spec.name === spec.name) continue;
      const clash = spec.subjects.find((s) => other.spec.subjects.some((o) => filtersOverlap(s, o)));
      if (clash) throw new Error(`subjects overlap with an existing stream: "${clash}" (stream ${other.spec.name})`);
    }
    const existing = this.streams.get(spec.name);
    const copy = { ...spec, subjects: [...spec.subjects] };
    if (existing) {
      existing.spec = copy;
      existing.trim(Date.now());
    } else {
      this.streams.set(spec.name, new MemoryStream(copy));
    }
  }

  deleteStream(name: string): boolean {
    const stream = this.streams.get(name);
    if (!stream) return false;
    for (const durable of stream.durables.values()) durable.dispose();
    this.streams.delete(name);
    return true;
  }

  publishEvent(subject: string, data: Uint8Array, headers: Headers, msgId: string): PublishEventResult {
    const stream = [...this.streams.values()].find((s) => s.spec.subjects.some((f) => subjectMatches(f, subject)));
    if (!stream) throw new Error(`no stream stores subject "${subject}"`);
    // On NATS a JetStream publish is a core message the stream captures: plain subscribers see it too.
    this.publish(subject, data, headers);
    const now = Date.now();
    stream.trim(now);
    const seen = stream.dedup.get(msgId);
    if (seen) return { duplicate: true, seq: seen.seq };
    const seq = ++stream.lastSeq;
    stream.messages.set(seq, { seq, subject, data: data.slice(), headers: { ...headers }, msgId, time: now });
    stream.dedup.set(msgId, { seq, time: now });
    stream.trim(now);
    for (const durable of stream.durables.values()) durable.dispatch();
    return { duplicate: false, seq };
  }

  /**
   * Attaches a worker to a durable, creating the durable on first use and updating its
   * filters and ack wait otherwise (as a consumer update does on the server).
   */
  attach(streamName: string, durableName: string, settings: { filters: string[]; ackWaitMs: number }, worker: Worker) {
    const stream = this.streams.get(streamName);
    if (!stream) throw new Error(`stream not found: ${streamName}`);
    settings.filters.forEach(assertFilterSubject);
    let durable = stream.durables.get(durableName);
    if (!durable) {
      durable = new MemoryDurable(stream, durableName, settings.filters, settings.ackWaitMs);
      stream.durables.set(durableName, durable);
    } else {
      durable.filters = settings.filters;
      durable.ackWaitMs = settings.ackWaitMs;
    }
    const attached = durable;
    attached.workers.push(worker);
    queueMicrotask(() => attached.dispatch());
    return {
      /** A worker finished a message and may take another. */
      ready: () => attached.dispatch(),
      detach: () => {
        const index = attached.workers.indexOf(worker);
        if (index >= 0) attached.workers.splice(index, 1);
      },
    };
  }
}

let processBroker: MemoryBroker | undefined;

/** The broker every memory bus of this process shares unless it is given its own. */
export function sharedMemoryBroker(): MemoryBroker {
  processBroker ??= new MemoryBroker();
  return processBroker;
}

export class MemoryBus implements Bus {
  readonly kind = "memory" as const;
  private closed = false;
  private readonly subscriptions = new Set<() => void>();
  private readonly consumers = new Set<{ stop(graceful: boolean): Promise<void> }>();

  constructor(
    private readonly broker: MemoryBroker,
    private readonly t: Telemetry,
  ) {}

  private open(): MemoryBroker {
    if (this.closed) throw new Error("bus is closed");
    return this.broker;
  }

  publish(subject: string, data: Uint8Array, options: PublishOptions = {}): void {
    assertPublishSubject(subject);
    const broker = this.open();
    tracedPublish(this.t, subject, options.headers, (headers) => broker.publish(subject, data, headers));
    countMessage(this.t, "out", subject, "ok");
  }

  subscribe(subject: string, handler: MessageHandler, options: SubscribeOptions = {}): Subscription {
    assertFilterSubject(subject);
    const remove = this.open().subscribe(subject, options.queue, (msg) => deliverCore(handler, msg, this.t));
    this.subscriptions.add(remove);
    return {
      unsubscribe: () => {
        remove();
        this.subscriptions.delete(remove);
      },
    };
  }

  async ensureStream(spec: StreamSpec): Promise<void> {
    this.open().ensureStream(spec);
  }

  async deleteStream(name: string): Promise<boolean> {
    return this.open().deleteStream(name);
  }

  async publishEvent(subject: string, data: Uint8Array, options: PublishEventOptions): Promise<PublishEventResult> {
    assertPublishSubject(subject);
    assertMsgId(options.msgId);
    try {
      const broker = this.open();
      const result = tracedPublish(this.t, subject, options.headers, (headers) =>
        broker.publishEvent(subject, data, headers, options.msgId),
      );
      countMessage(this.t, "out", subject, result.duplicate ? "duplicate" : "ok");
      return result;
    } catch (err) {
      countMessage(this.t, "out", subject, "error");
      throw err;
    }
  }

  async consume(options: ConsumeOptions): Promise<Consumer> {
    const runtime = consumerRuntime(options, this.t);
    const slots = new Slots(Math.max(1, Math.floor(options.concurrency ?? DEFAULTS.concurrency)));
    let running = true;
    const worker: Worker = {
      hasCapacity: () => running && slots.available > 0,
      deliver: (delivery) => {
        slots.take();
        setImmediate(() => {
          processDelivery(delivery, runtime)
            .catch((err) => runtime.logger.error({ err }, "event delivery failed"))
            .finally(() => {
              slots.release();
              handle.ready();
            });
        });
      },
    };
    const handle = this.open().attach(
      options.stream,
      options.durable,
      { filters: options.filterSubjects ?? [], ackWaitMs: options.ackWaitMs ?? DEFAULTS.ackWaitMs },
      worker,
    );
    const consumer = {
      stop: async (graceful = true) => {
        running = false;
        handle.detach();
        this.consumers.delete(consumer);
        if (graceful) await slots.idle();
      },
    };
    this.consumers.add(consumer);
    return { stop: () => consumer.stop(true) };
  }

  async ping(): Promise<void> {
    this.open();
  }

  async drain(): Promise<void> {
    if (this.closed) return;
    await Promise.all([...this.consumers].map((c) => c.stop(true)));
    // Let core messages already on their way reach their handlers.
    await new Promise((resolve) => setImmediate(resolve));
    await this.close();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    // The broker is shared with other clients: only this client's subscriptions and consumers go.
    for (const remove of this.subscriptions) remove();
    this.subscriptions.clear();
    await Promise.all([...this.consumers].map((c) => c.stop(false)));
  }
}
