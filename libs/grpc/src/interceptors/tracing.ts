import { codeName, toDomainError } from "@weelo/errors";
import { inSpan, remoteContext, SpanKind, tracingEnabled } from "@weelo/telemetry";
import type { ServerInterceptor } from "./types.js";

/**
 * Outermost: with tracing on, each call runs in a SERVER span continuing the caller's W3C
 * trace context (`traceparent` metadata), so every log line and outgoing call or event of the
 * call carries the same trace id. With tracing off it only passes the call on.
 */
export const tracingInterceptor: ServerInterceptor = (ctx, next) => {
  if (!tracingEnabled()) return next();
  const parent = remoteContext((key) => {
    const value = ctx.metadata.get(key)[0];
    return typeof value === "string" ? value : undefined;
  });
  return inSpan(
    {
      name: `${ctx.service}/${ctx.method}`,
      kind: SpanKind.SERVER,
      parent,
      attributes: {
        "rpc.system": "grpc",
        "rpc.service": ctx.service,
        "rpc.method": ctx.method,
        "weelo.request_id": ctx.requestId,
      },
    },
    async (span) => {
      await next();
      span?.setAttribute("rpc.grpc.status_code", 0);
    },
    grpcErrorAttributes,
  );
};

/** The gRPC status of a failed call, as span attributes. */
export function grpcErrorAttributes(error: unknown) {
  const { code } = toDomainError(error);
  return { "rpc.grpc.status_code": code, "weelo.grpc.status": codeName(code) };
}
