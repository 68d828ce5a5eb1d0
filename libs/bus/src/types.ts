/**
 * The bus contract shared by the NATS/JetStream and the in-process implementations. Both keep
 * the same semantics (subjects and wildcards, queue groups, stream dedup by message id,
 * at-least-once delivery with redelivery, shared durables), and the contract tests in
 * bus.test.ts run against both.
 */
import type { BaseConfig } from "@weelo/config";
import type { Logger } from "@weelo/log";
import type { Metrics } from "@weelo/metrics";
import type { MemoryBroker } from "./memory-bus.js";

/** Message headers. `x-request-id` is added on publish and restored around handlers. */
export type Headers = Record<string, string>;

/** The header that carries the request id from publisher to handler. */
export const REQUEST_ID_HEADER = "x-request-id";

/** A core (fire-and-forget) message as a subscriber receives it. */
export interface BusMessage {
  subject: string;
  data: Uint8Array;
  headers: Headers;
}

export type MessageHandler = (msg: BusMessage) => void | Promise<void>;

export interface PublishOptions {
  headers?: Headers;
}

export interface SubscribeOptions {
  /** Subscribers sharing a queue name share the messages: each goes to exactly one of them. */
  queue?: string;
}

export interface Subscription {
  /** Stops delivery to this handler; messages already being handled finish. */
  unsubscribe(): void;
}

export interface StreamSpec {
  name: string;
  /** Subjects the stream stores (wildcards allowed); must not overlap another stream's. */
  subjects: string[];
  /** Messages older than this are discarded; unset keeps them (NATS) or up to maxMessages (memory). */
  maxAgeMs?: number;
  /** Window in which a re-published message id is dropped; default 2 minutes (capped by maxAgeMs). */
  duplicateWindowMs?: number;
  /** Keep at most this many messages, dropping the oldest; the in-process stream defaults to 100 000. */
  maxMessages?: number;
}

export interface PublishEventOptions {
  /** The event id: a second publish with the same id within the duplicate window is dropped. */
  msgId: string;
  headers?: Headers;
}

export interface PublishEventResult {
  /** True when the stream already had this msgId (nothing new was stored). */
  duplicate: boolean;
  /** Stream sequence of the stored message (of the original one for a duplicate). */
  seq: number;
}

/** A durable event as a consumer's handler receives it. */
export interface EventMessage extends BusMessage {
  stream: string;
  /** Stream sequence of the message. */
  seq: number;
  /** The msgId it was published with (the event id), for idempotent handlers. */
  msgId: string | undefined;
  /** 1 on the first delivery, then counting redeliveries. */
  deliveryCount: number;
  /**
   * Settling by hand is optional: a handler that returns is acked, one that throws is nak'ed
   * with backoff. The first settle call wins; later ones are ignored.
   */
  ack(): void;
  /** Asks for a redelivery, after delayMs when given. */
  nak(delayMs?: number): void;
  /** Gives up on the message: no redelivery, no dead letter. */
  term(): void;
}

export type EventHandler = (msg: EventMessage) => void | Promise<void>;

/** A message that could not be processed within maxDeliver deliveries. */
export interface DeadLetter {
  stream: string;
  durable: string;
  subject: string;
  data: Uint8Array;
  headers: Headers;
  seq: number;
  msgId: string | undefined;
  deliveryCount: number;
  /** The handler's last error, or why it was given up without one (ack timeout). */
  reason: string;
}

export interface ConsumeOptions {
  stream: string;
  /** The durable consumer's name: processes using the same name share the work. */
  durable: string;
  /** Only these subjects of the stream (one filter works on every NATS server; several need 2.10+). */
  filterSubjects?: string[];
  handler: EventHandler;
  /** Deliveries before a message is given up and dead-lettered; default 5. */
  maxDeliver?: number;
  /** A message not settled within this time is redelivered; default 30 s. */
  ackWaitMs?: number;
  /** Messages handled at once by this process; default 1. */
  concurrency?: number;
  /** Delay before the first redelivery of a failed message, doubling each time up to 60 s; default 1 s. */
  retryDelayMs?: number;
  /**
   * Receives a message after maxDeliver failed deliveries (then it is removed). If it throws,
   * the message is redelivered and dead-lettered again later. Without it the message is logged
   * and dropped.
   */
  onDeadLetter?: (deadLetter: DeadLetter) => void | Promise<void>;
}

export interface Consumer {
  /** Stops taking messages and waits for the handlers in progress. The durable stays. */
  stop(): Promise<void>;
}

export interface Bus {
  readonly kind: "nats" | "memory";
  /** Fire-and-forget publish (no persistence): delivered to whoever is subscribed now. */
  publish(subject: string, data: Uint8Array, options?: PublishOptions): void;
  /** Subscribes with NATS wildcards (`*` one token, `>` the rest). */
  subscribe(subject: string, handler: MessageHandler, options?: SubscribeOptions): Subscription;
  /** Creates the stream, or updates its subjects and limits to the spec. */
  ensureStream(spec: StreamSpec): Promise<void>;
  /** Deletes a stream with its messages and consumers; false when it did not exist. */
  deleteStream(name: string): Promise<boolean>;
  /** Stores an event in the stream that owns the subject; rejects when none does. */
  publishEvent(subject: string, data: Uint8Array, options: PublishEventOptions): Promise<PublishEventResult>;
  /** Starts (creating or updating the durable as needed) an at-least-once consumer. */
  consume(options: ConsumeOptions): Promise<Consumer>;
  /** Resolves when the broker answers, rejects quickly when it does not: for readiness. */
  ping(): Promise<void>;
  /** Graceful stop: consumers finish their handlers, subscriptions their pending messages, then close. */
  drain(): Promise<void>;
  /** Stops consumers and closes the connection. */
  close(): Promise<void>;
}

export interface BusOptions {
  config: Pick<BaseConfig, "NATS_URL"> & Partial<Pick<BaseConfig, "NATS_STREAM_REPLICAS">>;
  /** Name of this service: the NATS connection name, and on log lines. */
  service: string;
  logger: Logger;
  metrics?: Metrics;
  /** The in-process broker to use without NATS_URL; defaults to one broker shared by the process. */
  memoryBroker?: MemoryBroker;
  /** NATS only: how long calls that need the server wait for a (re)connection; default 5 s. */
  connectWaitMs?: number;
}
