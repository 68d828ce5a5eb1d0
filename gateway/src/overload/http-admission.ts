/**
 * The concurrency limit applied to the raw HTTP request, before anything costly: before its
 * body is read or decoded, its token verified, its rate limits looked up in Redis or its
 * upstream called. From the path alone it finds the call's endpoint class and whether it is a
 * stream; a unary call takes a permit of its class's adaptive limit (or waits a few
 * milliseconds for one), a stream takes a stream slot; a refusal is written at once in the
 * request's own protocol (raw-refusals.ts). The permit is held until the response is done,
 * and its round trip teaches the limit.
 *
 * Under overload most requests are refused, so a refusal is the path to keep cheap: when there
 * is no permit and no waiting (the line is full, or the event loop lags), it is decided and
 * written synchronously, with no promise, Error, AbortController or header copy; the reasons
 * are plain values and the refusal's ConnectError is built once per class and reason.
 *
 * A call that waited has its deadline header (connect-timeout-ms / grpc-timeout) shortened by
 * the wait, so the upstream call gets only the time its client still waits for.
 */
import type { DescService } from "@bufbuild/protobuf";
import { Code, type ConnectError } from "@connectrpc/connect";
import { parseTimeout as parseConnectTimeout } from "@connectrpc/connect/protocol-connect";
import { parseTimeout as parseGrpcTimeout } from "@connectrpc/connect/protocol-grpc";
import type { Permit } from "@weelo/resilience";
import {
  endpointClassOf,
  ShedError,
  StreamsFullError,
  type Admission,
  type EndpointClass,
  type ShedCause,
} from "./admission.js";
import { toConnectRefusal } from "./connect-refusals.js";
import { RawRefusal, type RawRequest, type RawResponse, wireProtocolOf, type WireProtocol } from "./raw-refusals.js";

interface Route {
  endpointClass: EndpointClass;
  streaming: boolean;
}

/** The routes admission knows: Connect/gRPC paths by method, REST aliases by their first segment. */
export interface AdmissionRoutes {
  rpc: ReadonlyMap<string, Route>;
  /** "/api/v1/bookings" → booking: every alias under a segment belongs to one class (else default). */
  rest: ReadonlyMap<string, EndpointClass>;
}

export function admissionRoutesOf(
  services: readonly DescService[],
  aliases: readonly { path: string; service: DescService }[],
): AdmissionRoutes {
  const rpc = new Map<string, Route>();
  for (const service of services) {
    for (const method of service.methods) {
      rpc.set(`/${service.typeName}/${method.name}`, {
        endpointClass: endpointClassOf(service.typeName),
        streaming: method.methodKind !== "unary",
      });
    }
  }
  const rest = new Map<string, EndpointClass>();
  for (const alias of aliases) {
    const segment = restSegmentOf(alias.path);
    const endpointClass = endpointClassOf(alias.service.typeName);
    rest.set(segment, rest.has(segment) && rest.get(segment) !== endpointClass ? "default" : endpointClass);
  }
  return { rpc, rest };
}

/** "/api/v1/bookings/:id/cancel" → "/api/v1/bookings". */
function restSegmentOf(path: string): string {
  const end = path.indexOf("/", "/api/v1/".length);
  return end < 0 ? path : path.slice(0, end);
}

const NO_DEADLINE_LIMIT_MS = 2 ** 31 - 1;

export class HttpAdmission {
  /** Per class and cause: the refusal, encoded on first use. */
  private readonly refusals = new Map<EndpointClass, Map<ShedCause, RawRefusal>>();

  constructor(
    private readonly admission: Admission,
    private readonly routes: AdmissionRoutes,
    /** Browser origins allowed to read answers (true: any), so a refused browser call can see Retry-After. */
    private readonly corsOrigins: true | ReadonlySet<string>,
  ) {}

  /**
   * True: the request may go on (its permit is released when its response is done). False:
   * it was refused, or its client left while it waited; nothing more is to be done with it.
   */
  admit(req: RawRequest, res: RawResponse): boolean | Promise<boolean> {
    if (req.method === "OPTIONS") return true;
    const url = req.url ?? "/";
    const query = url.indexOf("?");
    const path = query < 0 ? url : url.slice(0, query);
    let endpointClass: EndpointClass;
    let protocol: WireProtocol;
    if (path.startsWith("/api/")) {
      const restClass = this.routes.rest.get(restSegmentOf(path));
      if (!restClass) return true; // a 404 costs nothing
      endpointClass = restClass;
      protocol = "rest";
    } else {
      const route = this.routes.rpc.get(path);
      if (!route) return true;
      endpointClass = route.endpointClass;
      protocol = wireProtocolOf(req.headers["content-type"]);
      if (route.streaming) {
        const release = this.admission.enterStream(endpointClass);
        if (!release) {
          this.refuse(req, res, protocol, endpointClass, "streams_full");
          return false;
        }
        res.once("close", release);
        return true;
      }
    }

    const permit = this.admission.tryUnary(endpointClass);
    if (permit) {
      holdUntilDone(res, permit);
      return true;
    }
    const refused = this.admission.refuseAtOnce(endpointClass);
    if (refused) {
      this.refuse(req, res, protocol, endpointClass, refused);
      return false;
    }
    return this.wait(req, res, endpointClass, protocol);
  }

