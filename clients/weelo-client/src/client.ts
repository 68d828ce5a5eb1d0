/**
 * The SDK's client: one typed Connect client per public service on a transport that carries
 * the session's access token, renews it once when the server refuses it, fills idempotency
 * keys, and retries what is safe to retry. Platform entries (index.ts for browsers and React
 * Native, node.ts for Node) only choose the transport.
 */
import type { DescService } from "@bufbuild/protobuf";
import { type Client, type Interceptor, type Transport, createClient } from "@connectrpc/connect";
import { BookingService } from "@weelo/contracts/es/weelo/booking/v1/booking_service_pb";
import { Role } from "@weelo/contracts/es/weelo/common/v1/common_pb";
import { DispatchService } from "@weelo/contracts/es/weelo/dispatch/v1/dispatch_service_pb";
import { DriverService } from "@weelo/contracts/es/weelo/fleet/v1/driver_service_pb";
import { TransporterService } from "@weelo/contracts/es/weelo/fleet/v1/transporter_service_pb";
import { VehicleService } from "@weelo/contracts/es/weelo/fleet/v1/vehicle_service_pb";
import { AuthService } from "@weelo/contracts/es/weelo/identity/v1/auth_service_pb";
import { ProfileService } from "@weelo/contracts/es/weelo/identity/v1/profile_service_pb";
import { NotificationService } from "@weelo/contracts/es/weelo/notification/v1/notification_service_pb";
import { OpsService } from "@weelo/contracts/es/weelo/ops/v1/ops_service_pb";
import { PricingService } from "@weelo/contracts/es/weelo/pricing/v1/pricing_service_pb";
import { TrackingService } from "@weelo/contracts/es/weelo/tracking/v1/tracking_service_pb";
import { Code, ConnectError, SessionEndedError, isUnauthenticated } from "./errors.js";
import { idempotencyInterceptor, retryInterceptor, type RetryOptions } from "./interceptors.js";
import { LocationUpload, type LocationUploadOptions } from "./location.js";
import { Session, type SessionEvents, type TokenStore, memoryTokenStore } from "./session.js";
import { type ResumeOptions, watchBooking, watchOffers } from "./streams.js";

export type RoleName = "customer" | "transporter" | "driver" | "ops";

const ROLES: Record<RoleName, Role> = {
  customer: Role.CUSTOMER,
  transporter: Role.TRANSPORTER,
  driver: Role.DRIVER,
  ops: Role.OPS,
};

/** AuthService methods called without a token (the rest of the API needs one). */
const NO_TOKEN = new Set(["SendOtp", "VerifyOtp", "RefreshToken"]);

/** Makes a transport with the SDK's interceptors; `streaming` asks for one that can stream from the client (HTTP/2). */
export type TransportFactory = (interceptors: Interceptor[], streaming: boolean) => Transport | undefined;

export interface WeeloClientOptions extends SessionEvents {
  /** Where the tokens are kept. Default: memory only. */
  tokenStore?: TokenStore;
  /** Retries of transient failures of safe calls; false turns them off. */
  retry?: RetryOptions | false;
  /** Extra interceptors (logging, tracing headers), run outside the SDK's own. */
  interceptors?: Interceptor[];
}

export class WeeloClient {
  readonly session: Session;
  readonly auth: Client<typeof AuthService>;
  readonly profile: Client<typeof ProfileService>;
  readonly vehicles: Client<typeof VehicleService>;
  readonly drivers: Client<typeof DriverService>;
  readonly transporters: Client<typeof TransporterService>;
  readonly pricing: Client<typeof PricingService>;
  readonly bookings: Client<typeof BookingService>;
  readonly dispatch: Client<typeof DispatchService>;
  readonly tracking: Client<typeof TrackingService>;
  readonly notifications: Client<typeof NotificationService>;
  /** The operations console's API (role ops only). */
  readonly ops: Client<typeof OpsService>;
  /** TrackingService on a transport that streams from the client, when the platform has one. */
  private readonly streamingTracking: Client<typeof TrackingService> | undefined;

