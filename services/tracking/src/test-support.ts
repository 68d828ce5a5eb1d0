/**
 * Starts the tracking service for a test: a real platform (embedded defaults, or the real
 * Postgres/Redis/NATS when their URLs are set) in a fresh schema, key prefix and subject
 * root, on a gRPC port of its own, with clients, token helpers and a driver stream helper.
 * restart() stops the platform and starts a new one on the same schema (what survives a
 * graceful shutdown); stop() leaves nothing behind.
 */
import * as grpc from "@grpc/grpc-js";
import { v7 as uuidv7 } from "uuid";
import { TokenIssuer, type Role } from "@weelo/auth";
import type { LocationPoint } from "@weelo/contracts/grpc/weelo/tracking/v1/tracking";
import { TrackingInternalServiceService } from "@weelo/contracts/grpc/weelo/tracking/v1/tracking_internal_service";
import { TrackingServiceService, type StreamLocationResponse } from "@weelo/contracts/grpc/weelo/tracking/v1/tracking_service";
import { createClient, type CallOptions, type ServiceClient } from "@weelo/grpc";
import { createPlatform, type Platform } from "@weelo/runtime";
import { isolatedTestEnvironment, until } from "@weelo/testing";
import { loadTrackingConfig, type TrackingConfig } from "./tracking.config.js";
import { startTracking, type TrackingModule, type TrackingModuleOptions } from "./tracking.module.js";

export interface TestTracking {
  platform: Platform;
  config: Readonly<TrackingConfig>;
  tracking: TrackingModule;
  address: string;
  client: ServiceClient<typeof TrackingServiceService>;
  internal: ServiceClient<typeof TrackingInternalServiceService>;
  as(token: string): CallOptions;
  token(role: Role, userId?: string, transporterId?: string): Promise<string>;
  /** A driver: user id (also its driver id here) and token. */
  driver(): Promise<{ id: string; token: string }>;
  stream(token: string): DriverStreamClient;
  /** Graceful shutdown, then a new platform on the same schema and key prefix. */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

export interface DriverStreamClient {
  call: grpc.ClientDuplexStream<unknown, StreamLocationResponse>;
  responses: StreamLocationResponse[];
  /** The highest acked_seq received. */
  readonly acked: number;
  /** The status the stream ended with (undefined while open). */
  readonly status: grpc.StatusObject | undefined;
  send(points: LocationPoint[]): void;
  waitForAck(seq: number, timeoutMs?: number): Promise<void>;
  waitForEnd(timeoutMs?: number): Promise<grpc.StatusObject>;
  close(): void;
}

/** A point `seq` metres-ish north-east of a base, recorded `ageMs` ago. */
export function pointAt(seq: number, lat: number, lng: number, overrides: Partial<LocationPoint> = {}): LocationPoint {
  return { seq, recordedAt: new Date(Date.now() - 1000), lat, lng, accuracyM: 8, speedMps: 10, heading: 45, ...overrides };
}

export async function startTestTracking(options: TrackingModuleOptions & { env?: Record<string, string> } = {}): Promise<TestTracking> {
  const isolated = await isolatedTestEnvironment();
  const env: Record<string, string | undefined> = {
    ...isolated.env,
    FLEET_SUBJECT_ROOT: `t_${isolated.suffix}_fleet`,
    TRACKING_SUBJECT_ROOT: `t_${isolated.suffix}_tracking`,
    BREADCRUMB_FLUSH_MS: "20",
    ...options.env,
  };
  const config = loadTrackingConfig(env);
  let platform!: Platform;
  let tracking!: TrackingModule;
  let address = "";
  let client!: ServiceClient<typeof TrackingServiceService>;
  let internal!: ServiceClient<typeof TrackingInternalServiceService>;
  const streams: DriverStreamClient[] = [];

  const boot = async () => {
    platform = await createPlatform(config, { name: "tracking-test" });
    tracking = await startTracking(platform, config, options);
    const port = await platform.grpc.listen("127.0.0.1", 0);
    address = `127.0.0.1:${port}`;
    client = createClient(TrackingServiceService, address, { deadlineMs: 5000 });
    internal = createClient(InternalService, address, { deadlineMs: 5000 });
  };
  const InternalService = TrackingInternalServiceService;
  const halt = async () => {
    for (const s of streams.splice(0)) s.close();
    client?.close();
    internal?.close();
    await platform?.shutdown();
  };
  const cleanRedis = async () => {
    if (!config.REDIS_URL) return;
    const { Redis } = await import("ioredis");
    const redis = new Redis(config.REDIS_URL);
    try {
      const keys = await redis.keys(`${config.CACHE_KEY_PREFIX}*`);
      if (keys.length > 0) await redis.del(...keys);
    } finally {
      redis.disconnect();
    }
  };

  try {
    await boot();
  } catch (error) {
    await halt().catch(() => undefined);
    await isolated.cleanup(["tracking"]);
    throw error;
  }
  const as = (token: string): CallOptions => ({ metadata: { authorization: `Bearer ${token}` } });
  const token = async (role: Role, userId = uuidv7(), transporterId?: string) =>
    (await new TokenIssuer(platform.keys).issueAccessToken({ userId, role, sessionId: uuidv7(), ...(transporterId ? { transporterId } : {}) })).token;

  const test: TestTracking = {
    get platform() {
      return platform;
    },
    config,
    get tracking() {
      return tracking;
    },
    get address() {
      return address;
    },
    get client() {
      return client;
    },
    get internal() {
      return internal;
    },
    as,
    token,
    async driver() {
      const id = uuidv7();
      return { id, token: await token("driver", id, uuidv7()) };
    },
    stream(bearer) {
      const metadata = new grpc.Metadata();
      metadata.set("authorization", `Bearer ${bearer}`);
      const method = TrackingServiceService.streamLocation;
      const call = client.raw.makeBidiStreamRequest(method.path, method.requestSerialize, method.responseDeserialize, metadata) as grpc.ClientDuplexStream<unknown, StreamLocationResponse>;
      const responses: StreamLocationResponse[] = [];
      let acked = 0;
      let status: grpc.StatusObject | undefined;
      call.on("data", (r: StreamLocationResponse) => {
        responses.push(r);
        if (r.kind?.$case === "ack") acked = Math.max(acked, r.kind.value.ackedSeq);
      });
      call.on("status", (s: grpc.StatusObject) => (status = s));
      call.on("error", () => undefined);
      const handle: DriverStreamClient = {
        call,
        responses,
        get acked() {
          return acked;
        },
        get status() {
          return status;
        },
        send: (points) => void call.write({ points }),
        waitForAck: (seq, timeoutMs = 5000) => until(`ack of ${seq} (have ${acked})`, () => acked >= seq, timeoutMs),
        async waitForEnd(timeoutMs = 5000) {
          await until("the stream to end", () => status !== undefined, timeoutMs);
          return status!;
        },
        close: () => call.cancel(),
      };
      streams.push(handle);
      return handle;
    },
    async restart() {
      await halt();
      await boot();
    },
    async stop() {
      await halt();
      await cleanRedis().catch(() => undefined);
      await isolated.cleanup(["tracking"]);
    },
  };
  return test;
}
