/**
 * The NATS side of one consume() call and of the messages it reads: pulls sized to free
 * handler slots, headers to and from NATS, and the reconnect backoff NatsBus also uses.
 */
import { setTimeout as sleep } from "node:timers/promises";
import type { Consumer as PullConsumer, ConsumerMessages, JetStreamClient, JsMsg } from "@nats-io/jetstream";
import { headers as natsHeaders, type Msg, type MsgHdrs } from "@nats-io/transport-node";
import { processDelivery, Slots, type ConsumerRuntime, type RawDelivery } from "./delivery.js";
import type { Headers } from "./types.js";

/** How long one pull waits for messages before asking again. */
const FETCH_EXPIRES_MS = 5000;
/** Header JetStream uses for the message id. */
const MSG_ID_HEADER = "Nats-Msg-Id";

/** Backoff for (re)connect attempt n: 250 ms doubling to 5 s, with jitter. */
export function backoffMs(attempt: number): number {
  return Math.min(250 * 2 ** Math.min(attempt, 5), 5000) + Math.floor(Math.random() * 250);
}

/**
 * One consume() call: pulls only as many messages as it has free handler slots, so nothing
 * sits in a client buffer while its ack wait runs out, and several processes on the same
 * durable share the work message by message.
 */
export class NatsConsumer {
  private running = true;
  private batch: ConsumerMessages | undefined;
  private readonly slots: Slots;
  private readonly stopped = new AbortController();
  private readonly loop: Promise<void>;

  constructor(
    private readonly js: JetStreamClient,
    private readonly runtime: ConsumerRuntime,
    concurrency: number,
    private readonly recreate: () => Promise<void>,
  ) {
    this.slots = new Slots(concurrency);
    this.loop = this.run();
  }

  private async run(): Promise<void> {
    const { stream, durable } = this.runtime.options;
    let failures = 0;
    let broken = false;
    let consumer: PullConsumer | undefined;
    while (this.running) {
      try {
        await this.slots.free();
        if (!this.running) break;
        if (broken) await this.recreate(); // the durable may be gone (stream recreated)
        consumer ??= await this.js.consumers.get(stream, durable);
        const batch = await consumer.fetch({ max_messages: this.slots.available, expires: FETCH_EXPIRES_MS });
        this.batch = batch;
        // stop() came while the pull was being made and found no batch to close: close it here
        // (not awaited: close() resolves only once the loop below has read the batch to its end).
        if (!this.running) void batch.close().catch(() => {});
        for await (const m of batch) {
          if (!this.running) {
            settleQuietly(() => m.nak()); // hand it back at once rather than after ack wait
            continue;
          }
          this.slots.take();
          processDelivery(toRawDelivery(m, stream), this.runtime)
            .catch((err) => this.runtime.logger.error({ err }, "event delivery failed"))
            .finally(() => this.slots.release());
        }
        this.batch = undefined;
        if (broken) this.runtime.logger.info("consumer resumed");
        broken = false;
        failures = 0;
      } catch (err) {
        this.batch = undefined;
        if (!this.running) break;
        if (!broken) this.runtime.logger.warn({ err }, "consumer cannot fetch; retrying in the background");
        broken = true;
        consumer = undefined;
        await sleep(backoffMs(failures++), undefined, { signal: this.stopped.signal }).catch(() => {});
      }
    }
  }

  async stop(graceful: boolean): Promise<void> {
    this.running = false;
    this.stopped.abort();
    this.slots.wake();
    await this.batch?.close().catch(() => {});
    await this.loop;
    if (graceful) await this.slots.idle();
  }
}

function settleQuietly(fn: () => void): void {
  try {
    fn();
  } catch {
    // The connection is closing; the server redelivers after ack wait.
  }
}

export function toNatsHeaders(headers: Headers): MsgHdrs | undefined {
  const entries = Object.entries(headers);
  if (entries.length === 0) return undefined;
  const h = natsHeaders();
  for (const [key, value] of entries) h.set(key, value);
  return h;
}

/** Application headers only: the Nats-* ones are the server's bookkeeping. */
function fromNatsHeaders(h: MsgHdrs | undefined): Headers {
  const out: Headers = {};
  if (!h) return out;
  for (const key of h.keys()) {
    if (!key.toLowerCase().startsWith("nats-")) out[key] = h.get(key);
  }
  return out;
}

export function fromNatsMsg(msg: Msg) {
  return { subject: msg.subject, data: msg.data, headers: fromNatsHeaders(msg.headers) };
}

function toRawDelivery(m: JsMsg, stream: string): RawDelivery {
  return {
    stream,
    subject: m.subject,
    data: m.data,
    headers: fromNatsHeaders(m.headers),
    seq: m.seq,
    msgId: m.headers?.get(MSG_ID_HEADER) || undefined,
    deliveryCount: m.info.deliveryCount,
    ack: () => m.ack(),
    nak: (delayMs?: number) => m.nak(delayMs),
    term: () => m.term(),
  };
}
