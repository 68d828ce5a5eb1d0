/**
 * Starts dispatch for a test with the services it works with, all real: pricing (quotes),
 * fleet (profiles, vehicles, drivers), booking (orders and its internal dispatch calls) and
 * tracking (live drivers) on one platform and gRPC port, dispatch on the same platform or on
 * platforms of its own (replicas) over the same database and bus, in fresh schemas, streams
 * and subject roots. Embedded defaults, or the real Postgres/Redis/NATS when their URLs are
 * set. stop() leaves nothing behind.
 */
import { randomInt } from "node:crypto";
import * as grpc from "@grpc/grpc-js";
import { v7 as uuidv7 } from "uuid";
import { TokenIssuer, type Role } from "@weelo/auth";
import { bookingConfigSchema, startBooking } from "@weelo/booking";
import { dispatchConfigSchema, startDispatch, type DispatchConfig, type DispatchModule } from "@weelo/dispatch";
import { BookingServiceService } from "@weelo/contracts/grpc/weelo/booking/v1/booking_service";
import type { Address } from "@weelo/contracts/grpc/weelo/common/v1/common";
import {
  DispatchServiceService,
  type WatchOffersResponse,
} from "@weelo/contracts/grpc/weelo/dispatch/v1/dispatch_service";
import { DriverServiceService } from "@weelo/contracts/grpc/weelo/fleet/v1/driver_service";
import { FleetDirectoryServiceService } from "@weelo/contracts/grpc/weelo/fleet/v1/fleet_directory_service";
import { TransporterServiceService } from "@weelo/contracts/grpc/weelo/fleet/v1/transporter_service";
import { VehicleServiceService } from "@weelo/contracts/grpc/weelo/fleet/v1/vehicle_service";
import { PricingServiceService } from "@weelo/contracts/grpc/weelo/pricing/v1/pricing_service";
import { TrackingInternalServiceService } from "@weelo/contracts/grpc/weelo/tracking/v1/tracking_internal_service";
import { TrackingServiceService } from "@weelo/contracts/grpc/weelo/tracking/v1/tracking_service";
import { fleetConfigSchema, startFleet } from "@weelo/fleet";
import { createClient, EPHEMERAL_LOOPBACK, requirePrincipal, type CallOptions, type ServiceClient } from "@weelo/grpc";
import { loadConfig } from "@weelo/config";
import { pricingConfigSchema, startPricing } from "@weelo/pricing";
import { createPlatform, type Platform } from "@weelo/runtime";
import { isolatedTestEnvironment, sleep, until } from "@weelo/testing";
import { startTracking, trackingConfigSchema } from "@weelo/tracking";

/** Pune: pickups here; drivers and bases placed around it. */
export const PUNE = { lat: 18.5204, lng: 73.8567 };
export const DROP = { lat: 18.5912, lng: 73.7389 };
export const VEHICLE_TYPE = "lcv_14ft";

/** A point about `km` kilometres north of `from`. */
export const north = (from: { lat: number; lng: number }, km: number) => ({
  lat: from.lat + km / 111.32,
  lng: from.lng,
});

export interface Party {
  id: string;
  auth: CallOptions;
}

export interface TestTransporter extends Party {
  vehicles: string[];
}

export interface OfferWatch {
  messages: WatchOffersResponse[];
  /** Offers open on the stream now (offer messages minus closed ones). */
  open(): Map<
    string,
    NonNullable<WatchOffersResponse["kind"]> extends infer K
      ? K extends { $case: "offer"; value: infer V }
        ? V
        : never
      : never
  >;
  caughtUp: boolean;
  ended: boolean;
  close(): void;
}

const schemaSchema = pricingConfigSchema
  .extend(fleetConfigSchema.shape)
  .extend(bookingConfigSchema.shape)
  .extend(trackingConfigSchema.shape)
  .extend(dispatchConfigSchema.shape);

