/**
 * Starts the fleet service for a test: a real platform (embedded defaults on a copy of the
 * PGlite template, or the real Postgres/Redis/NATS when their URLs are set) in a fresh schema,
 * key prefix, stream and subject root, on a gRPC port of its own, with clients and token
 * helpers. stop() leaves nothing behind.
 */
import { randomInt } from "node:crypto";
import { v7 as uuidv7 } from "uuid";
import { TokenIssuer, type Role } from "@weelo/auth";
import { DriverServiceService } from "@weelo/contracts/grpc/weelo/fleet/v1/driver_service";
import { FleetDirectoryServiceService } from "@weelo/contracts/grpc/weelo/fleet/v1/fleet_directory_service";
import { TransporterServiceService } from "@weelo/contracts/grpc/weelo/fleet/v1/transporter_service";
import { VehicleServiceService } from "@weelo/contracts/grpc/weelo/fleet/v1/vehicle_service";
import { createDatabase, type Database } from "@weelo/db";
import { createClient, createMeshClient, EPHEMERAL_LOOPBACK, type CallOptions, type ServiceClient } from "@weelo/grpc";
import { createPlatform, type Platform } from "@weelo/runtime";
import { isolatedTestEnvironment } from "@weelo/testing";
import { loadFleetConfig, type FleetConfig } from "./fleet.config.js";
import { startFleet, type FleetModule, type FleetModuleOptions } from "./fleet.module.js";
import type { FleetDatabase } from "./fleet.table.js";
import { fleetMigrations } from "./migrations/index.js";

export interface TestFleet {
  platform: Platform;
  config: Readonly<FleetConfig>;
  fleet: FleetModule;
  address: string;
  /** The fleet schema, for arranging states no RPC can reach (a vehicle ON_TRIP). */
  db: Database<FleetDatabase>["db"];
  vehicles: ServiceClient<typeof VehicleServiceService>;
  drivers: ServiceClient<typeof DriverServiceService>;
  transporters: ServiceClient<typeof TransporterServiceService>;
  directory: ServiceClient<typeof FleetDirectoryServiceService>;
  /** Call options carrying a bearer token. */
  as(token: string): CallOptions;
  /** A new transporter: its id and call options. */
  transporter(): Promise<{ id: string; auth: CallOptions }>;
  /** A token of any role (for refusals). */
  token(role: Role, userId?: string, transporterId?: string): Promise<string>;
  /**
   * A driver registered by the transporter and logged in as identity would do it (directory
   * link, then a token carrying the transporter id).
   */
  driver(
    transporter: { id: string; auth: CallOptions },
    phone?: string,
  ): Promise<{ id: string; userId: string; phone: string; auth: CallOptions }>;
  stop(): Promise<void>;
}

let phoneCounter = 0;

/** A fresh, valid Indian mobile number (random per process, counted within it). */
export function uniquePhone(): string {
  phoneCounter += 1;
  return `9${String(randomInt(0, 10_000)).padStart(4, "0")}${String((process.pid * 1000 + phoneCounter) % 100_000).padStart(5, "0")}`;
}

let registrationCounter = 0;
const SERIES = "ABCDEFGHJKLMNPRSTUVWXYZ";

/** A fresh, valid state-series registration number such as MH12AB1234. */
export function uniqueRegistration(): string {
  registrationCounter += 1;
  const letters = () => SERIES[randomInt(0, SERIES.length)]!;
  return `MH${String(randomInt(1, 100)).padStart(2, "0")}${letters()}${letters()}${String(((process.pid + registrationCounter * 7919) % 9999) + 1).padStart(4, "0")}`;
}

/** The DomainError a call failed with: one helper for every suite. */
export { failure } from "@weelo/testing";

export async function startTestFleet(
  options: FleetModuleOptions & { env?: Record<string, string> } = {},
): Promise<TestFleet> {
  const isolated = await isolatedTestEnvironment();
  const suffix = isolated.suffix;
  const env: Record<string, string | undefined> = {
    ...isolated.env,
    FLEET_STREAM: `t_${suffix}_FLEET`,
    FLEET_SUBJECT_ROOT: `t_${suffix}_fleet`,
    BOOKING_STREAM: `t_${suffix}_BOOKING`,
    BOOKING_SUBJECT_ROOT: `t_${suffix}_booking`,
    OUTBOX_POLL_MS: "100",
    ...options.env,
  };
  const config = loadFleetConfig(env);
  const platform = await createPlatform(config, { name: "fleet-test" });
  let database: Database<FleetDatabase> | undefined;
  const cleanup = async () => {
    await platform.bus.deleteStream(config.FLEET_STREAM).catch(() => false);
    await platform.bus.deleteStream(config.BOOKING_STREAM).catch(() => false);
    await platform.shutdown();
    await database?.close();
    await isolated.cleanup(["fleet"]);
  };
  try {
    const fleet = await startFleet(platform, config, options);
    const { publicPort, meshPort } = await platform.grpc.listen(EPHEMERAL_LOOPBACK);
    database = await createDatabase<FleetDatabase>({
      service: "fleet-test",
      schema: `${config.DB_SCHEMA_PREFIX}fleet`,
      config: { ...config, DB_POOL_MAX: 2 },
      migrations: fleetMigrations,
      logger: platform.logger,
    });
    const address = `127.0.0.1:${publicPort}`;
    const clientOptions = { deadlineMs: 5000 };
    const vehicles = createClient(VehicleServiceService, address, clientOptions);
    const drivers = createClient(DriverServiceService, address, clientOptions);
    const transporters = createClient(TransporterServiceService, address, clientOptions);
    // FleetDirectoryService is internal: over the mesh with identity's certificate, as identity asks it at login.
    const directory = createMeshClient(FleetDirectoryServiceService, `127.0.0.1:${meshPort}`, {
      ...clientOptions,
      mesh: platform.mesh,
      caller: "identity",
    });
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
    let licenceCounter = 0;
    return {
      platform,
      config,
      fleet,
      address,
      db: database.db,
      vehicles,
      drivers,
      transporters,
      directory,
      as,
      token,
      async transporter() {
        const id = uuidv7();
        return { id, auth: as(await token("transporter", id)) };
      },
      async driver(transporter, phone = uniquePhone()) {
        licenceCounter += 1;
        const { driver } = await drivers.addDriver(
          {
            idempotencyKey: "",
            name: "Ravi Kumar",
            phone,
            licenceNumber: `MH12 2011${String(licenceCounter).padStart(7, "0")}`,
          },
          transporter.auth,
        );
        const userId = uuidv7();
        const linked = await directory.linkDriverAccount({ phone, userId });
        return {
          id: driver!.id,
          userId,
          phone: driver!.phone,
          auth: as(await token("driver", userId, linked.transporterId)),
        };
      },
      async stop() {
        for (const client of [vehicles, drivers, transporters, directory]) client.close();
        await cleanup();
      },
    };
  } catch (error) {
    await cleanup();
    throw error;
  }
}
