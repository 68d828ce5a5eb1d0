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
import { BookingStatus } from "@weelo/contracts/grpc/weelo/booking/v1/booking";
import { BookingCreated, BookingStatusChanged } from "@weelo/contracts/grpc/weelo/booking/v1/events";
import { EventEnvelope } from "@weelo/contracts/grpc/weelo/events/v1/envelope";
import type { LocationPoint } from "@weelo/contracts/grpc/weelo/tracking/v1/tracking";
import { TrackingInternalServiceService } from "@weelo/contracts/grpc/weelo/tracking/v1/tracking_internal_service";
import {
  TrackingServiceService,
  type StreamLocationResponse,
} from "@weelo/contracts/grpc/weelo/tracking/v1/tracking_service";
import { createClient, createMeshClient, EPHEMERAL_LOOPBACK, type CallOptions, type ServiceClient } from "@weelo/grpc";
import { createPlatform, type Platform } from "@weelo/runtime";
import { isolatedTestEnvironment, until } from "@weelo/testing";
import { loadTrackingConfig, type TrackingConfig } from "./tracking.config.js";
import { startTracking, type TrackingModule, type TrackingModuleOptions } from "./tracking.module.js";

export interface TestTracking {
  platform: Platform;
  config: Readonly<TrackingConfig>;
  tracking: TrackingModule;
  address: string;
  /** The mesh listener (internal services, mutual TLS with platform.mesh). */
  meshAddress: string;
  client: ServiceClient<typeof TrackingServiceService>;
  internal: ServiceClient<typeof TrackingInternalServiceService>;
  as(token: string): CallOptions;
  token(role: Role, userId?: string, transporterId?: string): Promise<string>;
  /** A driver: user id (also its driver id here) and token. */
  driver(): Promise<{ id: string; token: string }>;
  stream(token: string): DriverStreamClient;
  /** Publishes booking's events (as booking's outbox would) for a new trip of the driver, and waits until tracking holds it active. */
  startTrip(driverId: string, stops?: { pickup?: LatLng; drop?: LatLng }): Promise<TestTrip>;
  /** Publishes the trip's next booking status change and waits until tracking applied it; resolves to the event's id. */
  advance(
    trip: TestTrip,
    to: BookingStatus,
    options?: {
      subject?: "status_changed" | "cancelled" | "reopened" | "reassigned";
      previousDriverId?: string;
      reason?: string;
      /** When the change happened (default: now). */
      occurredAt?: Date;
    },
  ): Promise<string>;
  /** Another tracking replica on the same database schema, streams, subjects (and position store when in process), on its own gRPC port. */
  replica(): Promise<TrackingReplica>;
  /** Graceful shutdown, then a new platform on the same schema and key prefix. */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

export interface TrackingReplica {
  platform: Platform;
  tracking: TrackingModule;
  client: ServiceClient<typeof TrackingServiceService>;
  /** This replica's mesh listener. */
  meshAddress: string;
  /** A driver stream to this replica. */
  stream(token: string): DriverStreamClient;
  /** Graceful shutdown of this replica. */
  stop(): Promise<void>;
}

export interface LatLng {
  lat: number;
  lng: number;
}

export interface TestTrip {
  bookingId: string;
  driverId: string;
  vehicleId: string;
  customerId: string;
  transporterId: string;
  /** Call options with the customer's and the transporter's tokens. */
  customer: CallOptions;
  transporter: CallOptions;
  /** The booking's sequence of the last event published. */
  sequence: number;
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
  /** Cancels the call (the app going away). */
  close(): void;
  /** Ends the app's side of the stream (no more points); the server's side stays open. */
  halfClose(): void;
}

/** A point `seq` metres-ish north-east of a base, recorded `ageMs` ago. */
export function pointAt(seq: number, lat: number, lng: number, overrides: Partial<LocationPoint> = {}): LocationPoint {
  return {
    seq,
    recordedAt: new Date(Date.now() - 1000),
    lat,
    lng,
    accuracyM: 8,
    speedMps: 10,
    heading: 45,
    ...overrides,
  };
}

export async function startTestTracking(
  options: TrackingModuleOptions & { env?: Record<string, string> } = {},
): Promise<TestTracking> {
  const isolated = await isolatedTestEnvironment();
  const env: Record<string, string | undefined> = {
    ...isolated.env,
    FLEET_SUBJECT_ROOT: `t_${isolated.suffix}_fleet`,
    TRACKING_SUBJECT_ROOT: `t_${isolated.suffix}_tracking`,
    BREADCRUMB_FLUSH_MS: "20",
    BOOKING_STREAM: `t_${isolated.suffix}_BOOKING`,
    BOOKING_SUBJECT_ROOT: `t_${isolated.suffix}_booking`,
    TRACKING_STREAM: `t_${isolated.suffix}_TRACKING`,
    OUTBOX_POLL_MS: "50",
    ...options.env,
  };
  const config = loadTrackingConfig(env);
  let platform!: Platform;
  let tracking!: TrackingModule;
  let address = "";
  let meshAddress = "";
  let client!: ServiceClient<typeof TrackingServiceService>;
  let internal!: ServiceClient<typeof TrackingInternalServiceService>;
  const streams: DriverStreamClient[] = [];

  const replicas: TrackingReplica[] = [];
  const boot = async () => {
    platform = await createPlatform(config, { name: "tracking-test" });
    // Booking owns this stream; its events are what feed the trips.
    await platform.bus.ensureStream({ name: config.BOOKING_STREAM, subjects: [`${config.BOOKING_SUBJECT_ROOT}.>`] });
    tracking = await startTracking(platform, config, options);
    const { publicPort, meshPort } = await platform.grpc.listen(EPHEMERAL_LOOPBACK);
    address = `127.0.0.1:${publicPort}`;
    client = createClient(TrackingServiceService, address, { deadlineMs: 5000 });
    // TrackingInternalService is internal: each method over the mesh with the certificate of the service its proto names.
    const mesh = `127.0.0.1:${meshPort}`;
    meshAddress = mesh;
    const asDispatch = createMeshClient(InternalService, mesh, {
      deadlineMs: 5000,
      mesh: platform.mesh,
      caller: "dispatch",
    });
    const asBooking = createMeshClient(InternalService, mesh, {
      deadlineMs: 5000,
      mesh: platform.mesh,
      caller: "booking",
    });
    internal = Object.assign(Object.create(asDispatch) as typeof asDispatch, {
      checkArrival: asBooking.checkArrival,
      close: () => {
        asDispatch.close();
        asBooking.close();
      },
    });
  };
  const InternalService = TrackingInternalServiceService;
  const halt = async () => {
    for (const r of replicas.splice(0)) await r.stop().catch(() => undefined);
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
  const deleteStreams = async () => {
    await platform.bus.deleteStream(config.BOOKING_STREAM);
    await platform.bus.deleteStream(config.TRACKING_STREAM);
  };
  const publishBooking = async (
    type: string,
    subjectId: string,
    sequence: number,
    payloadType: string,
    payload: Uint8Array,
    occurredAt = new Date(),
  ) => {
    const id = uuidv7();
    const envelope = EventEnvelope.encode({
      id,
      type: `booking.${type}`,
      subjectId,
      sequence,
      occurredAt,
      payload: { typeUrl: `type.googleapis.com/${payloadType}`, value: Buffer.from(payload) },
      requestId: "",
    }).finish();
    await platform.bus.publishEvent(`${config.BOOKING_SUBJECT_ROOT}.${type}`, envelope, { msgId: id });
    return id;
  };
  const statusWordOf = (status: BookingStatus) => BookingStatus[status].replace(/^BOOKING_STATUS_/, "").toLowerCase();
  const openStream = (on: ServiceClient<typeof TrackingServiceService>, bearer: string): DriverStreamClient => {
    const metadata = new grpc.Metadata();
    metadata.set("authorization", `Bearer ${bearer}`);
    const method = TrackingServiceService.streamLocation;
    const call = on.raw.makeBidiStreamRequest(
      method.path,
      method.requestSerialize,
      method.responseDeserialize,
      metadata,
    ) as grpc.ClientDuplexStream<unknown, StreamLocationResponse>;
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
      halfClose: () => void call.end(),
    };
    streams.push(handle);
    return handle;
  };
  const as = (token: string): CallOptions => ({ metadata: { authorization: `Bearer ${token}` } });
  const token = async (role: Role, userId = uuidv7(), transporterId?: string) =>
    (
      await new TokenIssuer(platform.keys).issueAccessToken({
        userId,
        role,
        sessionId: uuidv7(),
        ...(transporterId ? { transporterId } : {}),
      })
    ).token;

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
    get meshAddress() {
      return meshAddress;
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
      return openStream(client, bearer);
    },
    async replica() {
      const replicaPlatform = await createPlatform(config, { name: "tracking-replica" });
      const replicaTracking = await startTracking(replicaPlatform, config, {
        ...options,
        ...(tracking.store.kind === "memory" ? { store: tracking.store } : {}),
      });
      const { publicPort, meshPort } = await replicaPlatform.grpc.listen(EPHEMERAL_LOOPBACK);
      const replicaClient = createClient(TrackingServiceService, `127.0.0.1:${publicPort}`, { deadlineMs: 5000 });
      let stopped: Promise<void> | undefined;
      const replica: TrackingReplica = {
        platform: replicaPlatform,
        tracking: replicaTracking,
        client: replicaClient,
        meshAddress: `127.0.0.1:${meshPort}`,
        stream: (bearer) => openStream(replicaClient, bearer),
        stop: () =>
          (stopped ??= (async () => {
            await replicaPlatform.shutdown();
            replicaClient.close();
          })()),
      };
      replicas.push(replica);
      return replica;
    },
    async startTrip(driverId, stops = {}) {
      const trip = {
        bookingId: uuidv7(),
        driverId,
        vehicleId: uuidv7(),
        customerId: uuidv7(),
        transporterId: uuidv7(),
        sequence: 1,
      };
      const created = BookingCreated.encode(
        BookingCreated.fromPartial({
          bookingId: trip.bookingId,
          orderId: uuidv7(),
          customerId: trip.customerId,
          vehicleType: "open_17ft",
          pickup: stops.pickup,
          drop: stops.drop,
          farePaise: 250_000,
          distanceM: 12_000,
          orderVehicleCount: 1,
          goodsType: "furniture",
          weightKg: 1000,
          pickupCity: "Mumbai",
          dropCity: "Pune",
          occurredAt: new Date(),
        }),
      ).finish();
      await publishBooking("created", trip.bookingId, 1, "weelo.booking.v1.BookingCreated", created);
      const full: TestTrip = {
        ...trip,
        customer: as(await token("customer", trip.customerId)),
        transporter: as(await token("transporter", trip.transporterId)),
      };
      await test.advance(full, BookingStatus.BOOKING_STATUS_CONFIRMED);
      await test.advance(full, BookingStatus.BOOKING_STATUS_ASSIGNED);
      return full;
    },
    async advance(
      trip,
      to,
      { subject = "status_changed", previousDriverId = "", reason = "", occurredAt = new Date() } = {},
    ) {
      trip.sequence += 1;
      const reopened = subject === "reopened";
      const withDriver =
        !reopened && to !== BookingStatus.BOOKING_STATUS_CONFIRMED && to !== BookingStatus.BOOKING_STATUS_PENDING;
      const change = BookingStatusChanged.encode(
        BookingStatusChanged.fromPartial({
          bookingId: trip.bookingId,
          orderId: "",
          from: BookingStatus.BOOKING_STATUS_UNSPECIFIED,
          to,
          actorRole: 0,
          actorId: trip.transporterId,
          reason,
          reopened,
          cancellationFeePaise: 0,
          occurredAt,
          customerId: trip.customerId,
          transporterId: reopened ? "" : trip.transporterId,
          driverId: withDriver ? trip.driverId : "",
          vehicleId: withDriver ? trip.vehicleId : "",
          vehicleType: "open_17ft",
          previousDriverId,
        }),
      ).finish();
      const eventId = await publishBooking(
        subject,
        trip.bookingId,
        trip.sequence,
        "weelo.booking.v1.BookingStatusChanged",
        change,
        occurredAt,
      );
      const word = statusWordOf(to);
      await until(
        `tracking applied ${word} of ${trip.bookingId}`,
        async () => Number((await tracking.feed.row(trip.bookingId))?.booking_sequence ?? 0) >= trip.sequence,
      );
      if (withDriver)
        await until(
          `tracking holds ${word} of ${trip.bookingId}`,
          () => tracking.trips.byBooking(trip.bookingId)?.status === word,
        );
      return eventId;
    },
    async restart() {
      await halt();
      await boot();
    },
    async stop() {
      await deleteStreams().catch(() => undefined);
      await halt();
      await cleanRedis().catch(() => undefined);
      await isolated.cleanup(["tracking"]);
    },
  };
  return test;
}