export interface TestDispatch {
  platform: Platform;
  env: Record<string, string | undefined>;
  config: Readonly<DispatchConfig>;
  /** host:port of the gRPC server hosting every service. */
  address: string;
  /** The mesh listener (mutual TLS) where internal calls go. */
  meshAddress: string;
  /** The dispatch on the main platform (unless started without). */
  dispatchModule: DispatchModule | undefined;
  dispatch: ServiceClient<typeof DispatchServiceService>;
  bookings: ServiceClient<typeof BookingServiceService>;
  as(token: string): CallOptions;
  token(role: Role, userId?: string, transporterId?: string): Promise<string>;
  party(role: Role): Promise<Party>;
  /** Adds a vehicle of a type to the transporter's fleet; returns its id. */
  vehicle(transporter: Party, vehicleType?: string): Promise<string>;
  /** A transporter with vehicles of the type; based at `base` (service radius `radiusKm`) when given. */
  transporter(options?: {
    base?: { lat: number; lng: number };
    radiusKm?: number;
    vehicles?: number;
    vehicleType?: string;
  }): Promise<TestTransporter>;
  /** A driver of the transporter, logged in, online with the vehicle and seen at `at`. */
  onlineDriver(
    transporter: TestTransporter,
    vehicleId: string,
    at: { lat: number; lng: number },
  ): Promise<{ id: string; userId: string; auth: CallOptions }>;
  /** A registered driver of the transporter who has logged in once (offline). */
  driver(transporter: TestTransporter): Promise<{ id: string; userId: string; auth: CallOptions }>;
  /** A customer books `count` trucks picked up at `pickup`. */
  book(
    count?: number,
    pickup?: { lat: number; lng: number },
  ): Promise<{ customer: Party; orderId: string; bookingIds: string[] }>;
  watch(transporter: Party, target?: ServiceClient<typeof DispatchServiceService>): OfferWatch;
  /** The transporter's first open offer of the order, waiting for it. */
  offerFor(
    transporter: Party,
    orderId: string,
    timeoutMs?: number,
    client?: ServiceClient<typeof DispatchServiceService>,
  ): Promise<{ id: string; vehicleCountOpen: number }>;
  /**
   * Another dispatch process-alike: its own platform (replica) on the same database and bus, with a client.
   * `listenAfterMs`: it listens that long after dispatch started, and its upstreams' address is port 0 until then.
   */
  replica(
    env?: Record<string, string>,
    options?: { listenAfterMs?: number },
  ): Promise<{
    platform: Platform;
    module: DispatchModule;
    client: ServiceClient<typeof DispatchServiceService>;
    address: string;
    stop(): Promise<void>;
  }>;
  stop(): Promise<void>;
}

let counter = 0;
const SERIES = "ABCDEFGHJKLMNPRSTUVWXYZ";
const phone = () =>
  `9${String(randomInt(0, 10_000)).padStart(4, "0")}${String((process.pid * 1000 + ++counter) % 100_000).padStart(5, "0")}`;
const registration = () =>
  `MH${String(10 + randomInt(0, 89))}${SERIES[randomInt(0, SERIES.length)]}${SERIES[randomInt(0, SERIES.length)]}${String(randomInt(1000, 10_000))}`;

export function address(point: { lat: number; lng: number }, city = "Pune"): Address {
  return {
    line1: "Plot 7, MIDC",
    line2: "",
    landmark: "",
    city,
    state: "Maharashtra",
    pincode: "411001",
    location: point,
    contactName: "Asha Patel",
    contactPhone: "9876543210",
  };
}

/**
 * `withDispatch: false` starts everything but dispatch (tests then run dispatch as replicas or
 * child processes of its own).
 */
