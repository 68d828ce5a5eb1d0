/**
 * Starts the whole system for a test: embedded defaults on a copy of the PGlite template, or
 * the real Postgres/Redis/NATS when their URLs are set, always in a fresh schema and key
 * prefix so tests run in parallel and leave nothing behind.
 */
import type { Logger } from "@weelo/log";
import { isolatedTestEnvironment } from "@weelo/testing";
import { startSystem, type RunningSystem } from "../system.js";

export interface TestSystem extends RunningSystem {
  /** POST a Connect JSON call; returns status and parsed body. */
  connect(
    path: string,
    body: unknown,
    headers?: Record<string, string>,
  ): Promise<{ status: number; body: any; headers: Headers }>;
  /** Call a REST alias; returns status and parsed envelope. */
  rest(
    method: string,
    path: string,
    body?: unknown,
    headers?: Record<string, string>,
  ): Promise<{ status: number; body: any; headers: Headers }>;
  /** Logs a user in through the REST aliases (a new phone unless one is given) and returns the tokens and user. */
  login(
    role?: "customer" | "transporter" | "driver",
    phone?: string,
  ): Promise<{ accessToken: string; refreshToken: string; user: any; phone: string }>;
  /**
   * Stops this process (its data, schemas and streams stay) and starts a new one on the same
   * data folder, schemas and streams after `downMs`: a restart. Use the returned system; stop that one.
   */
  restart(downMs?: number): Promise<TestSystem>;
}

/** Every service with a schema, for cleanup. */
const SERVICES = ["identity", "fleet", "pricing", "booking", "tracking", "notification", "dispatch", "ops"];

let phoneCounter = 0;

/** A fresh, valid Indian mobile number for each call in this process. */
export function uniquePhone(): string {
  phoneCounter += 1;
  const base = (process.pid % 10000) * 10000 + (phoneCounter % 10000);
  return `9${String(base).padStart(9, "0").slice(-9)}`;
}

/** Authorization metadata/headers of an access token. */
export const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

/** Two places in Pune the e2e suites book trips between (a real road distance apart). */
export const PUNE = { lat: 18.5286, lng: 73.8743 };
export const HINJEWADI = { lat: 18.5912, lng: 73.7389 };

/** A booking address (Connect JSON) at a point, with a contact of that name and a fresh phone. */
export const address = (location: { lat: number; lng: number }, contactName = "Anil Shinde") => ({
  line1: "Plot 12, MIDC",
  city: "Pune",
  state: "Maharashtra",
  pincode: "411001",
  location,
  contactName,
  contactPhone: `+91${uniquePhone()}`,
});

export async function startTestSystem(
  overrides: Record<string, string> = {},
  options: { logger?: Logger } = {},
): Promise<TestSystem> {
  const isolated = await isolatedTestEnvironment();
  const env: Record<string, string | undefined> = {
    ...isolated.env,
    // Streams own their subjects server-wide: each test system gets its own.
    FLEET_STREAM: `T_FLEET_${isolated.suffix}`,
    FLEET_SUBJECT_ROOT: `t_${isolated.suffix}_fleet`,
    BOOKING_STREAM: `T_BOOKING_${isolated.suffix}`,
    BOOKING_SUBJECT_ROOT: `t_${isolated.suffix}_booking`,
    TRACKING_SUBJECT_ROOT: `t_${isolated.suffix}_tracking`,
    // Notification's dead letters and durable consumers, per test system (TRACKING_STREAM: the stream it reads).
    TRACKING_STREAM: `T_TRACKING_${isolated.suffix}`,
    NOTIFY_DLQ_STREAM: `T_NOTIFY_DLQ_${isolated.suffix}`,
    NOTIFY_SUBJECT_ROOT: `t_${isolated.suffix}_notification`,
    NOTIFY_DURABLE_PREFIX: `t_${isolated.suffix}_notification`,
    DISPATCH_STREAM: `T_DISPATCH_${isolated.suffix}`,
    DISPATCH_SUBJECT_ROOT: `t_${isolated.suffix}_dispatch`,
    DISPATCH_CONSUMER: `t_${isolated.suffix}_dispatch`,
    OUTBOX_POLL_MS: "100",
    ...overrides,
  };
  return wrap(await startSystem(env, options), env, options, isolated.cleanup);
}

function wrap(
  system: RunningSystem,
  env: Record<string, string | undefined>,
  options: { logger?: Logger },
  cleanup: (services: readonly string[]) => Promise<void>,
): TestSystem {
  const json = async (response: Response) => ({
    status: response.status,
    body: (await response.json().catch(() => undefined)) as any,
    headers: response.headers,
  });
  const rest: TestSystem["rest"] = async (method, path, body, headers = {}) => {
    const init: RequestInit = { method, headers: { "content-type": "application/json", ...headers } };
    if (body !== undefined) init.body = JSON.stringify(body);
    return json(await fetch(`${system.url}${path}`, init));
  };
  return {
    ...system,
    rest,
    async connect(path, body, headers = {}) {
      return json(
        await fetch(`${system.url}${path}`, {
          method: "POST",
          headers: { "content-type": "application/json", ...headers },
          body: JSON.stringify(body),
        }),
      );
    },
    async login(role = "customer", phone = uniquePhone()) {
      const sent = await rest("POST", "/api/v1/auth/send-otp", { phone, role });
      if (sent.status !== 200) throw new Error(`send-otp failed: ${JSON.stringify(sent.body)}`);
      const verified = await rest("POST", "/api/v1/auth/verify-otp", { phone, otp: sent.body.data.devOtp, role });
      if (verified.status !== 200) throw new Error(`verify-otp failed: ${JSON.stringify(verified.body)}`);
      const { accessToken, refreshToken } = verified.body.data.tokens;
      return { accessToken, refreshToken, user: verified.body.data.user, phone };
    },
    async restart(downMs = 0) {
      await system.stop();
      if (downMs > 0) await new Promise((resolve) => setTimeout(resolve, downMs));
      return wrap(await startSystem(env, options), env, options, cleanup);
    },
    async stop() {
      for (const stream of [
        env.FLEET_STREAM!,
        env.BOOKING_STREAM!,
        env.NOTIFY_DLQ_STREAM!,
        env.DISPATCH_STREAM!,
        env.TRACKING_STREAM!,
      ])
        await system.platform.bus.deleteStream(stream).catch(() => undefined);
      await system.stop();
      await cleanup(SERVICES);
    },
  };
}
