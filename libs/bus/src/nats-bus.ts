/**
 * The bus on NATS (core subjects) and JetStream (durable events), with the official v3
 * clients. The connection is made in the background and retried forever with backoff, so
 * neither a broker that is down at start nor a broker restart kills the process: ping()
 * reports the outage to readiness meanwhile. Connection state changes are logged once each.
 */
import { setTimeout as sleep } from "node:timers/promises";
import {
  jetstream,
  JetStreamApiCodes,
  jetstreamManager,
  type JetStreamClient,
  type JetStreamManager,
} from "@nats-io/jetstream";
import {
  connect,
  type MsgHdrs,
  type NatsConnection,
  type Subscription as NatsSubscription,
} from "@nats-io/transport-node";
import { consumerRuntime, countMessage, deliverCore, DEFAULTS, tracedPublish, type Telemetry } from "./delivery.js";
import { assertFilterSubject, assertMsgId, assertPublishSubject } from "./subjects.js";
import type {
  Bus,
  ConsumeOptions,
  Consumer,
  MessageHandler,
  PublishEventOptions,
  PublishEventResult,
  PublishOptions,
  StreamSpec,
  SubscribeOptions,
  Subscription,
} from "./types.js";
import { backoffMs, fromNatsMsg, NatsConsumer, toNatsHeaders } from "./nats-consumer.js";
import { ensureDurable, ensureJetStream, isApiError } from "./nats-streams.js";

/** Core publishes made before the first connection wait for it, up to this many; then they are dropped. */
const MAX_EARLY_PUBLISHES = 10_000;

export interface NatsBusOptions extends Telemetry {
  servers: string[];
  service: string;
  connectWaitMs: number;
  /** num_replicas of every stream ensureStream creates (or brings in line): NATS_STREAM_REPLICAS. */
  streamReplicas?: number;
}

export class NatsBus implements Bus {
  readonly kind = "nats" as const;
  private nc: NatsConnection | undefined;
  private js: JetStreamClient | undefined;
  private jsm: Promise<JetStreamManager> | undefined;
  /** Resolves with the first connection (rejects only if the bus closes before one). */
  private readonly firstConnection: Promise<NatsConnection>;
  /** Resolves when the first connection attempt has failed (so ping need not wait longer). */
  private readonly firstFailure: Promise<void>;
  private markFirstFailure: () => void = () => {};
  private connected = false;
  private disconnectedAt = 0;
  private closed = false;
  private readonly stopWaiting = new AbortController();
  private earlyPublishes = 0;
  private readonly subscriptions = new Set<Subscription>();
  private readonly consumers = new Set<NatsConsumer>();
  private readonly t: Telemetry;

  constructor(private readonly options: NatsBusOptions) {
    this.t = { logger: options.logger.child({ component: "bus" }), metrics: options.metrics, system: "nats" };
    this.firstFailure = new Promise<void>((resolve) => (this.markFirstFailure = resolve));
    this.firstConnection = this.connectLoop();
    this.firstConnection.catch(() => {}); // closing before the first connection is not an error
  }

  private async connectLoop(): Promise<NatsConnection> {
    let warned = false;
    for (let attempt = 0; !this.closed; attempt++) {
      try {
        const nc = await connect({
          servers: this.options.servers,
          name: this.options.service,
          // Once connected, never give up: a broker restart must not end the process.
          maxReconnectAttempts: -1,
          reconnectDelayHandler: () => this.reconnectDelay(),
          pingInterval: 10_000,
          maxPingOut: 3,
          timeout: 5000,
          // No stack captured at the start of every request (each JetStream publish is one): it
          // cost a fifth of a busy publisher's CPU; a timeout still says what timed out.
          noAsyncTraces: true,
        });
        if (this.closed) {
          await nc.close();
          break;
        }
        this.attach(nc);
        this.t.logger.info({ server: nc.getServer() }, "nats connected");
        return nc;
      } catch (err) {
        if (!warned)
          this.t.logger.warn({ err, servers: this.options.servers }, "nats unavailable; connecting in the background");
        warned = true;
        this.markFirstFailure();
        await sleep(backoffMs(attempt), undefined, { signal: this.stopWaiting.signal }).catch(() => {});
      }
    }
    throw new Error("bus is closed");
  }