export async function startTestDispatch(
  options: { env?: Record<string, string>; withDispatch?: boolean } = {},
): Promise<TestDispatch> {
  const isolated = await isolatedTestEnvironment();
  const s = isolated.suffix;
  const env: Record<string, string | undefined> = {
    ...isolated.env,
    BOOKING_STREAM: `T_BOOKING_${s}`,
    BOOKING_SUBJECT_ROOT: `t_${s}_booking`,
    FLEET_STREAM: `T_FLEET_${s}`,
    FLEET_SUBJECT_ROOT: `t_${s}_fleet`,
    TRACKING_SUBJECT_ROOT: `t_${s}_tracking`,
    DISPATCH_STREAM: `T_DISPATCH_${s}`,
    DISPATCH_SUBJECT_ROOT: `t_${s}_dispatch`,
    DISPATCH_CONSUMER: `t_${s}_dispatch`,
    OUTBOX_POLL_MS: "100",
    TIMER_POLL_MS: "50",
    WAVE_DURATION_MS: "400",
    ORDER_GATHER_MS: "300",
    BOOKING_CALL_RETRY_MS: "100",
    CLAIM_LEASE_MS: "2000",
    WATCH_RESYNC_MS: "1000",
    QUOTES_PER_USER_PER_MINUTE: "100000",
    ...options.env,
  };
  const config = loadConfig(schemaSchema, env);
  const platform = await createPlatform(config, { name: "dispatch-test" });
  const replicas: { stop(): Promise<void> }[] = [];
  const clients: { close(): void }[] = [];
  const cleanup = async () => {
    for (const r of replicas.splice(0)) await r.stop().catch(() => undefined);
    for (const c of clients.splice(0)) c.close();
    for (const stream of [env.BOOKING_STREAM!, env.FLEET_STREAM!, env.DISPATCH_STREAM!])
      await platform.bus.deleteStream(stream).catch(() => false);
    await platform.shutdown();
    await isolated.cleanup(["pricing", "fleet", "booking", "tracking", "dispatch"]);
  };
  let meshPort = 0;
  try {
    await startPricing(platform, config, { ownAddress: () => `127.0.0.1:${meshPort}` });
    const fleet = await startFleet(platform, config, { vehicleTypes: { has: async () => true } });
    await startBooking(platform, config, { ownAddress: () => `127.0.0.1:${meshPort}` });
    await startTracking(platform, config, {
      resolveDriver: async (ctx) => (await fleet.service.getAvailability(requirePrincipal(ctx, "driver"))).driver.id,
    });
    const dispatchModule =
      options.withDispatch === false
        ? undefined
        : await startDispatch(platform, config, { ownAddress: () => `127.0.0.1:${meshPort}` });
    const ports = await platform.grpc.listen(EPHEMERAL_LOOPBACK);
    meshPort = ports.meshPort;
    await dispatchModule?.consuming;
    const target = `127.0.0.1:${ports.publicPort}`;
    const meshTarget = `127.0.0.1:${meshPort}`;
    const make = <D extends Parameters<typeof createClient>[0]>(definition: D, at = target) => {
      const client = createClient(definition, at, { deadlineMs: 15_000 });
      clients.push(client);
      return client;
    };
    const dispatch = make(DispatchServiceService);
    const bookings = make(BookingServiceService);
    const pricing = make(PricingServiceService);
    const vehicles = make(VehicleServiceService);
    const drivers = make(DriverServiceService);
    const transporters = make(TransporterServiceService);
    // Internal: over the mesh as identity, which links a driver's account at login.
    const directory = platform.meshClient(FleetDirectoryServiceService, meshTarget, "identity");
    clients.push(directory);
    const trackingClient = make(TrackingServiceService);
    const trackingInternal = platform.meshClient(TrackingInternalServiceService, meshTarget, "dispatch");
    clients.push(trackingInternal);
    const issuer = new TokenIssuer(platform.keys);
    const as = (token: string): CallOptions => ({ metadata: { authorization: `Bearer ${token}` } });
    const token = async (role: Role, userId = uuidv7(), transporterId?: string) =>
      (
        await issuer.issueAccessToken({
          userId,
          role,
          sessionId: uuidv7(),
          ...(transporterId ? { transporterId } : {}),
        })
      ).token;
    const party = async (role: Role): Promise<Party> => {
      const id = uuidv7();
      return { id, auth: as(await token(role, id)) };
    };

    const registerDriver = async (transporter: TestTransporter) => {
      const number = phone();
      const added = await drivers.addDriver(
        {
          name: "Ramesh Kumar",
          phone: number,
          licenceNumber: `MH12${String(randomInt(10_000_000_000, 99_999_999_999))}`,
          idempotencyKey: "",
        },
        transporter.auth,
      );
      const userId = uuidv7();
      await directory.linkDriverAccount({ phone: number, userId });
      return { id: added.driver!.id, userId, auth: as(await token("driver", userId, transporter.id)) };
    };

    const test: TestDispatch = {
      platform,
      env,
      config,
      address: target,
      meshAddress: meshTarget,
      dispatchModule,
      dispatch,
      bookings,
      as,
      token,
      party,
      async vehicle(transporter, vehicleType = VEHICLE_TYPE) {
        const added = await vehicles.addVehicle(
          {
            registrationNumber: registration(),
            vehicleType,
            capacityKg: 3500,
            makeModel: "Tata 1109",
            idempotencyKey: "",
          },
          transporter.auth,
        );
        return added.vehicle!.id;
      },
      async transporter(o = {}) {
        const t = await party("transporter");
        if (o.base)
          await transporters.updateTransporterProfile(
            { baseLocation: o.base, serviceRadiusKm: o.radiusKm ?? 25 },
            t.auth,
          );
        const ids: string[] = [];
        for (let i = 0; i < (o.vehicles ?? 1); i++) ids.push(await test.vehicle(t, o.vehicleType));
        return { ...t, vehicles: ids };
      },
      driver: registerDriver,
      async onlineDriver(transporter, vehicleId, at) {
        const driver = await registerDriver(transporter);
        await drivers.setAvailability({ online: true, vehicleId }, driver.auth);
        // Tracking learns of the driver from fleet's availability event; then the position makes it findable.
        await until(
          "tracking to know the driver online",
          async () => {
            await trackingClient.updateLocation(
              {
                points: [
                  {
                    seq: Date.now(),
                    recordedAt: new Date(),
                    lat: at.lat,
                    lng: at.lng,
                    accuracyM: 5,
                    speedMps: 0,
                    heading: 0,
                  },
                ],
              },
              driver.auth,
            );
            const found = await trackingInternal.findNearbyDrivers({
              center: at,
              radiusM: 200,
              vehicleType: VEHICLE_TYPE,
              limit: 200,
              onePerTransporter: false,
            });
            return found.drivers.some((d) => d.driverId === driver.id);
          },
          10_000,
          100,
        );
        return driver;
      },
      async book(count = 1, pickup = PUNE) {
        const customer = await party("customer");
        const quote = await pricing.getQuote(
          { pickup, drop: DROP, vehicleType: VEHICLE_TYPE, vehicleCount: count },
          customer.auth,
        );
        const created = await bookings.createBooking(
          {
            quoteToken: quote.quoteToken,
            pickup: address(pickup),
            drop: address(DROP, "Hinjewadi"),
            vehicleType: VEHICLE_TYPE,
            vehicleCount: count,
            goodsType: "furniture",
            weightKg: 1000,
            notes: "",
            idempotencyKey: "",
          },
          customer.auth,
        );
        return { customer, orderId: created.order!.id, bookingIds: created.order!.bookings.map((b) => b.id) };
      },
      watch(transporter, target = dispatch) {
        const method = DispatchServiceService.watchOffers;
        const metadata = new grpc.Metadata();
        for (const [k, v] of Object.entries(transporter.auth.metadata ?? {})) metadata.set(k, v);
        const call = target.raw.makeServerStreamRequest(
          method.path,
          method.requestSerialize,
          method.responseDeserialize,
          {},
          metadata,
        );
        const messages: WatchOffersResponse[] = [];
        const watch: OfferWatch = {
          messages,
          caughtUp: false,
          ended: false,
          open() {
            const open = new Map();
            for (const m of messages) {
              if (m.kind?.$case === "offer") open.set(m.kind.value.id, m.kind.value);
              if (m.kind?.$case === "closed") open.delete(m.kind.value.id);
            }
            return open;
          },
          close: () => call.cancel(),
        };
        call.on("data", (m: WatchOffersResponse) => {
          messages.push(m);
          if (m.kind?.$case === "caughtUp") watch.caughtUp = true;
        });
        call.on("error", () => undefined);
        call.on("status", () => (watch.ended = true));
        call.on("end", () => (watch.ended = true));
        return watch;
      },
      async offerFor(transporter, orderId, timeoutMs = 10_000, client = dispatch) {
        let found: { id: string; vehicleCountOpen: number } | undefined;
        await until(
          `an open offer of order ${orderId} for transporter ${transporter.id}`,
          async () => {
            const page = await client.listOffers({ status: 0, pageSize: 100, pageToken: "" }, transporter.auth);
            found = page.offers.find((o) => o.orderId === orderId);
            return found !== undefined;
          },
          timeoutMs,
          50,
        );
        return found!;
      },
      async replica(overrides = {}, options = {}) {
        const replicaConfig = loadConfig(schemaSchema, { ...env, ...overrides });
        const replicaPlatform = await createPlatform(replicaConfig, { name: "dispatch-replica" });
        // With listenAfterMs, the upstreams' address is known only once the replica listens, as
        // the all-in-one's own mesh port is (port 0 until then).
        let listened = options.listenAfterMs === undefined;
        const module = await startDispatch(replicaPlatform, replicaConfig, {
          ownAddress: () => (listened ? meshTarget : "127.0.0.1:0"),
        });
        if (options.listenAfterMs) await sleep(options.listenAfterMs);
        const { publicPort: replicaPort } = await replicaPlatform.grpc.listen(EPHEMERAL_LOOPBACK);
        listened = true;
        await module.consuming;
        const client = createClient(DispatchServiceService, `127.0.0.1:${replicaPort}`, { deadlineMs: 15_000 });
        const handle = {
          platform: replicaPlatform,
          module,
          client,
          address: `127.0.0.1:${replicaPort}`,
          async stop() {
            client.close();
            await replicaPlatform.shutdown();
          },
        };
        replicas.push(handle);
        return handle;
      },
      stop: cleanup,
    };
    return test;
  } catch (error) {
    await cleanup().catch(() => undefined);
    throw error;
  }
}
