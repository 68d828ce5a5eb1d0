/**
 * The streams of the in-process bus: what a MemoryBroker stores for JetStream-like streams (the
 * messages, dedup by message id, age and count limits) and each durable consumer's state (its
 * cursor, what is pending, ack wait, nak with delay, redelivery, round robin over workers).
 */
import type { RawDelivery } from "./delivery.js";
import { subjectMatches } from "./subjects.js";
import type { Headers, StreamSpec } from "./types.js";

const DEFAULT_DUPLICATE_WINDOW_MS = 120_000;
/** An unbounded in-process stream would grow for the life of the process. */
const DEFAULT_MAX_MESSAGES = 100_000;

export interface StoredMessage {
  seq: number;
  subject: string;
  data: Uint8Array;
  headers: Headers;
  msgId: string | undefined;
  time: number;
}

/** A worker is one consume() call attached to a durable; it says whether it can take more. */
export interface Worker {
  hasCapacity(): boolean;
  deliver(delivery: RawDelivery): void;
}

/** Where one stored message stands for one durable, from first delivery until ack or term. */
export interface PendingState {
  deliveries: number;
  inFlight: boolean;
  /** When not in flight: the earliest time it may be redelivered. */
  readyAt: number;
  ackTimer: NodeJS.Timeout | undefined;
}

export class MemoryStream {
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

export class MemoryDurable {
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
