/**
 * The gateway: one port serving Connect (JSON and binary), gRPC and gRPC-Web for every public
 * service, the REST aliases, health, metrics and the JWKS. It authenticates, forwards and
 * measures; no business rule lives here.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Http2ServerRequest, Http2ServerResponse } from "node:http2";
import type { AddressInfo } from "node:net";
import { cors as connectCors, createContextValues } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import { reflectionRoutes, reflectionServiceDescs } from "@weelo/grpc";
import { requestIdFrom, runWithContext } from "@weelo/log";
import { runChecks, startMetricsServer, type DependencyCheck, type Platform } from "@weelo/runtime";
import cors from "cors";
import helmet from "helmet";
import { RequestCredentials } from "./authenticate.js";
import { clientIpKey, requestIdKey } from "./context-keys.js";
import { Forwarder } from "./forward.js";
import type { GatewayConfig } from "./gateway.config.js";
import { specEncodeGrpcMessageTrailer } from "./grpc-message.js";
import { UpstreamHealth } from "./health/upstream-health.js";
import { authInterceptor } from "./interceptors/auth.js";
import { cacheControlInterceptor } from "./interceptors/cache-control.js";
import { errorsInterceptor } from "./interceptors/errors.js";
import { ipRateLimitInterceptor, userRateLimitInterceptor } from "./interceptors/rate-limit.js";
import { validationInterceptor } from "./interceptors/validation.js";
import { Admission, admissionSettingsOf } from "./overload/admission.js";
import { admissionRoutesOf, HttpAdmission } from "./overload/http-admission.js";
import { admitRestCall } from "./overload/rest-admission.js";
import { isDocsPath, serveDocs } from "./docs/docs-handler.js";
import { consoleHandler, consoleSettingsOf, isConsolePath } from "./console/console-handler.js";
import { createOnePortServer } from "./one-port.js";
import { SocketGateway } from "./socket/socket-gateway.js";
import { traceRequest } from "./tracing.js";
import { reportUndecodableRequests } from "./undecodable-request.js";
import { REST_ALIASES } from "./rest/aliases.js";
import { RestHandler, send } from "./rest/rest-handler.js";
import { PUBLIC_SERVICES, type UpstreamName } from "./upstreams.js";

/** Connections the kernel may hold for the gateway before they are accepted (see the listen call). */
const LISTEN_BACKLOG = 4096;

type Request = IncomingMessage | Http2ServerRequest;
type Response = ServerResponse | Http2ServerResponse;

export interface Gateway {
  port: number;
  /** The admin listener: /metrics, /health/ready with its checks, /health/detailed. */
  adminPort: number;
  close(): Promise<void>;
}

