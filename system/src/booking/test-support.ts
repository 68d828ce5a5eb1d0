/**
 * Starts the booking service for a test, with pricing in the same platform (to mint real
 * quote tokens through GetQuote): a real platform (embedded defaults, or the real
 * Postgres/Redis/NATS when their URLs are set) in fresh schemas, key prefix, stream and
 * subject root, on a gRPC port of its own, with clients and token helpers. stop() leaves
 * nothing behind.
 */
import { v7 as uuidv7 } from "uuid";
import { TokenIssuer, type Role } from "@weelo/auth";
import { loadBookingConfig, startBooking, type BookingConfig, type BookingModule } from "@weelo/booking";
import { bookingMigrations, type BookingDatabase } from "@weelo/booking/testing";
import { BookingDispatchServiceService } from "@weelo/contracts/grpc/weelo/booking/v1/booking_dispatch_service";
import { BookingOpsServiceService } from "@weelo/contracts/grpc/weelo/booking/v1/booking_ops_service";
import {
  BookingServiceService,
  type CreateBookingRequest,
} from "@weelo/contracts/grpc/weelo/booking/v1/booking_service";
import type { Address } from "@weelo/contracts/grpc/weelo/common/v1/common";
import { PricingServiceService } from "@weelo/contracts/grpc/weelo/pricing/v1/pricing_service";
import { createDatabase, type Database } from "@weelo/db";
import { createClient, createMeshClient, EPHEMERAL_LOOPBACK, type CallOptions, type ServiceClient } from "@weelo/grpc";
import { loadPricingConfig, startPricing } from "@weelo/pricing";
import { createPlatform, type Platform } from "@weelo/runtime";
import { isolatedTestEnvironment } from "@weelo/testing";

export const PICKUP = { lat: 19.076, lng: 72.8777 };
export const DROP = { lat: 19.2183, lng: 72.9781 };

export interface Party {
  id: string;
  auth: CallOptions;
}

export interface TestBooking {
  platform: Platform;
  config: Readonly<BookingConfig>;
  booking: BookingModule;
  db: Database<BookingDatabase>["db"];
  bookings: ServiceClient<typeof BookingServiceService>;
  dispatch: ServiceClient<typeof BookingDispatchServiceService>;
  /** BookingOpsService over the mesh with the ops service's certificate. */
  ops: ServiceClient<typeof BookingOpsServiceService>;
  /** Moves the clock of booking and pricing (quotes expire by it) by this many ms. */
  shiftClock(ms: number): void;
  as(token: string): CallOptions;
  token(role: Role, userId?: string): Promise<string>;
  party(role: Role): Promise<Party>;
  /** A quote token for the customer from pricing's GetQuote. */
  quote(
    customer: Party,
    options?: { vehicleType?: string; vehicleCount?: number; scheduledAt?: Date },
  ): Promise<string>;
  /** A valid CreateBookingRequest over a fresh quote, with overrides. */
  request(
    customer: Party,
    overrides?: Partial<CreateBookingRequest>,
    quote?: { vehicleCount?: number; scheduledAt?: Date },
  ): Promise<CreateBookingRequest>;
  stop(): Promise<void>;
}

export function address(point: { lat: number; lng: number }, name = "Asha Patel"): Address {
  return {
    line1: "12 MG Road",
    line2: "",
    landmark: "near the temple",
    city: "Mumbai",
    state: "Maharashtra",
    pincode: "400001",
    location: point,
    contactName: name,
    contactPhone: "9876543210",
  };
}

/** The DomainError a call failed with: one helper for every suite. */
export { failure } from "@weelo/testing";

