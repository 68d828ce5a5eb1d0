/**
 * The concurrency limit applied to the raw HTTP request, before anything costly: before its
 * body is read or decoded, its token verified, its rate limits looked up in Redis or its
 * upstream called. From the path alone it finds the call's endpoint class and whether it is a
 * stream; a unary call takes a permit of its class's adaptive limit (or waits a few
 * milliseconds for one), a stream takes a stream slot; a refusal is written at once in the
 * request's own protocol (raw-refusals.ts). The permit is held until the response is done,
 * and its round trip teaches the limit.
 *
 * A call that waited has its deadline header (connect-timeout-ms / grpc-timeout) shortened by
 * the wait, so the upstream call gets only the time its client still waits for.
 */
import type { DescService } from "@bufbuild/protobuf";
import { Code, type ConnectError } from "@connectrpc/connect";
import { parseTimeout as parseConnectTimeout } from "@connectrpc/connect/protocol-connect";
import { parseTimeout as parseGrpcTimeout } from "@connectrpc/connect/protocol-grpc";
import type { Permit } from "@weelo/resilience";
import { endpointClassOf, ShedError, StreamsFullError, type Admission, type EndpointClass } from "./admission.js";
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
  private readonly refusals = new Map<string, RawRefusal>();

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
    let route: Route | undefined;
    let protocol: WireProtocol;
    if (path.startsWith("/api/")) {
      const endpointClass = this.routes.rest.get(restSegmentOf(path));
      if (!endpointClass) return true; // a 404 costs nothing
      route = { endpointClass, streaming: false };
      protocol = "rest";
    } else {
      route = this.routes.rpc.get(path);
      if (!route) return true;
      protocol = wireProtocolOf(req.headers["content-type"]);
    }

    if (route.streaming) {
      let release: () => void;
      try {
        release = this.admission.enterStream(route.endpointClass);
      } catch (thrown) {
        this.refuse(req, res, protocol, thrown as StreamsFullError, route.endpointClass);
        return false;
      }
      res.once("close", release);
      return true;
    }
    const permit = this.admission.tryUnary(route.endpointClass);
    if (permit) {
      holdUntilDone(res, permit);
      return true;
    }
    return this.wait(req, res, route.endpointClass, protocol);
  }

  private async wait(
    req: RawRequest,
    res: RawResponse,
    endpointClass: EndpointClass,
    protocol: WireProtocol,
  ): Promise<boolean> {
    const deadline = deadlineOf(req, protocol);
    const gone = new AbortController();
    const onClose = () => gone.abort();
    res.once("close", onClose);
    try {
      const { permit, waitedMs } = await this.admission.waitUnary(endpointClass, {
        signal: gone.signal,
        ...(deadline ? { deadlineMs: deadline.timeoutMs } : {}),
      });
      res.off("close", onClose);
      if (deadline) deadline.shorten(Math.ceil(waitedMs));
      holdUntilDone(res, permit);
      return true;
    } catch (thrown) {
      res.off("close", onClose);
      if (!(thrown instanceof ShedError)) throw thrown;
      if (thrown.reason !== "cancelled") this.refuse(req, res, protocol, thrown, endpointClass);
      return false;
    }
  }

  private refuse(
    req: RawRequest,
    res: RawResponse,
    protocol: WireProtocol,
    thrown: ShedError | StreamsFullError,
    endpointClass: EndpointClass,
  ): void {
    const key = thrown instanceof ShedError ? `${endpointClass}/${thrown.reason}` : "streams";
    let refusal = this.refusals.get(key);
    if (!refusal) {
      const error = toConnectRefusal(thrown) as ConnectError;
      const deadline = error.code === Code.DeadlineExceeded;
      refusal = new RawRefusal(
        error,
        deadline
          ? { status: 504, code: "DEADLINE_EXCEEDED" }
          : {
              status: 503,
              code: thrown instanceof StreamsFullError ? "TOO_MANY_STREAMS" : "OVERLOADED",
              retryAfterSeconds: 1,
            },
      );
      this.refusals.set(key, refusal);
    }
    refusal.write(res, protocol, req.headers["content-type"], this.corsHeaders(req.headers.origin));
  }

  private corsHeaders(origin: string | undefined): Record<string, string> {
    if (!origin || (this.corsOrigins !== true && !this.corsOrigins.has(origin))) return {};
    return {
      "access-control-allow-origin": origin,
      "access-control-expose-headers": "retry-after, grpc-status, grpc-message, grpc-status-details-bin",
      vary: "Origin",
    };
  }
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
