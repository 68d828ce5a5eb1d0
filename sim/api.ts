/**
 * The public interfaces the simulated apps use, and nothing else: Connect HTTP/JSON through
 * the gateway for every unary call and server stream (customers, transporters, the driver
 * app's unary calls), and gRPC over HTTP/2 through the same port for the driver's
 * bidirectional StreamLocation. Unary calls that fail for a transient reason (the system
 * restarting, a limit answering 429/503) are retried with backoff; every failure is counted.
 */
import { Code, ConnectError, createClient, type Client } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import * as grpc from "@grpc/grpc-js";
import { BookingService } from "@weelo/contracts/es/weelo/booking/v1/booking_service_pb";
import { ErrorInfoSchema, RetryInfoSchema } from "@weelo/contracts/es/google/rpc/error_details_pb";
import { Role } from "@weelo/contracts/es/weelo/common/v1/common_pb";
import { DispatchService } from "@weelo/contracts/es/weelo/dispatch/v1/dispatch_service_pb";
import { DriverService } from "@weelo/contracts/es/weelo/fleet/v1/driver_service_pb";
import { TransporterService } from "@weelo/contracts/es/weelo/fleet/v1/transporter_service_pb";
import { VehicleService } from "@weelo/contracts/es/weelo/fleet/v1/vehicle_service_pb";
import { AuthService } from "@weelo/contracts/es/weelo/identity/v1/auth_service_pb";
import { PricingService } from "@weelo/contracts/es/weelo/pricing/v1/pricing_service_pb";
import { TrackingService } from "@weelo/contracts/es/weelo/tracking/v1/tracking_service_pb";
import { TrackingServiceClient } from "@weelo/contracts/grpc/weelo/tracking/v1/tracking_service";
import { setTimeout as sleep } from "node:timers/promises";

export type RoleName = "customer" | "transporter" | "driver";

/** Failures of the run by method and code ("CreateBooking unavailable"), and the expected refusals apart. */
export class CallLog {
  readonly errors = new Map<string, number>();
  readonly refusals = new Map<string, number>();
  retries = 0;
  refreshes = 0;

  error(what: string, code: string): void {
    const key = `${what} ${code}`;
    this.errors.set(key, (this.errors.get(key) ?? 0) + 1);
  }

  refusal(what: string, reason: string): void {
    const key = `${what} ${reason}`;
    this.refusals.set(key, (this.refusals.get(key) ?? 0) + 1);
  }

  get errorCount(): number {
    let total = 0;
    for (const n of this.errors.values()) total += n;
    return total;
  }
}

/** The machine-readable reason of a refusal (google.rpc.ErrorInfo.reason), or the Connect code's name. */
export function reasonOf(error: unknown): string {
  if (error instanceof ConnectError) {
    const detail = error.findDetails(ErrorInfoSchema)[0];
    return detail?.reason || Code[error.code] || "unknown";
  }
  return error instanceof Error ? error.message : String(error);
}

/** The Connect code's name of a failure ("Unavailable"); "Network" for a failure below Connect. */
export function codeOf(error: unknown): string {
  return error instanceof ConnectError ? (Code[error.code] ?? "Unknown") : "Network";
}

/** "Unavailable", or "FailedPrecondition ALREADY_TAKEN" when a reason says more than the code. */
export function describe(error: unknown): string {
  const code = codeOf(error);
  const reason = reasonOf(error);
  return reason === code ? code : `${code} ${reason}`;
}

const TRANSIENT = new Set([
  Code.Unavailable,
  Code.ResourceExhausted,
  Code.DeadlineExceeded,
  Code.Aborted,
  Code.Unknown,
  Code.Internal,
]);

/** True for a failure worth retrying: the system or the network, not the request. */
export function isTransient(error: unknown): boolean {
  return !(error instanceof ConnectError) || TRANSIENT.has(error.code);
}

/** True when the failure says the access token is no longer good (expired or revoked). */
export function isUnauthenticated(error: unknown): boolean {
  return error instanceof ConnectError && error.code === Code.Unauthenticated;
}

/**
 * A logged-in user: the access token calls carry, renewed with the refresh token when the
 * server says it expired (one refresh at a time however many calls noticed).
 */
export class Session {
  private refreshing: Promise<void> | undefined;

  constructor(
    private readonly gateway: Gateway,
    public token: string,
    private refreshToken: string,
    readonly userId: string,
  ) {}

  refresh(): Promise<void> {
    this.refreshing ??= (async () => {
      try {
        const answer = await this.gateway.call("RefreshToken", (o) =>
          this.gateway.auth.refreshToken({ refreshToken: this.refreshToken }, o),
        );
        this.token = answer.tokens!.accessToken;
        this.refreshToken = answer.tokens!.refreshToken;
        this.gateway.log.refreshes += 1;
      } finally {
        this.refreshing = undefined;
      }
    })();
    return this.refreshing;
  }
}

