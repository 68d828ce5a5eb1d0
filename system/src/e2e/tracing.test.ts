/**
 * Distributed tracing end to end, against a local stand-in of an OTLP/HTTP collector: one
 * booking request from an app that sends its own W3C traceparent goes through the gateway to
 * booking (gRPC), whose event leaves through the outbox relay to the bus and reaches a
 * consumer; every span of it carries the app's trace id, each with the right parent, and the
 * log lines written while serving it carry the trace id next to the request id. The relay
 * measures the event's time in the outbox.
 */
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, describe, it } from "node:test";
import { createLogger } from "@weelo/log";
import { SPAN_KIND, startOtlpCollector, type CollectedSpan, type OtlpCollector } from "@weelo/telemetry/testing";
import { until } from "@weelo/testing";
import { address, HINJEWADI, PUNE, startTestSystem, type TestSystem } from "./test-support.js";

describe("tracing across the gateway, a service and the bus", () => {
  let collector: OtlpCollector;
  let system: TestSystem;
  const lines: Record<string, unknown>[] = [];
  before(async () => {
    collector = await startOtlpCollector();
    const logger = createLogger({
      service: "weelo",
      level: "debug",
      destination: { write: (line: string) => void lines.push(JSON.parse(line)) },
    });
    system = await startTestSystem(
      { OTEL_EXPORTER_OTLP_ENDPOINT: collector.url, OTEL_BSP_SCHEDULE_DELAY: "50" },
      { logger },
    );
  });
  after(async () => {
    await system?.stop();
    await collector?.close();
  });

  it("gives one booking request, its event and the event's consumer the app's trace id", async () => {
    const config = system.platform.config as unknown as { BOOKING_STREAM: string; BOOKING_SUBJECT_ROOT: string };
    const consumed: Record<string, string>[] = [];
    const durable = `trace_test_${process.pid}`;
    const consumer = await system.platform.bus.consume({
      stream: config.BOOKING_STREAM,
      durable,
      filterSubjects: [`${config.BOOKING_SUBJECT_ROOT}.created`],
      handler: (msg) => void consumed.push(msg.headers),
    });
    try {
      const customer = await system.login("customer");
      const auth = { authorization: `Bearer ${customer.accessToken}` };
      const quote = await system.rest(
        "POST",
        "/api/v1/quotes",
        { pickup: PUNE, drop: HINJEWADI, vehicleType: "pickup_8ft", vehicleCount: 1 },
        auth,
      );
      assert.equal(quote.status, 201, JSON.stringify(quote.body));

      const traceId = randomUUID().replaceAll("-", "");
      const appSpanId = "a1b2c3d4e5f60718";
      const request = {
        quoteToken: quote.body.data.quoteToken,
        pickup: address(PUNE, "Anil Shinde"),
        drop: address(HINJEWADI, "Kavita Rao"),
        vehicleType: "pickup_8ft",
        vehicleCount: 1,
        goodsType: "furniture",
        weightKg: 800,
        idempotencyKey: randomUUID(),
      };
      const created = await system.rest("POST", "/api/v1/bookings", request, {
        ...auth,
        traceparent: `00-${traceId}-${appSpanId}-01`,
      });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      const requestId = created.headers.get("x-request-id");

      await until("the consumer got the booking's event", () => consumed.length > 0);
      assert.match(
        consumed[0]!.traceparent ?? "",
        new RegExp(`^00-${traceId}-[0-9a-f]{16}-01$`),
        "the event's headers carry the trace",
      );
      // The gateway's HTTP span ends last (booking's own call to pricing ends long before it).
      await until(
        "the spans of the request, the publish and the consume are exported",
        () =>
          [SPAN_KIND.server, SPAN_KIND.client, SPAN_KIND.producer, SPAN_KIND.consumer].every((kind) =>
            inTrace(traceId).some((s) => s.kind === kind),
          ) && inTrace(traceId).some((s) => s.name === "POST /api/v1/bookings"),
      );

      const spans = inTrace(traceId);
      const one = (predicate: (s: CollectedSpan) => boolean, what: string) => {
        const found = spans.filter(predicate);
        assert.equal(found.length, 1, `one ${what} span, got ${JSON.stringify(spans.map((s) => s.name))}`);
        return found[0]!;
      };
      const http = one((s) => s.kind === SPAN_KIND.server && s.name === "POST /api/v1/bookings", "gateway HTTP");
      const forward = one(
        (s) => s.kind === SPAN_KIND.client && s.name === "weelo.booking.v1.BookingService/CreateBooking",
        "gateway → booking",
      );
      const served = one(
        (s) => s.kind === SPAN_KIND.server && s.name === "weelo.booking.v1.BookingService/CreateBooking",
        "booking gRPC",
      );
      const published = one(
        (s) => s.kind === SPAN_KIND.producer && s.name === `publish ${config.BOOKING_SUBJECT_ROOT}.created`,
        "publish",
      );
      const processed = one(
        (s) => s.kind === SPAN_KIND.consumer && s.attributes["messaging.consumer.group.name"] === durable,
        "consume",
      );
      assert.equal(processed.name, `process ${config.BOOKING_SUBJECT_ROOT}.created`);

      assert.equal(http.parentSpanId, appSpanId, "the gateway continues the app's span");
      assert.equal(http.attributes["http.route"], "/api/v1/bookings");
      assert.equal(http.attributes["http.response.status_code"], 201);
      assert.equal(forward.parentSpanId, http.spanId);
      assert.equal(served.parentSpanId, forward.spanId, "traceparent crossed the gRPC metadata");
      assert.equal(served.attributes["rpc.grpc.status_code"], 0);
      const redeem = one(
        (s) => s.kind === SPAN_KIND.client && s.name === "weelo.pricing.v1.QuoteRedemptionService/RedeemQuote",
        "booking → pricing",
      );
      assert.equal(redeem.parentSpanId, served.spanId, "booking redeems the quote within the call, in its trace");
      assert.equal(
        published.parentSpanId,
        served.spanId,
        "the relay publishes in the trace of the call that wrote the event",
      );
      assert.equal(published.attributes["messaging.destination.name"], `${config.BOOKING_SUBJECT_ROOT}.created`);
      assert.equal(processed.parentSpanId, published.spanId, "traceparent crossed the bus headers");
      for (const span of spans) assert.equal(span.service, "weelo");

      const { body: metrics } = await system.platform.metrics.exposition();
      const lag = new RegExp(
        `^weelo_outbox_publish_lag_seconds_count\\{family="${config.BOOKING_SUBJECT_ROOT}"\\} (\\d+)$`,
        "m",
      ).exec(metrics);
      assert.ok(lag && Number(lag[1]) >= 1, "the relay measured the event's outbox lag");

      const served_lines = lines.filter(
        (line) => line.requestId === requestId && line.rpc === "BookingService/CreateBooking",
      );
      assert.ok(served_lines.length > 0, "booking logged the call");
      for (const line of served_lines)
        assert.equal(line.traceId, traceId, "every line of the call carries the trace id next to the request id");
    } finally {
      await consumer.stop();
    }
  });

  it("marks a refused call's spans with its status and starts a trace when the app sends none", async () => {
    const refused = await system.rest("GET", `/api/v1/bookings/${randomUUID()}`, undefined, {
      authorization: "Bearer not-a-token",
    });
    assert.equal(refused.status, 401);
    const me = await system.connect("/weelo.identity.v1.ProfileService/GetMe", {}, {});
    assert.equal(me.status, 401);
    await until("the refused request's span is exported", () =>
      collector.spans.some((s) => s.name === "POST /weelo.identity.v1.ProfileService/GetMe"),
    );
    const http = collector.spans.find((s) => s.name === "POST /weelo.identity.v1.ProfileService/GetMe")!;
    assert.equal(http.parentSpanId, "", "a request without traceparent starts a new trace");
    assert.equal(http.attributes["http.response.status_code"], 401);
    assert.equal(http.statusCode, 0, "a client error does not mark the server span failed");
    assert.ok(
      !collector.spans.some((s) => s.name.startsWith("GET /health") || s.name === "GET /metrics"),
      "probes are not traced",
    );
  });

  function inTrace(traceId: string): CollectedSpan[] {
    return collector.spans.filter((s) => s.traceId === traceId);
  }
});
