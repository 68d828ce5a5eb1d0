/**
 * What both implementations do around a handler: carry the request id through headers, run
 * handlers inside the request context, and apply the at-least-once rules (auto-ack on return,
 * nak with backoff on throw, dead letter after maxDeliver). Keeping this in one place is what
 * makes the in-process bus behave like JetStream: the brokers differ only in delivery.
 */
import { currentContext, requestIdFrom, runWithContext, type Logger } from "@weelo/log";
import type { Metrics } from "@weelo/metrics";
import { failActiveSpan, inSpan, remoteContext, SpanKind, traceHeaders, tracingEnabled } from "@weelo/telemetry";
import { subjectFamily } from "./subjects.js";
import {
  REQUEST_ID_HEADER,
  type BusMessage,
  type ConsumeOptions,
  type DeadLetter,
  type EventMessage,
  type Headers,
  type MessageHandler,
} from "./types.js";

export const DEFAULTS = {
  maxDeliver: 5,
  ackWaitMs: 30_000,
  concurrency: 1,
  retryDelayMs: 1000,
  maxRetryDelayMs: 60_000,
} as const;

/** The caller's headers plus the current request id (an explicit x-request-id wins). */
export function outgoingHeaders(headers: Headers | undefined): Headers {
  const out: Headers = { ...headers };
  const requestId = currentContext()?.requestId;
  if (requestId && out[REQUEST_ID_HEADER] === undefined) out[REQUEST_ID_HEADER] = requestId;
  return out;
}

/** Runs fn in the request context named by the message (a fresh id when it carries none). */
export function inMessageContext<T>(headers: Headers, fn: () => T): T {
  return runWithContext({ requestId: requestIdFrom(headers[REQUEST_ID_HEADER]) }, fn);
}

/**
 * Publishes inside a PRODUCER span whose W3C trace context joins the headers, so the handler
 * on the other side continues the trace. `send` gets the headers to publish (the caller's, the
 * request id and, with tracing on, `traceparent`). For a promise the span lasts until the
 * broker's answer; a core publish is done when `send` returns.
 */
export function tracedPublish<T>(
  t: Telemetry,
  subject: string,
  headers: Headers | undefined,
  send: (headers: Headers) => T,
): T {
  if (!tracingEnabled()) return send(outgoingHeaders(headers));
  return inSpan(
    {
      name: `publish ${spanSubject(subject)}`,
      kind: SpanKind.PRODUCER,
      attributes: messagingAttributes(t, subject, "publish"),
    },
    () => send({ ...outgoingHeaders(headers), ...traceHeaders() }),
  );
}

/** Runs a handler inside a CONSUMER span continuing the publisher's trace (tracing on), else plainly. */
export function tracedHandling<T>(t: Telemetry, subject: string, headers: Headers, fn: () => T, durable?: string): T {
  if (!tracingEnabled()) return fn();
  const attributes: Record<string, string> = messagingAttributes(t, subject, "process");
  if (durable) attributes["messaging.consumer.group.name"] = durable;
  return inSpan(
    {
      name: `process ${spanSubject(subject)}`,
      kind: SpanKind.CONSUMER,
      parent: remoteContext((key) => headers[key]),
      attributes,
    },
    fn,
  );
}

/** The subject with its id tokens (UUIDs, numbers) as "*": span names stay few ("tracking.location.*"). */
export function spanSubject(subject: string): string {
  return subject
    .split(".")
    .map((token) =>
      /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(token) || /^\d+$/.test(token)
        ? "*"
        : token,
    )
    .join(".");
}

function messagingAttributes(t: Telemetry, subject: string, operation: "publish" | "process") {
  return {
    "messaging.system": t.system ?? "nats",
    "messaging.destination.name": subject,
    "messaging.operation.type": operation,
  };
}

/** Delay before redelivering a message whose delivery number n failed: base·2^(n-1), capped. */
export function retryDelayMs(baseMs: number, deliveryCount: number): number {
  return Math.min(
    baseMs * 2 ** Math.max(0, Math.min(deliveryCount - 1, 20)),
    Math.max(baseMs, DEFAULTS.maxRetryDelayMs),
  );
}

export interface Telemetry {
  logger: Logger;
  metrics: Metrics | undefined;
  /** messaging.system on spans: "nats", or "weelo-memory" for the in-process bus. */
  system?: string;
}

export function countMessage(t: Telemetry, direction: "in" | "out", subject: string, outcome: string): void {
  t.metrics?.busMessages.inc({ direction, family: subjectFamily(subject), outcome });
}

/** Hands a core message to its handler; a failing handler is logged, never thrown at the broker. */
export function deliverCore(handler: MessageHandler, msg: BusMessage, t: Telemetry): void {
  const failed = (err: unknown) => {
    countMessage(t, "in", msg.subject, "error");
    failActiveSpan(err);
    t.logger.error({ err, subject: msg.subject }, "message handler failed");
  };
  tracedHandling(t, msg.subject, msg.headers, () =>
    inMessageContext(msg.headers, () => {
      try {
        const result = handler(msg);
        if (result instanceof Promise) return result.then(() => countMessage(t, "in", msg.subject, "ok"), failed);
        countMessage(t, "in", msg.subject, "ok");
      } catch (err) {
        failed(err);
      }
      return undefined;
    }),
  );
}

/**
 * One delivery of a stored message, as a broker hands it over: the fields a handler sees, with
 * the broker's own settle calls (processDelivery makes the first settle win and counts it).
 */
export type RawDelivery = EventMessage;

