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
  type RawDelivery,
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

const DEFAULT_DUPLICATE_WINDOW_MS = 120_000;
/** An unbounded in-process stream would grow for the life of the process. */
const DEFAULT_MAX_MESSAGES = 100_000;

interface CoreSub {
  filter: string;
  queue: string | undefined;
  active: boolean;
  deliver(msg: BusMessage): void;
}

interface StoredMessage {
  seq: number;
  subject: string;
  data: Uint8Array;
  headers: Headers;
  msgId: string | undefined;
  time: number;
}

/** A worker is one consume() call attached to a durable; it says whether it can take more. */
interface Worker {
  hasCapacity(): boolean;
  deliver(delivery: RawDelivery): void;
}

/** Where one stored message stands for one durable, from first delivery until ack or term. */
interface PendingState {
  deliveries: number;
  inFlight: boolean;
  /** When not in flight: the earliest time it may be redelivered. */
  readyAt: number;
  ackTimer: NodeJS.Timeout | undefined;
}

class MemoryStream {
  readonly messages = new Map<number, StoredMessage>();
  readonly dedup = new Map<string, { seq: number; time: number }>();
  readonly durables = new Map<string, MemoryDurable>();
  lastSeq = 0;

  constructor(public spec: Required<Pick<StreamSpec, "name" | "subjects">> & StreamSpec) {}

  get duplicateWindowMs(): number {
    const window = this.spec.duplicateWindowMs ?? DEFAULT_DUPLICATE_WINDOW_MS;
    return this.spec.maxAgeMs ? Math.min(window, this.spec.maxAgeMs) : window;
  }

  /** Applies the age and count limits and forgets message ids older than the duplicate window. */
  trim(now: number): void {
    const maxMessages = this.spec.maxMessages ?? DEFAULT_MAX_MESSAGES;
    for (const [seq, msg] of this.messages) {
      const tooOld = this.spec.maxAgeMs !== undefined && msg.time + this.spec.maxAgeMs <= now;
      if (!tooOld && this.messages.size <= maxMessages) break;
      this.messages.delete(seq);
    }
    for (const [id, entry] of this.dedup) {
      if (entry.time + this.duplicateWindowMs > now) break;
      this.dedup.delete(id);
    }
  }
}

class MemoryDurable {
  /** Next stream sequence never delivered to this durable (delivery policy: all). */
  cursor = 1;
  readonly pending = new Map<number, PendingState>();
  readonly workers: Worker[] = [];
  private turn = 0;
  private wakeTimer: NodeJS.Timeout | undefined;
  private dispatching = false;

  constructor(
    private readonly stream: MemoryStream,
    readonly name: string,
    public filters: string[],
    public ackWaitMs: number,
  ) {}

  /** Hands ready messages to workers with free capacity, round robin, until either runs out. */
  dispatch(): void {
    if (this.dispatching) return; // a worker's deliver() may call back into dispatch
    this.dispatching = true;
    try {
      const now = Date.now();
      for (;;) {
        const worker = this.nextWorker();
        if (!worker) break;
        const msg = this.nextMessage(now);
        if (!msg) break;
        this.deliver(msg, worker);
      }
      this.scheduleWake(now);
    } finally {
      this.dispatching = false;
    }
  }

  private nextWorker(): Worker | undefined {
    for (let i = 0; i < this.workers.length; i++) {
      const worker = this.workers[(this.turn + i) % this.workers.length]!;
      if (worker.hasCapacity()) {
        this.turn = (this.turn + i + 1) % this.workers.length;
        return worker;
      }
    }
    return undefined;
  }

  /** A redelivery that is due (lowest sequence first), else the next new matching message. */
  private nextMessage(now: number): StoredMessage | undefined {
    let due: number | undefined;
    for (const [seq, state] of this.pending) {
      if (state.inFlight || state.readyAt > now) continue;
      if (!this.stream.messages.has(seq)) {
        this.pending.delete(seq); // trimmed away by the stream's limits
        continue;
      }
      if (due === undefined || seq < due) due = seq;
    }
    if (due !== undefined) return this.stream.messages.get(due);
    const first = this.stream.messages.keys().next().value;
    if (first !== undefined && this.cursor < first) this.cursor = first;
    while (this.cursor <= this.stream.lastSeq) {
      const msg = this.stream.messages.get(this.cursor++);
      if (msg && (this.filters.length === 0 || this.filters.some((f) => subjectMatches(f, msg.subject)))) return msg;
    }
    return undefined;
  }

  private deliver(msg: StoredMessage, worker: Worker): void {
    let state = this.pending.get(msg.seq);
    if (!state) {
      state = { deliveries: 0, inFlight: false, readyAt: 0, ackTimer: undefined };
      this.pending.set(msg.seq, state);
    }
    const current = state;
    const deliveryCount = ++current.deliveries;
    current.inFlight = true;
    // Not settled within ack wait: due again at once, like JetStream's redelivery.
    current.ackTimer = setTimeout(() => {
      if (this.pending.get(msg.seq) !== current || current.deliveries !== deliveryCount || !current.inFlight) return;
      current.inFlight = false;
      current.readyAt = Date.now();
      this.dispatch();
    }, this.ackWaitMs);
    current.ackTimer.unref();
    worker.deliver({
      stream: this.stream.spec.name,
      subject: msg.subject,
      data: msg.data.slice(),
      headers: { ...msg.headers },
      seq: msg.seq,
      msgId: msg.msgId,
      deliveryCount,
      ack: () => this.finish(msg.seq),
      term: () => this.finish(msg.seq),
      nak: (delayMs?: number) => {
        // A nak from an older delivery (one that already timed out) changes nothing.
        if (this.pending.get(msg.seq) !== current || current.deliveries !== deliveryCount || !current.inFlight) return;
        clearTimeout(current.ackTimer);
        current.inFlight = false;
        current.readyAt = Date.now() + Math.max(0, delayMs ?? 0);
        this.dispatch();
      },
    });
  }

  /** Ack or term: the message is done for this durable (a late ack still counts, as in JetStream). */
  private finish(seq: number): void {
    const state = this.pending.get(seq);
    if (!state) return;
    clearTimeout(state.ackTimer);
    this.pending.delete(seq);
    this.dispatch();
  }

  /** One timer for the earliest delayed redelivery. */
  private scheduleWake(now: number): void {
    let next: number | undefined;
    for (const state of this.pending.values()) {
      if (!state.inFlight && state.readyAt > now && (next === undefined || state.readyAt < next)) next = state.readyAt;
    }
    clearTimeout(this.wakeTimer);
    this.wakeTimer = undefined;
    if (next === undefined || this.workers.length === 0) return;
    this.wakeTimer = setTimeout(() => this.dispatch(), next - now);
    this.wakeTimer.unref();
  }

  dispose(): void {
    clearTimeout(this.wakeTimer);
    for (const state of this.pending.values()) clearTimeout(state.ackTimer);
    this.pending.clear();
    this.workers.length = 0;
  }
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
