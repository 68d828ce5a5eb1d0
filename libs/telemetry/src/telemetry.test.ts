import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  activeTraceIds,
  inSpan,
  parseOtlpHeaders,
  remoteContext,
  SpanKind,
  startTracing,
  traceHeaders,
  tracingEnabled,
} from "./index.js";
import { SPAN_KIND, startOtlpCollector } from "./testing.js";

const REMOTE_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736";
const REMOTE_SPAN = "00f067aa0ba902b7";
const traceparent = (flags: "01" | "00") => `00-${REMOTE_TRACE}-${REMOTE_SPAN}-${flags}`;
const from = (value: string) => remoteContext((key) => (key === "traceparent" ? value : undefined));

describe("tracing", () => {
  it("is off without an endpoint: spans are not made and nothing is propagated", async () => {
    const tracing = startTracing({ serviceName: "test", endpoint: undefined });
    assert.equal(tracing.enabled, false);
    assert.equal(tracingEnabled(), false);
    const seen = await inSpan({ name: "work", kind: SpanKind.INTERNAL }, async (span) => ({
      span,
      headers: traceHeaders(),
      ids: activeTraceIds(),
    }));
    assert.equal(seen.span, undefined);
    assert.deepEqual(seen.headers, {});
    assert.equal(seen.ids, undefined);
    await tracing.shutdown();
  });

  it("exports spans over OTLP/HTTP, continuing a caller's traceparent, with errors marked", async () => {
    const collector = await startOtlpCollector();
    const tracing = startTracing({
      serviceName: "unit",
      endpoint: `${collector.url}/`,
      headers: { "x-api-key": "k1" },
      scheduleDelayMs: 50,
    });
    try {
      assert.equal(tracingEnabled(), true);
      let inner: { headers: Record<string, string>; ids: ReturnType<typeof activeTraceIds> } | undefined;
      await inSpan({ name: "serve", kind: SpanKind.SERVER, parent: from(traceparent("01")) }, async () => {
        await inSpan({ name: "call", kind: SpanKind.CLIENT }, async () => {
          inner = { headers: traceHeaders(), ids: activeTraceIds() };
        });
      });
      await assert.rejects(
        inSpan(
          { name: "fails", kind: SpanKind.INTERNAL },
          async () => {
            throw new Error("boom");
          },
          () => ({ "rpc.grpc.status_code": 13 }),
        ),
        /boom/,
      );
      assert.throws(
        () =>
          inSpan({ name: "throws", kind: SpanKind.INTERNAL }, () => {
            throw new Error("sync boom");
          }),
        /sync boom/,
      );
      await tracing.flush();

      const byName = new Map(collector.spans.map((s) => [s.name, s]));
      const serve = byName.get("serve")!;
      const call = byName.get("call")!;
      assert.equal(serve.traceId, REMOTE_TRACE, "the caller's trace continues");
      assert.equal(serve.parentSpanId, REMOTE_SPAN);
      assert.equal(serve.kind, SPAN_KIND.server);
      assert.equal(serve.service, "unit");
      assert.equal(call.traceId, REMOTE_TRACE);
      assert.equal(call.parentSpanId, serve.spanId, "the inner span is the child of the active one");
      assert.equal(inner?.ids?.traceId, REMOTE_TRACE);
      assert.equal(inner?.ids?.spanId, call.spanId);
      assert.equal(inner?.headers.traceparent, `00-${REMOTE_TRACE}-${call.spanId}-01`);
      assert.equal(byName.get("fails")?.statusCode, 2);
      assert.equal(byName.get("fails")?.attributes["rpc.grpc.status_code"], 13);
      assert.notEqual(byName.get("fails")?.traceId, REMOTE_TRACE, "a span outside any request starts a new trace");
      assert.equal(byName.get("throws")?.statusCode, 2);
      assert.equal(collector.lastHeaders["x-api-key"], "k1");
    } finally {
      await tracing.shutdown();
      await collector.close();
    }
    assert.equal(tracingEnabled(), false, "the last holder's shutdown turns tracing off");
    assert.deepEqual(traceHeaders(), {});
  });

  it("samples new traces by ratio but keeps a caller's sampling decision", async () => {
    const collector = await startOtlpCollector();
    const tracing = startTracing({
      serviceName: "ratio",
      endpoint: collector.url,
      sampleRatio: 0,
      scheduleDelayMs: 50,
    });
    const second = startTracing({ serviceName: "shared", endpoint: collector.url });
    try {
      inSpan({ name: "new-trace", kind: SpanKind.SERVER }, () => undefined);
      inSpan({ name: "sampled-by-caller", kind: SpanKind.SERVER, parent: from(traceparent("01")) }, () => undefined);
      inSpan({ name: "unsampled-by-caller", kind: SpanKind.SERVER, parent: from(traceparent("00")) }, () => undefined);
      await second.shutdown();
      assert.equal(tracingEnabled(), true, "a second holder's shutdown leaves the first one's tracer running");
      await tracing.flush();
      assert.deepEqual(
        collector.spans.map((s) => s.name),
        ["sampled-by-caller"],
      );
      assert.equal(collector.spans[0]!.service, "ratio", "the process's first start names the service");
    } finally {
      await tracing.shutdown();
      await collector.close();
    }
  });

  it("reads OTEL_EXPORTER_OTLP_HEADERS", () => {
    assert.deepEqual(parseOtlpHeaders("api-key=abc%3D%3D, x-team = ops ,broken"), {
      "api-key": "abc==",
      "x-team": "ops",
    });
    assert.deepEqual(parseOtlpHeaders(undefined), {});
  });
});
