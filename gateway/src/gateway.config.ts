/** The gateway's settings, on top of the settings every process shares. */
import { baseConfigSchema, envBoolean, envInt, envOptional, loadConfig, z, type ProductionRule } from "@weelo/config";

export const gatewayConfigSchema = baseConfigSchema.extend({
  /** The one public port: Connect, gRPC, gRPC-Web, REST aliases, health and metrics. */
  PORT: envInt(3000, 0, 65535),
  HOST: z.string().default("0.0.0.0"),
  /** Where the identity service answers gRPC; unset means this process's own gRPC port. */
  IDENTITY_GRPC_URL: envOptional(),
  /** Where the fleet service answers gRPC; unset means this process's own gRPC port. */
  FLEET_GRPC_URL: envOptional(),
  /** Where the pricing service answers gRPC; unset means this process's own gRPC port. */
  PRICING_GRPC_URL: envOptional(),
  /** Where the booking service answers gRPC; unset means this process's own gRPC port. */
  BOOKING_GRPC_URL: envOptional(),
  /** Where the tracking service answers gRPC; unset means this process's own gRPC port. */
  TRACKING_GRPC_URL: envOptional(),
  /** Where the notification service answers gRPC; unset means this process's own gRPC port. */
  NOTIFICATION_GRPC_URL: envOptional(),
  /** Where the dispatch service answers gRPC; unset means this process's own gRPC port. */
  DISPATCH_GRPC_URL: envOptional(),
  /** Where the ops service (the operations console's API) answers gRPC; unset means this process's own gRPC port. */
  OPS_GRPC_URL: envOptional(),
  /** Deadline given to an upstream call when the client set none (ms). */
  UPSTREAM_DEADLINE_MS: envInt(10_000, 100),
  /** Largest request body accepted (bytes). */
  BODY_LIMIT_BYTES: envInt(1024 * 1024, 1024, 64 * 1024 * 1024),
  /** Comma-separated browser origins allowed by CORS; "*" allows any (development). */
  CORS_ORIGINS: z.string().default("*"),
  /** Trust X-Forwarded-For from a load balancer in front of the gateway. */
  TRUST_PROXY: envBoolean(false),

  // Overload protection: per endpoint class, the ceiling of its concurrency limit (unary calls in
  // flight) and how many calls may wait a moment for a permit. Beyond, a call is refused at once,
  // before its body is read (503 / RESOURCE_EXHAUSTED with Retry-After).
  QUEUE_DEFAULT_CONCURRENCY: envInt(200, 1),
  QUEUE_DEFAULT_MAX_QUEUED: envInt(50, 0),
  QUEUE_BOOKING_CONCURRENCY: envInt(50, 1),
  QUEUE_BOOKING_MAX_QUEUED: envInt(12, 0),
  QUEUE_TRACKING_CONCURRENCY: envInt(500, 1),
  QUEUE_TRACKING_MAX_QUEUED: envInt(125, 0),
  QUEUE_AUTH_CONCURRENCY: envInt(100, 1),
  QUEUE_AUTH_MAX_QUEUED: envInt(25, 0),
  /**
   * Longest wait for a permit (ms); a call's own shorter deadline ends it sooner. Short: a refusal
   * must be fast. An overloaded class (its line overflowed, or it refused for lag, within 1 s)
   * also stops queueing while the event loop lags more than this: the waits would end late.
   */
  QUEUE_MAX_WAIT_MS: envInt(20, 0),
  /**
   * Longest wait (ms) while the class is overloaded, in place of QUEUE_MAX_WAIT_MS (the shorter
   * of the two): the line absorbs a burst with the long wait, but under sustained overload a freed
   * permit finds a new caller at once anyway, and a long wait only makes the refusals that end it
   * slow (a controlled-delay queue: Facebook's adaptive LIFO with CoDel timeouts).
   */
  QUEUE_OVERLOADED_WAIT_MS: envInt(5, 0),
  /** Learn each class's concurrency limit from its round trips (Gradient2), between the minimum and the class's ceiling. */
  ADAPTIVE_LIMIT_ENABLED: envBoolean(true),
  ADAPTIVE_LIMIT_MIN: envInt(10, 1),
  /** Where a class's limit starts (capped by its ceiling). */
  ADAPTIVE_LIMIT_INITIAL: envInt(50, 1),
  /** How much slower than usual calls may get before the limit shrinks (factor). */
  ADAPTIVE_LIMIT_TOLERANCE: z.coerce.number().min(1).max(10).default(1.5),
  /**
   * Event-loop lag (ms) above which a class's limit backs off as for a dropped call: this process's
   * CPU is the queue then, and every call and refusal waits in it. 0 turns it off.
   */
  ADAPTIVE_LIMIT_MAX_LOOP_LAG_MS: envInt(20, 0),
  /** Open streaming calls (WatchBooking, WatchLocation, StreamLocation, …), counted apart from unary slots. */
  MAX_OPEN_STREAMS: envInt(20_000, 1),

  /** Per-IP and per-user request budgets per endpoint class (0 turns one off); RATE_LIMIT_ENABLED=false turns all off. */
  RATE_LIMIT_ENABLED: envBoolean(true),
  RATE_LIMIT_WINDOW_S: envInt(60, 1, 3600),
  RATE_LIMIT_DEFAULT_PER_IP: envInt(6000, 0),
  RATE_LIMIT_DEFAULT_PER_USER: envInt(600, 0),
  RATE_LIMIT_BOOKING_PER_IP: envInt(1200, 0),
  RATE_LIMIT_BOOKING_PER_USER: envInt(120, 0),
  RATE_LIMIT_TRACKING_PER_IP: envInt(12_000, 0),
  RATE_LIMIT_TRACKING_PER_USER: envInt(1200, 0),
  RATE_LIMIT_AUTH_PER_IP: envInt(600, 0),

  // The /socket WebSocket.
  /** Open sockets per gateway process; beyond it the upgrade is answered 503. */
  SOCKET_MAX_CONNECTIONS: envInt(20_000, 1),
  /** Bookings one socket may follow at a time. */
  SOCKET_MAX_SUBSCRIPTIONS: envInt(20, 1, 1000),
  /** Unsent bytes a socket may hold before it is closed as a slow consumer (4413). */
  SOCKET_MAX_BUFFERED_BYTES: envInt(1024 * 1024, 1024),
  /** Largest frame a client may send (bytes). */
  SOCKET_MAX_FRAME_BYTES: envInt(16 * 1024, 256, 1024 * 1024),
  /** Ping interval; a peer that has not answered the previous ping is closed (ms). */
  SOCKET_PING_INTERVAL_MS: envInt(30_000, 100),
  /** Time to send the auth frame when the token did not come in the URL (ms). */
  SOCKET_AUTH_TIMEOUT_MS: envInt(10_000, 100),
  /** How often an open socket's session is checked for revocation (ms). */
  SOCKET_REVOCATION_CHECK_MS: envInt(60_000, 100),
  /** Frames a client may send per second on average (bursts up to ten times that); beyond, they are refused. */
  SOCKET_FRAMES_PER_S: envInt(10, 1),
  /** New /socket connections per client IP per RATE_LIMIT_WINDOW_S (0 = no limit); beyond, the upgrade is answered 429. */
  SOCKET_CONNECTS_PER_IP: envInt(600, 0),

  // The operations console at /console.
  /** Map tiles, a URL template such as https://{s}.tile.openstreetmap.org/{z}/{x}/{y}.png; unset: an offline city grid. */
  CONSOLE_TILE_URL: envOptional(),
  /** The tiles' attribution, shown on the map (plain text), e.g. "© OpenStreetMap contributors". */
  CONSOLE_TILE_ATTRIBUTION: z.string().default(""),
  /** Where the map opens: "lat,lng". */
  CONSOLE_MAP_CENTER: z
    .string()
    .regex(/^-?\d{1,2}(\.\d+)?,-?\d{1,3}(\.\d+)?$/, "lat,lng in degrees, e.g. 18.52,73.86")
    .default("18.52,73.86"),
  /** The map's zoom at start (1 the world, 19 a street). */
  CONSOLE_MAP_ZOOM: envInt(12, 1, 19),

  /** Workers of `npm run start:cluster`; 0 means one per core. */
  CLUSTER_WORKERS: envInt(0, 0, 256),
});

export type GatewayConfig = z.infer<typeof gatewayConfigSchema>;

export const gatewayProductionRules: ProductionRule<GatewayConfig>[] = [
  (c) =>
    c.CORS_ORIGINS.trim() === "*"
      ? "CORS_ORIGINS=* lets any website call the API; list the allowed origins"
      : undefined,
  (c) =>
    c.CONSOLE_TILE_URL && !c.CONSOLE_TILE_URL.startsWith("https://")
      ? "CONSOLE_TILE_URL must be an https:// template (the console's pages are served over TLS)"
      : undefined,
];

export function loadGatewayConfig(env: Record<string, string | undefined> = process.env): Readonly<GatewayConfig> {
  // The gateway has no database: production refuses one given to it.
  return loadConfig(gatewayConfigSchema, env, gatewayProductionRules, [], { database: false });
}
