/**
 * Durable JetStream consumers of the producers' event streams. Durable names are shared, so
 * replicas share the work; a consumer whose stream does not exist yet (its producer has not
 * started) keeps looking for it. A failed event is redelivered with backoff (the bus's nak
 * with a doubling delay) and after maxDeliver tries goes to the dead-letter stream, as does
 * an event that cannot be decoded at all.
 */
import {
  consumeWhenAvailable,
  deadLetterOf,
  type Bus,
  type DeadLetter,
  type EventMessage,
  type PendingConsumer,
} from "@weelo/bus";
import { EventEnvelope } from "@weelo/contracts/grpc/weelo/events/v1/envelope";
import type { Logger } from "@weelo/log";
import type { Counter } from "prom-client";
import { UndecodableEventError, type Planner } from "./notification.events.js";
import type { NotificationService } from "./notification.service.js";

export interface EventSource {
  /** Short name: the durable is "<prefix>-<name>", and the label of the metrics. */
  name: string;
  stream: string;
  /** Planners by event type (EventEnvelope.type); other types are acknowledged and ignored. */
  planners: Readonly<Record<string, Planner>>;
}

export interface ConsumerSettings {
  durablePrefix: string;
  maxDeliver: number;
  retryMs: number;
  ackWaitMs: number;
  concurrency: number;
  /** How often to look again for a stream that does not exist yet. */
  streamWaitMs: number;
  deadLetters: { stream: string; subjectRoot: string };
}

export const DEAD_LETTER_HEADERS = {
  reason: "x-dead-letter-reason",
  stream: "x-dead-letter-stream",
  subject: "x-dead-letter-subject",
  seq: "x-dead-letter-seq",
  deliveries: "x-dead-letter-deliveries",
  durable: "x-dead-letter-durable",
} as const;

/** The subject a dead letter of `subject` is stored on: "<root>.dead_letter.<subject>". */
export function deadLetterSubject(subjectRoot: string, subject: string): string {
  return `${subjectRoot}.dead_letter.${subject}`;
}

export class EventConsumers {
  private readonly consumers: PendingConsumer[] = [];

  constructor(
    private readonly deps: {
      bus: Bus;
      service: Pick<NotificationService, "deliver">;
      logger: Logger;
      settings: ConsumerSettings;
      /** weelo_notification_events_total{source, outcome}. */
      counter?: Counter<"source" | "outcome">;
    },
  ) {}

  /** Starts a consumer per source in the background; one whose stream is missing keeps looking for it. */
  start(sources: readonly EventSource[]): void {
    const { bus, logger, settings } = this.deps;
    for (const source of sources) {
      this.consumers.push(
        consumeWhenAvailable(
          bus,
          {
            stream: source.stream,
            durable: this.durableOf(source),
            handler: (msg) => this.handle(source, msg),
            maxDeliver: settings.maxDeliver,
            retryDelayMs: settings.retryMs,
            ackWaitMs: settings.ackWaitMs,
            concurrency: settings.concurrency,
            onDeadLetter: (letter) => this.deadLetter(source, letter),
            streamWaitMs: settings.streamWaitMs,
          },
          logger.child({ source: source.name }),
        ),
      );
    }
  }

  /** Resolves once every source's consumer runs (tests: their streams exist before start). */
  async ready(): Promise<void> {
    await Promise.all(this.consumers.map((consumer) => consumer.ready));
  }

  async stop(): Promise<void> {
    await Promise.all(this.consumers.splice(0).map((consumer) => consumer.stop()));
  }

  private async handle(source: EventSource, msg: EventMessage): Promise<void> {
    const outcome = (value: string) => this.deps.counter?.inc({ source: source.name, outcome: value });
    let envelope: EventEnvelope;
    try {
      envelope = EventEnvelope.decode(msg.data);
    } catch (error) {
      await this.deadLetterNow(source, msg, `not an EventEnvelope: ${(error as Error).message}`);
      outcome("undecodable");
      return;
    }
    const planner = source.planners[envelope.type];
    if (!planner) {
      outcome("ignored");
      return;
    }
    let messages;
    try {
      messages = planner(envelope);
    } catch (error) {
      if (!(error instanceof UndecodableEventError)) throw error;
      await this.deadLetterNow(source, msg, error.message);
      outcome("undecodable");
      return;
    }
    if (messages.length === 0) {
      outcome("no_recipients");
      return;
    }
    try {
      await this.deps.service.deliver(envelope.id || `${msg.stream}:${msg.seq}`, messages, envelope.occurredAt);
    } catch (error) {
      outcome(msg.deliveryCount >= this.deps.settings.maxDeliver ? "dead_letter" : "retry");
      throw error;
    }
    outcome("delivered");
  }

  /** An event that no retry can help: straight to the dead letters, then acknowledged. */
  private deadLetterNow(source: EventSource, msg: EventMessage, reason: string): Promise<void> {
    return this.deadLetter(source, deadLetterOf(msg, this.durableOf(source), reason));
  }

  /** Shared by every replica, so they share the source's events. */
  private durableOf(source: EventSource): string {
    return `${this.deps.settings.durablePrefix}-${source.name}`;
  }

  private async deadLetter(source: EventSource, letter: DeadLetter): Promise<void> {
    const { stream, subjectRoot } = this.deps.settings.deadLetters;
    const oneLine = (s: string) => s.replace(/[\r\n]+/g, " ").slice(0, 1000);
    await this.deps.bus.publishEvent(deadLetterSubject(subjectRoot, letter.subject), letter.data, {
      // One dead letter per stored event and consumer, however often this is retried.
      msgId: `${letter.stream}:${letter.seq}:${letter.durable}`,
      headers: {
        ...letter.headers,
        [DEAD_LETTER_HEADERS.reason]: oneLine(letter.reason),
        [DEAD_LETTER_HEADERS.stream]: letter.stream,
        [DEAD_LETTER_HEADERS.subject]: letter.subject,
        [DEAD_LETTER_HEADERS.seq]: String(letter.seq),
        [DEAD_LETTER_HEADERS.deliveries]: String(letter.deliveryCount),
        [DEAD_LETTER_HEADERS.durable]: letter.durable,
      },
    });
    this.deps.logger.error(
      { source: source.name, stream, subject: letter.subject, seq: letter.seq, reason: letter.reason },
      "event dead-lettered",
    );
  }
}
