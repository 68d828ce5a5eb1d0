/**
 * Tracing at the gateway (off unless OTEL_EXPORTER_OTLP_ENDPOINT is set): a SERVER span per
 * HTTP request, continuing the app's W3C `traceparent` when it sends one, and a CLIENT span per
 * forwarded upstream call whose context travels in the gRPC metadata, so the gateway, the
 * services and the events they publish share one trace.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Http2ServerRequest, Http2ServerResponse } from "node:http2";
import type * as grpc from "@grpc/grpc-js";
import { codeName } from "@weelo/errors";
import {
  headersOfSpan,
  inSpan,
  remoteContext,
  SpanKind,
  SpanStatusCode,
  startSpan,
  tracingEnabled,
  type Span,
} from "@weelo/telemetry";

type Request = IncomingMessage | Http2ServerRequest;
type Response = ServerResponse | Http2ServerResponse;

/**
 * Runs the request's handling inside a SERVER span that ends when the response is finished or
 * abandoned. Probes and scrapes (/health*, /metrics) are not traced: they would drown the rest.
 */
export function traceRequest(req: Request, res: Response, routeOf: () => string, handle: () => void): void {
  if (!tracingEnabled()) return handle();
  const path = (req.url ?? "/").split("?")[0]!;
  if (path.startsWith("/health") || path === "/metrics") return handle();
  const parent = remoteContext((key) => {
    const value = req.headers[key];
    return typeof value === "string" ? value : undefined;
  });
  inSpan(
    {
      name: `${req.method ?? "GET"} ${path}`,
      kind: SpanKind.SERVER,
      parent,
      attributes: {
        "http.request.method": req.method ?? "",
        "url.path": path,
        "network.protocol.version": req.httpVersion,
      },
    },
    (span) =>
      new Promise<void>((resolve) => {
        let ended = false;
        const end = () => {
          if (ended) return;
          ended = true;
          const route = routeOf();
          span?.updateName(`${req.method ?? "GET"} ${route}`);
          span?.setAttributes({ "http.route": route, "http.response.status_code": res.statusCode });
          if (res.statusCode >= 500) span?.setStatus({ code: SpanStatusCode.ERROR, message: `HTTP ${res.statusCode}` });
          resolve();
        };
        res.once("finish", end);
        res.once("close", end);
        handle();
      }),
  );
}

/** A CLIENT span for one forwarded call, its trace context put in the call's metadata; undefined when tracing is off. */
export function forwardSpan(service: string, method: string, metadata: grpc.Metadata): Span | undefined {
  if (!tracingEnabled()) return undefined;
  const span = startSpan({
    name: `${service}/${method}`,
    kind: SpanKind.CLIENT,
    attributes: { "rpc.system": "grpc", "rpc.service": service, "rpc.method": method },
  });
  if (!span) return undefined;
  for (const [key, value] of Object.entries(headersOfSpan(span))) metadata.set(key, value);
  return span;
}

/** Ends a forwarded call's span with the call's final status. */
export function endForwardSpan<
  C extends { once(event: "status", listener: (status: grpc.StatusObject) => void): unknown },
>(span: Span | undefined, call: C): C {
  if (!span) return call;
  call.once("status", (status) => {
    span.setAttribute("rpc.grpc.status_code", status.code);
    if (status.code !== 0)
      span.setStatus({ code: SpanStatusCode.ERROR, message: `${codeName(status.code)}: ${status.details}` });
    span.end();
  });
  return call;
}