export interface GatewayOptions {
  /** Base URL of the gateway, e.g. http://127.0.0.1:3000. */
  url: string;
  /** How long a transient failure is retried before the call gives up, ms. */
  retryForMs: number;
  /** Deadline of one unary attempt, ms. */
  timeoutMs: number;
  log: CallLog;
}

/** Typed Connect clients of every public service the apps use, over HTTP/1.1 with JSON. */
export class Gateway {
  readonly auth: Client<typeof AuthService>;
  readonly vehicles: Client<typeof VehicleService>;
  readonly drivers: Client<typeof DriverService>;
  readonly transporters: Client<typeof TransporterService>;
  readonly pricing: Client<typeof PricingService>;
  readonly bookings: Client<typeof BookingService>;
  readonly dispatch: Client<typeof DispatchService>;
  readonly tracking: Client<typeof TrackingService>;
  private readonly grpcClient: TrackingServiceClient;

  constructor(readonly options: GatewayOptions) {
    const transport = createConnectTransport({ baseUrl: options.url, httpVersion: "1.1", useBinaryFormat: false });
    this.auth = createClient(AuthService, transport);
    this.vehicles = createClient(VehicleService, transport);
    this.drivers = createClient(DriverService, transport);
    this.transporters = createClient(TransporterService, transport);
    this.pricing = createClient(PricingService, transport);
    this.bookings = createClient(BookingService, transport);
    this.dispatch = createClient(DispatchService, transport);
    this.tracking = createClient(TrackingService, transport);
    const target = new URL(options.url);
    this.grpcClient = new TrackingServiceClient(
      `${target.hostname}:${target.port || 80}`,
      grpc.credentials.createInsecure(),
      {
        "grpc.keepalive_time_ms": 20_000,
        "grpc.initial_reconnect_backoff_ms": 200,
        "grpc.max_reconnect_backoff_ms": 2000,
      },
    );
  }

  get log(): CallLog {
    return this.options.log;
  }

  /**
   * One unary call with retries of transient failures (backoff from 100 ms doubling to 2 s,
   * for at most retryForMs); what is not transient is thrown at once for the caller to judge.
   */
  async call<T>(
    what: string,
    fn: (options: { timeoutMs: number; headers?: Record<string, string> }) => Promise<T>,
    session?: Session,
  ): Promise<T> {
    const deadline = Date.now() + this.options.retryForMs;
    let wait = 100;
    let refreshed = false;
    for (;;) {
      try {
        return await fn({
          timeoutMs: this.options.timeoutMs,
          ...(session ? { headers: { authorization: `Bearer ${session.token}` } } : {}),
        });
      } catch (error) {
        if (session && !refreshed && isUnauthenticated(error)) {
          refreshed = true;
          await session.refresh();
          continue;
        }
        if (!isTransient(error) || Date.now() + wait > deadline) {
          if (isTransient(error)) this.log.error(what, describe(error));
          throw error;
        }
        this.log.retries += 1;
        const hinted =
          error instanceof ConnectError
            ? Number(error.findDetails(RetryInfoSchema)[0]?.retryDelay?.seconds ?? 0) * 1000
            : 0;
        await sleep(Math.max(wait, Math.min(hinted, 5000)));
        wait = Math.min(wait * 2, 2000);
      }
    }
  }

  /** Logs a phone in by OTP (development: the code comes back as devOtp) and returns the tokens and user id. */
  async login(role: RoleName, phone: string): Promise<Session> {
    const protoRole = role === "customer" ? Role.CUSTOMER : role === "transporter" ? Role.TRANSPORTER : Role.DRIVER;
    const sent = await this.call("SendOtp", (o) => this.auth.sendOtp({ phone, role: protoRole }, o));
    if (!sent.devOtp)
      throw new Error(
        "SendOtp returned no devOtp: the simulator needs the system's console SMS provider (development mode)",
      );
    const verified = await this.call("VerifyOtp", (o) =>
      this.auth.verifyOtp({ phone, otp: sent.devOtp, role: protoRole }, o),
    );
    if (!verified.tokens?.accessToken || !verified.user) throw new Error(`VerifyOtp for ${phone} returned no token`);
    return new Session(this, verified.tokens.accessToken, verified.tokens.refreshToken, verified.user.id);
  }

  /** Opens a driver's StreamLocation over gRPC through the gateway's port. */
  openLocationStream(
    token: string,
  ): grpc.ClientDuplexStream<
    import("@weelo/contracts/grpc/weelo/tracking/v1/tracking_service").StreamLocationRequest,
    import("@weelo/contracts/grpc/weelo/tracking/v1/tracking_service").StreamLocationResponse
  > {
    const metadata = new grpc.Metadata();
    metadata.set("authorization", `Bearer ${token}`);
    return this.grpcClient.streamLocation(metadata);
  }

  close(): void {
    this.grpcClient.close();
  }
}
