/**
 * @weelo/telemetry: distributed tracing with OpenTelemetry, off by default. When a process
 * starts it with an OTLP endpoint (OTEL_EXPORTER_OTLP_ENDPOINT), spans are exported over
 * OTLP/HTTP in batches and W3C trace context (`traceparent`, `tracestate`) travels in gRPC
 * metadata and bus headers. When it is off every helper here is one boolean test, so the
 * hot paths (gRPC calls, location fan-out) pay nothing for it.
 *
 * The libs call these helpers; services never need to: libs/grpc opens server and client
 * spans, libs/bus producer and consumer spans, libs/log puts the trace id on every line.
 */
import {
  context,
  propagation,
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  trace,
  type Attributes,
  type Context,
  type Span,
  type Tracer,
} from "@opentelemetry/api";
import { W3CTraceContextPropagator } from "@opentelemetry/core";
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-http";
import { resourceFromAttributes } from "@opentelemetry/resources";
import { BatchSpanProcessor, ParentBasedSampler, TraceIdRatioBasedSampler } from "@opentelemetry/sdk-trace-base";
import { NodeTracerProvider } from "@opentelemetry/sdk-trace-node";
import { ATTR_SERVICE_NAME } from "@opentelemetry/semantic-conventions";

export { SpanKind, SpanStatusCode, type Attributes, type Span };

export interface TracingSettings {
  /** service.name of the spans (the process's name unless OTEL_SERVICE_NAME says otherwise). */
  serviceName: string;
  /** OTLP/HTTP base URL (spans go to `<endpoint>/v1/traces`); unset means tracing stays off. */
  endpoint: string | undefined;
  /** Extra headers of the export requests (a collector's API key), from OTEL_EXPORTER_OTLP_HEADERS. */
  headers?: Record<string, string>;
  /** Fraction of new traces sampled (0..1); a call that arrives sampled stays sampled. Default 1. */
  sampleRatio?: number;
  /** How often the batch of finished spans is sent (ms); default 5000. */
  scheduleDelayMs?: number;
  /** Extra resource attributes, e.g. deployment.environment. */
  resource?: Attributes;
}

/** What startTracing returns: flush and stop are safe to call when tracing is off. */
export interface Tracing {
  readonly enabled: boolean;
  /** Sends the spans finished so far (tests, and before a planned exit). */
  flush(): Promise<void>;
  /** Flushes and stops; the last holder of a shared tracer turns tracing off for the process. */
  shutdown(): Promise<void>;
}

interface Active {
  provider: NodeTracerProvider;
  tracer: Tracer;
  holders: number;
}

let active: Active | undefined;
/** The tracer while tracing is on; the single test every helper makes first. */
let tracer: Tracer | undefined;

const OFF: Tracing = { enabled: false, flush: async () => {}, shutdown: async () => {} };

/**
 * Starts tracing for this process when an endpoint is configured. A process hosts one tracer:
 * a second start (several platforms in one test process) shares the first one's provider.
 */
export function startTracing(settings: TracingSettings): Tracing {
  if (!settings.endpoint) return OFF;
  if (!active) {
    const exporter = new OTLPTraceExporter({
      url: `${settings.endpoint.replace(/\/+$/, "")}/v1/traces`,
      headers: settings.headers ?? {},
    });
    const provider = new NodeTracerProvider({
      resource: resourceFromAttributes({ [ATTR_SERVICE_NAME]: settings.serviceName, ...settings.resource }),
      sampler: new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(settings.sampleRatio ?? 1) }),
      spanProcessors: [new BatchSpanProcessor(exporter, { scheduledDelayMillis: settings.scheduleDelayMs ?? 5000 })],
    });
    // Registers the AsyncLocalStorage context manager and the W3C propagator globally.
    provider.register({ propagator: new W3CTraceContextPropagator() });
    active = { provider, tracer: provider.getTracer("weelo"), holders: 0 };
    tracer = active.tracer;
  }
  const held = active;
  held.holders += 1;
  let released = false;
  return {
    enabled: true,
    flush: () => held.provider.forceFlush(),
    async shutdown() {
      if (released) return;
      released = true;
      held.holders -= 1;
      if (held.holders > 0) {
        await held.provider.forceFlush();
        return;
      }
      if (active === held) {
        active = undefined;
        tracer = undefined;
      }
      await held.provider.shutdown();
      trace.disable();
      context.disable();
      propagation.disable();
    },
  };
}

/** True while spans are being recorded; callers test it before doing any tracing work. */
export function tracingEnabled(): boolean {
  return tracer !== undefined;
}