export async function startGateway(platform: Platform, config: GatewayConfig): Promise<Gateway> {
  const logger = platform.logger.child({ component: "gateway" });
  // Upstreams are reached over the mesh (mutual TLS); unset URLs mean this process's own mesh port (the all-in-one).
  const ownGrpc = `127.0.0.1:${config.MESH_PORT}`;
  const upstreamAddress: Record<UpstreamName, string> = {
    identity: config.IDENTITY_GRPC_URL ?? ownGrpc,
    fleet: config.FLEET_GRPC_URL ?? ownGrpc,
    pricing: config.PRICING_GRPC_URL ?? ownGrpc,
    booking: config.BOOKING_GRPC_URL ?? ownGrpc,
    tracking: config.TRACKING_GRPC_URL ?? ownGrpc,
    notification: config.NOTIFICATION_GRPC_URL ?? ownGrpc,
    dispatch: config.DISPATCH_GRPC_URL ?? ownGrpc,
    ops: config.OPS_GRPC_URL ?? ownGrpc,
  };
  const asGateway = (upstream: UpstreamName) => platform.mesh.channelCredentials("gateway", upstream);
  const forwarder = new Forwarder(PUBLIC_SERVICES, upstreamAddress, config.UPSTREAM_DEADLINE_MS, asGateway);
  const rest = new RestHandler(
    REST_ALIASES,
    forwarder,
    { bodyLimitBytes: config.BODY_LIMIT_BYTES, deadlineMs: config.UPSTREAM_DEADLINE_MS },
    logger,
  );

  // One health channel per distinct address, proving the gateway to the first service found there.
  const upstreamHealth = [
    ...new Map(Object.entries(upstreamAddress).map(([name, address]) => [address, name as UpstreamName])).entries(),
  ].map(([address, name]) => new UpstreamHealth(address, asGateway(name)));
  // Readiness is the gateway's own dependencies (cache, bus): an upstream that is down answers
  // UNAVAILABLE on its routes, but must not take every gateway pod out of the Service with it.
  // Its health is still reported (non-critical) in /health/detailed on the admin port.
  const healthChecks: DependencyCheck[] = [
    ...platform.checks,
    ...upstreamHealth.map((u) => ({ name: `upstream ${u.address}`, critical: false, check: () => u.check() })),
  ];

  // Bidirectional streams need HTTP/2; connect-node answers one over HTTP/1.1 with 505, which
  // reads as a server fault. It is the client's choice of protocol: 400 with the reason.
  const bidiPaths = new Set(
    [...PUBLIC_SERVICES.map(({ service }) => service), ...reflectionServiceDescs()].flatMap((service) =>
      service.methods.filter((m) => m.methodKind === "bidi_streaming").map((m) => `/${service.typeName}/${m.name}`),
    ),
  );

  const admission = new Admission(admissionSettingsOf(config), platform);
  const connectHandler = connectNodeAdapter({
    routes: (router) => {
      forwarder.register(router, PUBLIC_SERVICES);
      // grpcurl and `buf curl --reflect` against this port: the public services' real descriptors, no token needed.
      reflectionRoutes(
        router,
        PUBLIC_SERVICES.map(({ service }) => service.typeName),
      );
    },
    interceptors: [
      errorsInterceptor(logger),
      // The concurrency limit was applied before Connect read the request (HttpAdmission, at the port).
      ipRateLimitInterceptor(admission),
      authInterceptor(platform.verifier),
      userRateLimitInterceptor(admission),
      // The contract's field rules, refused here without a mesh hop (the services check them too:
      // they are reachable without the gateway). Only methods whose protos state rules pay for it.
      validationInterceptor(PUBLIC_SERVICES.map(({ service }) => service)),
      cacheControlInterceptor,
    ],
    readMaxBytes: config.BODY_LIMIT_BYTES,
    contextValues: (req) => createValues(req, config.TRUST_PROXY),
  });

  const corsMiddleware = cors({
    origin: config.CORS_ORIGINS.trim() === "*" ? true : config.CORS_ORIGINS.split(",").map((o) => o.trim()),
    methods: [...connectCors.allowedMethods, "PUT", "DELETE"],
    allowedHeaders: [...connectCors.allowedHeaders, "authorization", "x-request-id"],
    exposedHeaders: [...connectCors.exposedHeaders, "x-request-id", "retry-after"],
    maxAge: 7200,
  });
  const helmetMiddleware = helmet({
    contentSecurityPolicy: { directives: { defaultSrc: ["'none'"], frameAncestors: ["'none'"] } },
  });

  const serveConsole = consoleHandler(consoleSettingsOf(config));
  const handler = (req: Request, res: Response) => {
    const requestId = requestIdFrom(headerOf(req, "x-request-id"));
    req.headers["x-request-id"] = requestId;
    res.setHeader("x-request-id", requestId);
    const path = (req.url ?? "/").split("?")[0]!;
    const started = process.hrtime.bigint();
    let route = "unmatched";
    res.once("finish", () => {
      if (route === "/metrics" || route.startsWith("/health")) return;
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      const labels = { route, method: req.method ?? "", status: String(res.statusCode) };
      platform.metrics.httpDuration.observe(labels, seconds);
      platform.metrics.httpRequests.inc(labels);
      if (res.statusCode >= 500)
        logger.warn({ requestId, route, status: res.statusCode, ms: seconds * 1000 }, "request failed");
      else logger.debug({ requestId, route, status: res.statusCode, ms: seconds * 1000 }, "request");
    });
    traceRequest(
      req,
      res,
      () => route,
      () =>
        runWithContext({ requestId }, () =>
          runMiddleware(helmetMiddleware, req, res, () =>
            runMiddleware(corsMiddleware, req, res, async () => {
              if (path.startsWith("/api/")) {
                const { alias, params, pathKnown } = rest.match(req.method ?? "GET", path);
                route = alias?.path ?? "unmatched";
                if (!alias) {
                  send(res, pathKnown ? 405 : 404, {
                    success: false,
                    error: {
                      code: pathKnown ? "METHOD_NOT_ALLOWED" : "NOT_FOUND",
                      message: `no route ${req.method} ${path}`,
                    },
                  });
                  return;
                }
                const clientIp = clientIpOf(req, config.TRUST_PROXY);
                // One verification of the token for the whole call: admission keys the per-user budget by it, the alias refuses a bad one.
                const credentials = new RequestCredentials(platform.verifier, headerOf(req, "authorization"));
                if (!(await admitRestCall(admission, credentials, res, alias.service.typeName, clientIp))) return;
                return rest.handle(req, res, alias, params, { requestId, clientIp, credentials });
              }
              if (isDocsPath(path)) {
                route = "/docs"; // the API reference and its document
                return serveDocs(req, res, path);
              }
              if (isConsolePath(path)) {
                route = "/console"; // the operations console's page and files
                return serveConsole(req, res, path);
              }
              if (path === "/health" || path === "/health/live") {
                route = "/health";
                return send(res, 200, { status: "ok", uptimeSeconds: Math.round(process.uptime()) });
              }
              if (path === "/health/ready") {
                // The app port says only ready or not: which dependency fails, and where it lives, is for the admin port.
                route = path;
                const results = await runChecks(healthChecks);
                const ready = !shuttingDown && results.every((r) => r.ok || !r.critical);
                return send(res, ready ? 200 : 503, { status: ready ? "ready" : "not ready" });
              }
              if (path === "/.well-known/jwks.json") {
                route = path;
                return send(res, 200, platform.keys.jwks, { "cache-control": "public, max-age=300" });
              }
              route = path.split("/").slice(0, 3).join("/"); // "/pkg.Service/Method": bounded by the descriptors
              if (req.httpVersionMajor < 2 && bidiPaths.has(path)) {
                return send(res, 400, {
                  code: "invalid_argument",
                  message: `${path.slice(1)} is a bidirectional stream: call it over HTTP/2 (gRPC, or Connect on h2)`,
                });
              }
              specEncodeGrpcMessageTrailer(headerOf(req, "content-type") ?? undefined, res);
              reportUndecodableRequests(headerOf(req, "content-type") ?? undefined, res);
              connectHandler(req as never, res as never);
            }),
          ),
        ),
    );
  };

  const sockets = new SocketGateway({
    verifier: platform.verifier,
    sessions: platform.sessions,
    forwarder,
    logger,
    metrics: platform.metrics,
    clientIp: (req) => clientIpOf(req, config.TRUST_PROXY),
    admission,
    settings: {
      maxConnections: config.SOCKET_MAX_CONNECTIONS,
      maxSubscriptions: config.SOCKET_MAX_SUBSCRIPTIONS,
      maxBufferedBytes: config.SOCKET_MAX_BUFFERED_BYTES,
      maxFrameBytes: config.SOCKET_MAX_FRAME_BYTES,
      pingIntervalMs: config.SOCKET_PING_INTERVAL_MS,
      authTimeoutMs: config.SOCKET_AUTH_TIMEOUT_MS,
      revocationCheckMs: config.SOCKET_REVOCATION_CHECK_MS,
      framesPerSecond: config.SOCKET_FRAMES_PER_S,
    },
  });

  // At the very start of a shutdown (before the services wait for in-flight calls, which
  // include the sockets' upstream feeds): clients are told to reconnect (1012).
  platform.onDrain("gateway sockets", () => sockets.close(Math.max(100, config.SHUTDOWN_TIMEOUT_MS / 10)));

  let shuttingDown = false;
  // Overload: the concurrency limit, applied before helmet, CORS, the body, the token or Redis.
  const httpAdmission = new HttpAdmission(
    admission,
    admissionRoutesOf(
      PUBLIC_SERVICES.map(({ service }) => service),
      REST_ALIASES,
    ),
    config.CORS_ORIGINS.trim() === "*" ? true : new Set(config.CORS_ORIGINS.split(",").map((o) => o.trim())),
  );
  const server = createOnePortServer(handler as never, {
    upgrade: (req, socket, head) => sockets.handleUpgrade(req, socket, head),
    admit: (req, res) => httpAdmission.admit(req, res),
  });
  await new Promise<void>((resolve, reject) => {
    server.server.once("error", reject);
    // Node's default accept backlog (511) overflows when hundreds of phones (re)connect at once,
    // e.g. after a deploy or under overload with a busy loop: the kernel then drops SYNs and each
    // client retries after 1 s, then 3 s. Ask for the kernel's ceiling (somaxconn caps it).
    server.server.listen({ port: config.PORT, host: config.HOST, backlog: LISTEN_BACKLOG }, () => resolve());
  });
  const port = (server.server.address() as AddressInfo).port;
  // /metrics, readiness with its failing checks, and /health/detailed: on the admin port only.
  const admin = await startMetricsServer(platform, config.METRICS_PORT, {
    host: config.METRICS_HOST,
    checks: () => healthChecks,
    accepting: () => !shuttingDown,
  });
  logger.info(
    { port, adminPort: admin.port },
    "gateway listening (Connect, gRPC, gRPC-Web, REST aliases); admin (metrics, detailed health) on its own port",
  );

  const close = async () => {
    shuttingDown = true;
    // Socket clients first: told to reconnect (1012), so they move to another replica.
    await sockets.close(Math.max(100, config.SHUTDOWN_TIMEOUT_MS / 10));
    await server.close(Math.max(100, config.SHUTDOWN_TIMEOUT_MS / 2));
    for (const u of upstreamHealth) u.close();
    forwarder.close();
  };
  platform.onShutdown("gateway", close);
  return { port, adminPort: admin.port, close };
}

function createValues(req: Request, trustProxy: boolean) {
  const values = createContextValues();
  values.set(requestIdKey, headerOf(req, "x-request-id") ?? "");
  values.set(clientIpKey, clientIpOf(req, trustProxy));
  return values;
}

function clientIpOf(req: Request, trustProxy: boolean): string {
  const forwarded = trustProxy ? headerOf(req, "x-forwarded-for") : null;
  return forwarded?.split(",")[0]?.trim() || req.socket.remoteAddress || "unknown";
}

function headerOf(req: Request, name: string): string | null {
  const value = req.headers[name];
  return typeof value === "string" ? value : null;
}

type Middleware = (req: never, res: never, next: (error?: unknown) => void) => void;

function runMiddleware(middleware: Middleware, req: Request, res: Response, next: () => unknown): void {
  middleware(req as never, res as never, (error?: unknown) => {
    if (error) {
      send(res, 500, { success: false, error: { code: "INTERNAL", message: "internal error" } });
      return;
    }
    void Promise.resolve(next()).catch(() =>
      send(res, 500, { success: false, error: { code: "INTERNAL", message: "internal error" } }),
    );
  });
}