  private wait(
    req: RawRequest,
    res: RawResponse,
    endpointClass: EndpointClass,
    protocol: WireProtocol,
  ): Promise<boolean> {
    const deadline = deadlineOf(req, protocol);
    return new Promise((resolve) => {
      let leave: (() => void) | undefined;
      let settled = false;
      leave = this.admission.waitUnary(endpointClass, deadline?.timeoutMs, (outcome) => {
        settled = true;
        if (leave) res.off("close", leave);
        if (typeof outcome === "string") {
          if (outcome !== "cancelled") this.refuse(req, res, protocol, endpointClass, outcome);
          resolve(false);
          return;
        }
        if (deadline) deadline.shorten(Math.ceil(outcome.waitedMs));
        holdUntilDone(res, outcome.permit);
        resolve(true);
      });
      if (!settled) res.once("close", leave);
    });
  }

  private refuse(
    req: RawRequest,
    res: RawResponse,
    protocol: WireProtocol,
    endpointClass: EndpointClass,
    cause: ShedCause,
  ): void {
    let byCause = this.refusals.get(endpointClass);
    if (!byCause) {
      byCause = new Map();
      this.refusals.set(endpointClass, byCause);
    }
    let refusal = byCause.get(cause);
    if (!refusal) {
      refusal = refusalOf(cause === "streams_full" ? new StreamsFullError() : new ShedError(endpointClass, cause));
      byCause.set(cause, refusal);
    }
    refusal.write(res, protocol, req.headers["content-type"], this.corsHeaders(req.headers.origin));
  }

  private corsHeaders(origin: string | undefined): Record<string, string> | undefined {
    if (!origin || (this.corsOrigins !== true && !this.corsOrigins.has(origin))) return undefined;
    return {
      "access-control-allow-origin": origin,
      "access-control-expose-headers": "retry-after, grpc-status, grpc-message, grpc-status-details-bin",
      vary: "Origin",
    };
  }
}

/** The refusal a shed call gets, in every protocol's form (REST: 504 for a deadline, else 503). */
function refusalOf(thrown: ShedError | StreamsFullError): RawRefusal {
  const error = toConnectRefusal(thrown) as ConnectError;
  return new RawRefusal(
    error,
    error.code === Code.DeadlineExceeded
      ? { status: 504, code: "DEADLINE_EXCEEDED" }
      : {
          status: 503,
          code: thrown instanceof StreamsFullError ? "TOO_MANY_STREAMS" : "OVERLOADED",
          retryAfterSeconds: 1,
        },
  );
}

/** The permit goes back when the response is done; a client that left teaches the limit nothing. */
function holdUntilDone(res: RawResponse, permit: Permit): void {
  let finished = false;
  res.once("finish", () => {
    finished = true;
  });
  res.once("close", () => {
    if (!finished) permit.ignore();
    else if (res.statusCode === 503 || res.statusCode === 504) permit.dropped();
    else permit.success();
  });
}

/** The call's own deadline from its header, and a way to hand on only what is left of it. */
function deadlineOf(
  req: RawRequest,
  protocol: WireProtocol,
): { timeoutMs: number; shorten(byMs: number): void } | undefined {
  if (protocol === "rest") return undefined;
  const header = protocol === "connect" || protocol === "connect-stream" ? "connect-timeout-ms" : "grpc-timeout";
  const value = req.headers[header];
  if (typeof value !== "string") return undefined;
  const parse = header === "grpc-timeout" ? parseGrpcTimeout : parseConnectTimeout;
  const { timeoutMs } = parse(value, NO_DEADLINE_LIMIT_MS);
  if (timeoutMs === undefined) return undefined; // a malformed header is Connect's to refuse
  return {
    timeoutMs,
    shorten(byMs) {
      const left = Math.max(1, timeoutMs - byMs);
      req.headers[header] = header === "grpc-timeout" ? `${left}m` : String(left);
    },
  };
}