  constructor(makeTransport: TransportFactory, options: WeeloClientOptions = {}) {
    // Refresh goes on a transport of its own: no token, no refresh-on-401 loop, no retries (a
    // refresh token is single-use, so a retried refresh could be taken for theft).
    const bare = makeTransport([...(options.interceptors ?? [])], false)!;
    const authOnly = createClient(AuthService, bare);
    this.session = new Session(options.tokenStore ?? memoryTokenStore(), () => authOnly, options);
    const interceptors = [
      ...(options.interceptors ?? []),
      idempotencyInterceptor(),
      ...(options.retry === false ? [] : [retryInterceptor(options.retry ?? {})]),
      this.tokenInterceptor(),
    ];
    const transport = makeTransport(interceptors, false)!;
    const make = <S extends DescService>(service: S) => createClient(service, transport);
    this.auth = make(AuthService);
    this.profile = make(ProfileService);
    this.vehicles = make(VehicleService);
    this.drivers = make(DriverService);
    this.transporters = make(TransporterService);
    this.pricing = make(PricingService);
    this.bookings = make(BookingService);
    this.dispatch = make(DispatchService);
    this.tracking = make(TrackingService);
    this.notifications = make(NotificationService);
    this.ops = make(OpsService);
    const streaming = makeTransport(interceptors, true);
    this.streamingTracking = streaming ? createClient(TrackingService, streaming) : undefined;
  }

  /**
   * Sends the access token; when the server refuses it (expired, or revoked), renews it once
   * through the session (one refresh shared by every caller) and repeats a unary call. A
   * stream's refusal comes while it is read: the resuming streams renew and reconnect.
   */
  private tokenInterceptor(): Interceptor {
    return (next) => async (request) => {
      if (request.service.typeName === AuthService.typeName && NO_TOKEN.has(request.method.name)) return next(request);
      const token = await this.session.accessToken();
      if (token === undefined) throw new SessionEndedError(new ConnectError("not logged in", Code.Unauthenticated));
      request.header.set("authorization", `Bearer ${token}`);
      try {
        return await next(request);
      } catch (error) {
        if (request.stream || !isUnauthenticated(error)) throw error;
        const fresh = await this.session.renew(token);
        request.header.set("authorization", `Bearer ${fresh}`);
        return await next(request);
      }
    };
  }

  /**
   * Logs a phone in by OTP. `otp` is what the user typed; without it the OTP is sent and, on a
   * development system (console SMS provider), taken from the answer's devOtp.
   */
  async login(role: RoleName, phone: string, otp?: string): Promise<{ userId: string; isNewUser: boolean }> {
    let code = otp;
    if (code === undefined) {
      const sent = await this.auth.sendOtp({ phone, role: ROLES[role] });
      if (!sent.devOtp) throw new Error("no OTP given and the server sent none back (not a development system)");
      code = sent.devOtp;
    }
    const verified = await this.auth.verifyOtp({ phone, otp: code, role: ROLES[role] });
    if (!verified.tokens?.accessToken || !verified.user) throw new Error("VerifyOtp returned no tokens");
    await this.session.begin({
      accessToken: verified.tokens.accessToken,
      refreshToken: verified.tokens.refreshToken,
      userId: verified.user.id,
    });
    return { userId: verified.user.id, isNewUser: verified.isNewUser };
  }

  /** Ends the session on the server and forgets the tokens. */
  async logout(): Promise<void> {
    try {
      await this.auth.logout({ refreshToken: this.session.current?.refreshToken ?? "" });
    } finally {
      await this.session.end();
    }
  }

  /** WatchBooking that reconnects and resumes after the last change seen, until the booking is final. */
  watchBooking(bookingId: string, options?: ResumeOptions & { afterSequence?: bigint }) {
    return watchBooking(this.bookings, this.session, bookingId, options);
  }

  /** WatchOffers that reconnects for as long as it is read; offers that closed meanwhile come as `closed`. */
  watchOffers(options?: ResumeOptions) {
    return watchOffers(this.dispatch, this.session, options);
  }

  /** True when this platform can hold StreamLocation (the Node entry over HTTP/2). */
  get canStreamLocation(): boolean {
    return this.streamingTracking !== undefined;
  }

  /**
   * Starts the driver's GPS upload: StreamLocation with commands where the platform streams
   * from the client, else UpdateLocation batches (mode "batch"), with the same acks.
   */
  uploadLocation<Tag = undefined>(
    options: Omit<LocationUploadOptions<Tag>, "mode"> & { mode?: "stream" | "batch" } = {},
  ): LocationUpload<Tag> {
    const mode = options.mode ?? (this.streamingTracking ? "stream" : "batch");
    if (mode === "stream" && !this.streamingTracking)
      throw new Error("this platform cannot stream from the client: use mode 'batch' (UpdateLocation)");
    const client = mode === "stream" ? this.streamingTracking! : this.tracking;
    return new LocationUpload<Tag>(client, this.session, { ...options, mode });
  }
}