  /**
   * The client asks for a delay before each reconnect try (and again while it waits), so the
   * backoff is a function of how long the connection has been down: quick retries after a
   * blip, one try every few seconds during a long outage.
   */
  private reconnectDelay(): number {
    const downMs = this.disconnectedAt ? Date.now() - this.disconnectedAt : 0;
    return Math.min(5000, Math.max(250, downMs / 4)) + Math.floor(Math.random() * 250);
  }

  private attach(nc: NatsConnection): void {
    this.nc = nc;
    this.js = jetstream(nc);
    this.connected = true;
    void this.watchStatus(nc);
    void nc.closed().then((err) => {
      this.connected = false;
      if (!this.closed)
        this.t.logger.error({ err }, "nats connection closed for good; readiness will fail until the process restarts");
    });
  }

  private async watchStatus(nc: NatsConnection): Promise<void> {
    let errorLogged = false;
    for await (const status of nc.status()) {
      switch (status.type) {
        case "disconnect":
          if (this.connected && !this.closed)
            this.t.logger.warn({ server: status.server }, "nats disconnected; reconnecting in the background");
          this.connected = false;
          this.disconnectedAt = Date.now();
          break;
        case "reconnect":
          this.connected = true;
          this.disconnectedAt = 0;
          errorLogged = false;
          this.t.logger.info({ server: status.server }, "nats reconnected");
          break;
        case "error":
          // Async server errors can repeat; one line until the next reconnect is enough.
          if (!errorLogged) this.t.logger.warn({ err: status.error }, "nats reported an error");
          errorLogged = true;
          break;
        case "ldm":
          this.t.logger.warn({ server: status.server }, "nats server entering lame duck mode");
          break;
        case "staleConnection":
          this.t.logger.warn("nats connection is stale; reconnecting");
          break;
        default:
          break;
      }
    }
  }

  /** The connection for calls that need the server, waiting (bounded) while there is none yet. */
  private async connection(): Promise<NatsConnection> {
    if (this.closed) throw new Error("bus is closed");
    if (this.nc) return this.nc;
    const wait = AbortSignal.timeout(this.options.connectWaitMs);
    const timedOut = new Promise<never>((_, reject) =>
      wait.addEventListener(
        "abort",
        () => reject(new Error(`nats is not connected (${this.options.servers.join(",")})`)),
        { once: true },
      ),
    );
    return Promise.race([this.firstConnection, timedOut]);
  }

  private async manager(): Promise<JetStreamManager> {
    const nc = await this.connection();
    this.jsm ??= jetstreamManager(nc, { checkAPI: false });
    return this.jsm;
  }

  publish(subject: string, data: Uint8Array, options: PublishOptions = {}): void {
    if (this.closed) throw new Error("bus is closed");
    assertPublishSubject(subject);
    tracedPublish(this.t, subject, options.headers, (headers) =>
      this.publishCore(subject, data, toNatsHeaders(headers)),
    );
  }

  private publishCore(subject: string, data: Uint8Array, headers: MsgHdrs | undefined): void {
    const send = (nc: NatsConnection) => {
      try {
        nc.publish(subject, data, { headers });
        countMessage(this.t, "out", subject, "ok");
      } catch (err) {
        countMessage(this.t, "out", subject, "error");
        this.t.logger.warn({ err, subject }, "nats publish failed");
      }
    };
    if (this.nc) return send(this.nc);
    // Not connected yet: keep order with subscriptions made meanwhile, within a bound.
    if (this.earlyPublishes >= MAX_EARLY_PUBLISHES) {
      countMessage(this.t, "out", subject, "dropped");
      return;
    }
    this.earlyPublishes++;
    this.firstConnection.then(
      (nc) => {
        this.earlyPublishes--;
        send(nc);
      },
      () => {},
    );
  }