export async function startTestBooking(options: { env?: Record<string, string> } = {}): Promise<TestBooking> {
  const isolated = await isolatedTestEnvironment();
  const suffix = isolated.suffix;
  const env: Record<string, string | undefined> = {
    ...isolated.env,
    BOOKING_STREAM: `t_${suffix}_BOOKING`,
    BOOKING_SUBJECT_ROOT: `t_${suffix}_booking`,
    OUTBOX_POLL_MS: "100",
    SCHEDULER_POLL_MS: "200",
    WATCH_POLL_MS: "200",
    QUOTES_PER_USER_PER_MINUTE: "100000",
    ...options.env,
  };
  const config = loadBookingConfig(env);
  const platform = await createPlatform(config, { name: "booking-test" });
  let offset = 0;
  let database: Database<BookingDatabase> | undefined;
  const cleanup = async () => {
    await platform.bus.deleteStream(config.BOOKING_STREAM).catch(() => false);
    await platform.shutdown();
    await database?.close();
    await isolated.cleanup(["booking", "pricing"]);
  };
  try {
    const now = () => new Date(Date.now() + offset);
    let meshPortOf = 0;
    await startPricing(platform, loadPricingConfig(env), { now, ownAddress: () => `127.0.0.1:${meshPortOf}` });
    const booking = await startBooking(platform, config, { now, ownAddress: () => `127.0.0.1:${meshPortOf}` });
    const { publicPort, meshPort } = await platform.grpc.listen(EPHEMERAL_LOOPBACK);
    meshPortOf = meshPort;
    database = await createDatabase<BookingDatabase>({
      service: "booking-test",
      schema: `${config.DB_SCHEMA_PREFIX}booking`,
      config: { ...config, DB_POOL_MAX: 2 },
      migrations: bookingMigrations,
      logger: platform.logger,
    });
    const target = `127.0.0.1:${publicPort}`;
    const clientOptions = { deadlineMs: 10_000 };
    const bookings = createClient(BookingServiceService, target, clientOptions);
    // BookingDispatchService is internal: called over the mesh with dispatch's certificate, as dispatch does.
    const dispatch = createMeshClient(BookingDispatchServiceService, `127.0.0.1:${meshPort}`, {
      ...clientOptions,
      mesh: platform.mesh,
      caller: "dispatch",
    });
    const ops = createMeshClient(BookingOpsServiceService, `127.0.0.1:${meshPort}`, {
      ...clientOptions,
      mesh: platform.mesh,
      caller: "ops",
    });
    const pricing = createClient(PricingServiceService, target, clientOptions);
    const issuer = new TokenIssuer(platform.keys);
    const as = (token: string): CallOptions => ({ metadata: { authorization: `Bearer ${token}` } });
    const token = async (role: Role, userId = uuidv7()) =>
      (await issuer.issueAccessToken({ userId, role, sessionId: uuidv7() })).token;
    const quote: TestBooking["quote"] = async (customer, q = {}) => {
      const response = await pricing.getQuote(
        {
          pickup: PICKUP,
          drop: DROP,
          vehicleType: q.vehicleType ?? "lcv_14ft",
          vehicleCount: q.vehicleCount ?? 1,
          scheduledAt: q.scheduledAt,
        },
        customer.auth,
      );
      return response.quoteToken;
    };
    return {
      platform,
      config,
      booking,
      db: database.db,
      bookings,
      dispatch,
      ops,
      shiftClock: (ms) => {
        offset += ms;
      },
      as,
      token,
      async party(role) {
        const id = uuidv7();
        return { id, auth: as(await token(role, id)) };
      },
      quote,
      async request(customer, overrides = {}, q = {}) {
        return {
          quoteToken: await quote(customer, q),
          pickup: address(PICKUP),
          drop: address(DROP, "Vikram Rao"),
          vehicleType: "lcv_14ft",
          vehicleCount: q.vehicleCount ?? 1,
          goodsType: "furniture",
          weightKg: 1200,
          scheduledAt: q.scheduledAt,
          notes: "",
          idempotencyKey: "",
          ...overrides,
        };
      },
      async stop() {
        for (const client of [bookings, dispatch, ops, pricing]) client.close();
        await cleanup();
      },
    };
  } catch (error) {
    await cleanup();
    throw error;
  }
}