/** The trace and span ids of the active span, for log lines; undefined when there is none. */
export function activeTraceIds(): { traceId: string; spanId: string } | undefined {
  if (!tracer) return undefined;
  const span = trace.getSpan(context.active());
  if (!span) return undefined;
  const { traceId, spanId } = span.spanContext();
  return { traceId, spanId };
}

/** `traceparent` (and `tracestate`) of the active span, to put in outgoing headers or metadata. */
export function traceHeaders(): Record<string, string> {
  const carrier: Record<string, string> = {};
  if (tracer) propagation.inject(context.active(), carrier);
  return carrier;
}

/** The context named by a caller's `traceparent`/`tracestate` (the root context when absent or malformed). */
export function remoteContext(get: (key: string) => string | undefined): Context {
  return propagation.extract(ROOT_CONTEXT, undefined, {
    keys: () => ["traceparent", "tracestate"],
    get: (_carrier, key) => get(key),
  });
}

/**
 * Runs fn with the remote span named by `traceparent`/`tracestate` as the active parent (work
 * done later on behalf of a call, e.g. an outbox relay publishing its event). Plain call when off.
 */
export function inRemoteContext<T>(carrier: Record<string, string> | undefined, fn: () => T): T {
  if (!tracer || !carrier?.traceparent) return fn();
  return context.with(
    remoteContext((key) => carrier[key]),
    fn,
  );
}

export interface SpanSpec {
  name: string;
  kind: SpanKind;
  attributes?: Attributes;
  /** The remote parent (from remoteContext); by default the active span is the parent. */
  parent?: Context;
}

/**
 * Runs fn inside a new span made active for all the work it starts, and ends the span when fn
 * returns or, for a promise, settles. A thrown error marks the span failed (with the
 * attributes describeError gives, e.g. the gRPC status code) and is rethrown unchanged.
 * With tracing off fn simply runs.
 */
export function inSpan<T>(
  spec: SpanSpec,
  fn: (span: Span | undefined) => T,
  describeError?: (error: unknown) => Attributes,
): T {
  if (!tracer) return fn(undefined);
  const parent = spec.parent ?? context.active();
  const span = tracer.startSpan(
    spec.name,
    { kind: spec.kind, ...(spec.attributes ? { attributes: spec.attributes } : {}) },
    parent,
  );
  const fail = (error: unknown) => {
    failSpan(span, error);
    if (describeError) span.setAttributes(describeError(error));
  };
  let result: T;
  try {
    result = context.with(trace.setSpan(parent, span), fn, undefined, span);
  } catch (error) {
    fail(error);
    span.end();
    throw error;
  }
  if (result instanceof Promise) {
    return result.then(
      (value) => {
        span.end();
        return value;
      },
      (error: unknown) => {
        fail(error);
        span.end();
        throw error;
      },
    ) as T;
  }
  span.end();
  return result;
}

/**
 * Starts a span the caller ends itself (a gRPC client call that completes in a callback), with
 * the active span as parent. Undefined when tracing is off.
 */
export function startSpan(spec: SpanSpec): Span | undefined {
  if (!tracer) return undefined;
  return tracer.startSpan(
    spec.name,
    { kind: spec.kind, ...(spec.attributes ? { attributes: spec.attributes } : {}) },
    spec.parent ?? context.active(),
  );
}

/** `traceparent`/`tracestate` naming the given span as the parent of the remote side's work. */
export function headersOfSpan(span: Span): Record<string, string> {
  const carrier: Record<string, string> = {};
  propagation.inject(trace.setSpan(context.active(), span), carrier);
  return carrier;
}

/** Marks a span failed with the error's message (the error is recorded as an event). */
export function failSpan(span: Span, error: unknown): void {
  const message = error instanceof Error ? error.message : String(error);
  span.setStatus({ code: SpanStatusCode.ERROR, message });
  if (error instanceof Error) span.recordException(error);
}

/** Marks the active span failed: for code that handles an error without throwing it on. */
export function failActiveSpan(error: unknown, attributes?: Attributes): void {
  if (!tracer) return;
  const span = trace.getSpan(context.active());
  if (!span) return;
  failSpan(span, error);
  if (attributes) span.setAttributes(attributes);
}

/** Reads OTEL_EXPORTER_OTLP_HEADERS ("key=value,key2=value2", values URL-encoded) into a record. */
export function parseOtlpHeaders(value: string | undefined): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const pair of (value ?? "").split(",")) {
    const at = pair.indexOf("=");
    if (at <= 0) continue;
    headers[decodeURIComponent(pair.slice(0, at).trim())] = decodeURIComponent(pair.slice(at + 1).trim());
  }
  return headers;
}