  subscribe(subject: string, handler: MessageHandler, options: SubscribeOptions = {}): Subscription {
    if (this.closed) throw new Error("bus is closed");
    assertFilterSubject(subject);
    let inner: NatsSubscription | undefined;
    let active = true;
    const start = (nc: NatsConnection) => {
      if (!active) return;
      // The client re-subscribes by itself after a reconnect.
      inner = nc.subscribe(subject, {
        ...(options.queue ? { queue: options.queue } : {}),
        callback: (err, msg) => {
          if (err) this.t.logger.warn({ err, subject }, "subscription error");
          else deliverCore(handler, fromNatsMsg(msg), this.t);
        },
      });
    };
    if (this.nc) start(this.nc);
    else this.firstConnection.then(start, () => {});
    const subscription: Subscription = {
      unsubscribe: () => {
        active = false;
        this.subscriptions.delete(subscription);
        if (inner && !inner.isClosed()) inner.unsubscribe();
      },
    };
    this.subscriptions.add(subscription);
    return subscription;
  }

  async ensureStream(spec: StreamSpec): Promise<void> {
    spec.subjects.forEach(assertFilterSubject);
    await ensureJetStream(await this.manager(), spec, this.options.streamReplicas ?? 1);
  }

  async deleteStream(name: string): Promise<boolean> {
    const jsm = await this.manager();
    try {
      return await jsm.streams.delete(name);
    } catch (err) {
      if (isApiError(err, JetStreamApiCodes.StreamNotFound)) return false;
      throw err;
    }
  }

  async publishEvent(subject: string, data: Uint8Array, options: PublishEventOptions): Promise<PublishEventResult> {
    assertPublishSubject(subject);
    assertMsgId(options.msgId);
    return tracedPublish(this.t, subject, options.headers, async (out) => {
      const headers = toNatsHeaders(out);
      try {
        await this.connection();
        const ack = await this.js!.publish(subject, data, { msgID: options.msgId, headers });
        countMessage(this.t, "out", subject, ack.duplicate ? "duplicate" : "ok");
        return { duplicate: ack.duplicate, seq: ack.seq };
      } catch (err) {
        countMessage(this.t, "out", subject, "error");
        throw err;
      }
    });
  }

  async consume(options: ConsumeOptions): Promise<Consumer> {
    const runtime = consumerRuntime(options, this.t);
    (options.filterSubjects ?? []).forEach(assertFilterSubject);
    await this.ensureConsumer(options);
    const consumer = new NatsConsumer(
      this.js!,
      runtime,
      Math.max(1, Math.floor(options.concurrency ?? DEFAULTS.concurrency)),
      () => this.ensureConsumer(options),
    );
    this.consumers.add(consumer);
    return {
      stop: async () => {
        this.consumers.delete(consumer);
        await consumer.stop(true);
      },
    };
  }

  /** The durable pull consumer, created or brought in line (see ensureDurable). */
  private async ensureConsumer(options: ConsumeOptions): Promise<void> {
    await ensureDurable(await this.manager(), options);
  }

  async ping(): Promise<void> {
    if (this.closed) throw new Error("bus is closed");
    if (!this.nc) {
      // Right after start: wait for the first attempt's outcome rather than report a false outage.
      await Promise.race([this.firstConnection, this.firstFailure, sleep(2000, undefined, { ref: false })]).catch(
        () => {},
      );
    }
    if (!this.nc || !this.connected) throw new Error(`nats is not connected (${this.options.servers.join(",")})`);
    await Promise.race([
      this.nc.rtt(),
      sleep(2000, undefined, { ref: false }).then(() => {
        throw new Error("nats did not answer a ping within 2 s");
      }),
    ]);
  }

  async drain(): Promise<void> {
    if (this.closed) return;
    await Promise.all([...this.consumers].map((c) => c.stop(true)));
    this.closed = true;
    this.stopWaiting.abort();
    // drain() lets subscriptions handle what they already received and flushes publishes.
    if (this.nc && !this.nc.isClosed()) await this.nc.drain().catch(() => this.nc?.close());
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.stopWaiting.abort();
    await Promise.all([...this.consumers].map((c) => c.stop(false)));
    this.subscriptions.clear();
    if (this.nc && !this.nc.isClosed()) await this.nc.close();
  }
}
