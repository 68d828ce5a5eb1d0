/**
 * One prom-client registry per process with the documented Weelo metrics. Label values are
 * bounded (service and method names, status codes), never ids.
 */
import client from "prom-client";

const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/**
 * The sampling interval of nodejs_eventloop_lag_* (ms). Node's histogram records each whole
 * interval between samples, so those figures are lag + this: a loop that never runs late reads it.
 */
export const EVENT_LOOP_SAMPLE_MS = 20;

export class Metrics {
  readonly registry = new client.Registry();

  /** Server-side duration of every gRPC call, by service, method and status code. */
  readonly rpcServerDuration = new client.Histogram({
    name: "weelo_rpc_server_duration_seconds",
    help: "Duration of gRPC calls handled by this process.",
    labelNames: ["service", "method", "code"] as const,
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });

  /** Client-side duration of every outgoing gRPC call, by service, method and status code. */
  readonly rpcClientDuration = new client.Histogram({
    name: "weelo_rpc_client_duration_seconds",
    help: "Duration of gRPC calls made by this process.",
    labelNames: ["service", "method", "code"] as const,
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });

  /** Calls refused on the mesh listener, by service, method and why (no identity, caller not declared). */
  readonly meshRefusals = new client.Counter({
    name: "weelo_mesh_refused_total",
    help: "Internal calls refused by the declared-callers check, by reason (unauthenticated, permission_denied).",
    labelNames: ["service", "method", "reason"] as const,
    registers: [this.registry],
  });

  /** Gateway request duration by route (RPC path or REST alias pattern), HTTP method and status. */
  readonly httpDuration = new client.Histogram({
    name: "weelo_http_request_duration_seconds",
    help: "Duration of HTTP requests served by the gateway.",
    labelNames: ["route", "method", "status"] as const,
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });

  /** Gateway requests by route and HTTP status. */
  readonly httpRequests = new client.Counter({
    name: "weelo_http_requests_total",
    help: "HTTP requests served by the gateway, by status.",
    labelNames: ["route", "method", "status"] as const,
    registers: [this.registry],
  });

  /** Database query time by service schema and statement kind (select, insert, update, delete). */
  readonly dbQueryDuration = new client.Histogram({
    name: "weelo_db_query_duration_seconds",
    help: "Duration of database queries.",
    labelNames: ["service", "operation"] as const,
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });

  /** Cache lookups by result (hit or miss) and key family. */
  readonly cacheLookups = new client.Counter({
    name: "weelo_cache_lookups_total",
    help: "Cache lookups by result.",
    labelNames: ["family", "result"] as const,
    registers: [this.registry],
  });

  /** Events published and consumed on the bus, by subject family and outcome. */
  readonly busMessages = new client.Counter({
    name: "weelo_bus_messages_total",
    help: "Bus messages by direction, subject family and outcome.",
    labelNames: ["direction", "family", "outcome"] as const,
    registers: [this.registry],
  });

  /** Time from the transaction that wrote an outbox event to its publish, by subject family. */
  readonly outboxLag = new client.Histogram({
    name: "weelo_outbox_publish_lag_seconds",
    help: "Time from writing an event to the outbox to its publish on the bus.",
    labelNames: ["family"] as const,
    buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900],
    registers: [this.registry],
  });

  /** State of each circuit breaker: 0 closed, 1 half-open, 2 open. */
  readonly circuitState = new client.Gauge({
    name: "weelo_circuit_breaker_state",
    help: "Circuit breaker state: 0 closed, 1 half-open, 2 open.",
    labelNames: ["breaker"] as const,
    registers: [this.registry],
  });

  constructor(options: { defaultMetrics?: boolean } = {}) {
    // Memory, CPU, GC and event-loop lag (nodejs_eventloop_lag_*) come from the default collectors.
    // Their lag figures are whole sampling intervals (an idle loop reads EVENT_LOOP_SAMPLE_MS, not 0):
    // the lag is what exceeds it (the dashboard subtracts it).
    if (options.defaultMetrics !== false) {
      client.collectDefaultMetrics({ register: this.registry, eventLoopMonitoringPrecision: EVENT_LOOP_SAMPLE_MS });
    }
  }

  /** The Prometheus text exposition of every metric. */
  async exposition(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}

/** Seconds elapsed since a process.hrtime.bigint() reading, for histogram observations. */
export function secondsSince(start: bigint): number {
  return Number(process.hrtime.bigint() - start) / 1e9;
}