/** The dead letter of a delivery that the durable gives up on, and why. */
export function deadLetterOf(
  delivery: Omit<EventMessage, "ack" | "nak" | "term">,
  durable: string,
  reason: string,
): DeadLetter {
  const { stream, subject, data, headers, seq, msgId, deliveryCount } = delivery;
  return { stream, durable, subject, data, headers, seq, msgId, deliveryCount, reason };
}

export interface ConsumerRuntime extends Telemetry {
  options: ConsumeOptions;
  maxDeliver: number;
  retryDelayMs: number;
}

export function consumerRuntime(options: ConsumeOptions, t: Telemetry): ConsumerRuntime {
  const positive = (value: number | undefined, fallback: number, name: string) => {
    if (value === undefined) return fallback;
    if (!Number.isFinite(value) || value < 1) throw new RangeError(`${name} must be at least 1, got ${value}`);
    return Math.floor(value);
  };
  return {
    ...t,
    logger: t.logger.child({ stream: options.stream, durable: options.durable }),
    options,
    maxDeliver: positive(options.maxDeliver, DEFAULTS.maxDeliver, "maxDeliver"),
    retryDelayMs: positive(options.retryDelayMs, DEFAULTS.retryDelayMs, "retryDelayMs"),
  };
}

/**
 * Runs the handler for one delivery and settles it. The broker's own max-deliver is off: this
 * function counts instead, so a message whose last allowed delivery timed out (the handler
 * hung, or the process died) is dead-lettered on the next delivery without running again.
 */
export async function processDelivery(raw: RawDelivery, c: ConsumerRuntime): Promise<void> {
  await tracedHandling(
    c,
    raw.subject,
    raw.headers,
    () =>
      inMessageContext(raw.headers, async () => {
        if (raw.deliveryCount > c.maxDeliver) {
          await deadLetter(raw, c, `not acknowledged within ${c.maxDeliver} deliveries`);
          return;
        }
        let settled: "ack" | "nak" | "term" | undefined;
        const settle = (outcome: "ack" | "nak" | "term", fn: () => void) => {
          if (settled) return;
          settled = outcome;
          try {
            fn();
          } catch (err) {
            // Typically the connection closed meanwhile; the broker will redeliver.
            c.logger.warn({ err, seq: raw.seq }, `could not ${outcome} message`);
          }
          countMessage(c, "in", raw.subject, outcome);
        };
        const msg: EventMessage = {
          ...raw,
          ack: () => settle("ack", () => raw.ack()),
          nak: (delayMs?: number) => settle("nak", () => raw.nak(delayMs)),
          term: () => settle("term", () => raw.term()),
        };
        try {
          await c.options.handler(msg);
          msg.ack();
        } catch (err) {
          failActiveSpan(err, { "messaging.delivery_count": raw.deliveryCount });
          if (settled) {
            c.logger.warn(
              { err, subject: raw.subject, seq: raw.seq },
              "event handler threw after settling its message",
            );
            return;
          }
          if (raw.deliveryCount >= c.maxDeliver) {
            settled = "term";
            await deadLetter(raw, c, errorText(err));
            return;
          }
          const delay = retryDelayMs(c.retryDelayMs, raw.deliveryCount);
          c.logger.warn(
            { err, subject: raw.subject, seq: raw.seq, deliveryCount: raw.deliveryCount, retryInMs: delay },
            "event handler failed; will retry",
          );
          msg.nak(delay);
        }
      }),
    c.options.durable,
  );
}

async function deadLetter(raw: RawDelivery, c: ConsumerRuntime, reason: string): Promise<void> {
  const letter = deadLetterOf(raw, c.options.durable, reason);
  const where = { subject: raw.subject, seq: raw.seq, msgId: raw.msgId, deliveryCount: raw.deliveryCount, reason };
  if (!c.options.onDeadLetter) {
    c.logger.error(where, "event given up after maxDeliver deliveries and dropped (no dead-letter handler)");
  } else {
    try {
      await c.options.onDeadLetter(letter);
      c.logger.warn(where, "event given up after maxDeliver deliveries and dead-lettered");
    } catch (err) {
      // Keep the message: it comes back later and is dead-lettered again.
      c.logger.error({ ...where, err }, "dead-letter handler failed; the message will be redelivered");
      safely(c, () => raw.nak(retryDelayMs(c.retryDelayMs, raw.deliveryCount)));
      countMessage(c, "in", raw.subject, "nak");
      return;
    }
  }
  safely(c, () => raw.term());
  countMessage(c, "in", raw.subject, "dead_letter");
}

function safely(c: Telemetry, fn: () => void): void {
  try {
    fn();
  } catch (err) {
    c.logger.warn({ err }, "could not settle message");
  }
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** A counting semaphore for a consumer's concurrency. */
export class Slots {
  private used = 0;
  private waiters: (() => void)[] = [];

  constructor(readonly size: number) {}

  get available(): number {
    return this.size - this.used;
  }

  /** Takes a slot; callers check `available` first. */
  take(): void {
    this.used++;
  }

  release(): void {
    this.used--;
    this.wake();
  }

  /** Resolves once at least one slot is free. */
  async free(): Promise<void> {
    while (this.available <= 0) await new Promise<void>((resolve) => this.waiters.push(resolve));
  }

  /** Resolves once every slot is free (no handler running). */
  async idle(): Promise<void> {
    while (this.used > 0) await new Promise<void>((resolve) => this.waiters.push(resolve));
  }

  /** Wakes every waiter (they re-check their condition). */
  wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }
}
