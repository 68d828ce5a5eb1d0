/**
 * The FCM sender through firebase-admin's own request path, against a local HTTP stand-in of
 * the FCM HTTP v1 send endpoint: delivered, unregistered and invalid tokens, a failing
 * provider, and the circuit opening.
 */
import assert from "node:assert/strict";
import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, it } from "node:test";
import { DomainError, GrpcCode } from "@weelo/errors";
import { createLogger } from "@weelo/log";
import { Metrics } from "@weelo/metrics";
import { createGuard } from "@weelo/resilience";
import { FcmPushSender, isDeadToken } from "./fcm-push-sender.js";
import { PushUnavailableError } from "./push-sender.js";

interface Received {
  url: string;
  headers: IncomingHttpHeaders;
  body: any;
}

const fcmError = (status: number, code: string, message: string, errorCode: string) =>
  JSON.stringify({
    error: {
      code: status,
      message,
      status: code,
      details: [{ "@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError", errorCode }],
    },
  });

describe("FcmPushSender against a stand-in FCM endpoint", () => {
  let server: Server;
  let host: string;
  let down = false;
  let unavailable = false;
  const received: Received[] = [];

  before(async () => {
    server = createServer(async (req, res) => {
      const chunks: Buffer[] = [];
      for await (const chunk of req) chunks.push(chunk as Buffer);
      const body = JSON.parse(Buffer.concat(chunks).toString() || "{}");
      received.push({ url: req.url ?? "", headers: req.headers, body });
      const json = { "content-type": "application/json" };
      if (req.method !== "POST" || !/^\/v1\/projects\/[^/]+\/messages:send$/.test(req.url ?? ""))
        return res.writeHead(404, json).end("{}");
      if (unavailable)
        return res
          .writeHead(503, json)
          .end(fcmError(503, "UNAVAILABLE", "The service is currently unavailable.", "UNAVAILABLE"));
      if (down)
        return res.writeHead(500, json).end(fcmError(500, "INTERNAL", "Internal error encountered.", "INTERNAL"));
      const token: string = body.message?.token ?? "";
      if (token.startsWith("gone-"))
        return res
          .writeHead(404, json)
          .end(fcmError(404, "NOT_FOUND", "Requested entity was not found.", "UNREGISTERED"));
      if (token.startsWith("bad-"))
        return res
          .writeHead(400, json)
          .end(
            fcmError(
              400,
              "INVALID_ARGUMENT",
              "The registration token is not a valid FCM registration token",
              "INVALID_ARGUMENT",
            ),
          );
      res.writeHead(200, json).end(JSON.stringify({ name: `projects/weelo-test/messages/${received.length}` }));
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => new Promise<void>((resolve) => server.close(() => resolve())));

  const sender = (consecutiveFailures = 5) =>
    new FcmPushSender(
      { projectId: "weelo-test", emulatorHost: host },
      createGuard({
        name: "fcm-test",
        logger: createLogger({ service: "test", level: "silent" }),
        metrics: new Metrics({ defaultMetrics: false }),
        timeoutMs: 3000,
        consecutiveFailures,
        halfOpenAfterMs: 60_000,
      }),
    );
  const message = {
    title: "Driver assigned",
    body: "Track it live.",
    data: { booking_id: "b1", kind: "driver_assigned" },
    urgent: true,
  };

  it("sends one v1 request per token with the credential's token, and reports dead tokens", async () => {
    down = false;
    received.length = 0;
    const fcm = sender();
    try {
      const outcome = await fcm.send(["good-1", "gone-1", "bad-1", "good-2"], message);
      assert.deepEqual(outcome, { delivered: 2, invalidTokens: ["gone-1", "bad-1"], failed: 0 });
      assert.equal(received.length, 4);
      const first = received.find((r) => r.body.message.token === "good-1")!;
      assert.equal(first.url, "/v1/projects/weelo-test/messages:send");
      assert.equal(first.headers.authorization, "Bearer emulator-token");
      assert.deepEqual(first.body.message.notification, { title: "Driver assigned", body: "Track it live." });
      assert.deepEqual(first.body.message.data, { booking_id: "b1", kind: "driver_assigned" });
      assert.equal(first.body.message.android.priority, "high");
    } finally {
      await fcm.close();
    }
  });

  it("fails with the dead tokens when no device could be reached, then opens the circuit", async () => {
    const fcm = sender(2);
    try {
      down = true;
      const failure = await fcm.send(["good-1"], message).then(
        () => undefined,
        (error: unknown) => error,
      );
      assert.ok(failure instanceof PushUnavailableError, String(failure));
      assert.equal(failure.outcome.failed, 1);
      await assert.rejects(fcm.send(["good-1"], message), PushUnavailableError);
      down = false;
      received.length = 0;
      await assert.rejects(
        fcm.send(["good-1"], message),
        (error: unknown) => error instanceof DomainError && error.reason === "PROVIDER_UNAVAILABLE",
      );
      assert.equal(received.length, 0, "an open circuit does not call FCM");
    } finally {
      down = false;
      await fcm.close();
    }
  });

  it("one retry policy: a 503 is not retried by firebase-admin; N messages make N POSTs, none once the circuit is open", async () => {
    const fcm = sender(3);
    try {
      unavailable = true;
      received.length = 0;
      const failures: unknown[] = [];
      for (let i = 0; i < 5; i++)
        failures.push(await fcm.send([`good-${i}`], message).catch((error: unknown) => error));
      assert.equal(failures.length, 5);
      assert.ok(
        failures.slice(0, 3).every((f) => f instanceof PushUnavailableError),
        "the first three reach FCM and fail",
      );
      assert.ok(
        failures
          .slice(3)
          .every(
            (f) => f instanceof DomainError && f.code === GrpcCode.UNAVAILABLE && f.reason === "PROVIDER_UNAVAILABLE",
          ),
        "the last two meet the open circuit",
      );
      const sent = received.length;
      await new Promise((resolve) => setTimeout(resolve, 1500)); // an SDK retry (backoff from 0.5 s) would show by now
      assert.equal(sent, 3, "one POST per message that reached FCM, none retried by the SDK");
      assert.equal(received.length, 3, "nothing is sent after the circuit opened");
      assert.deepEqual(
        received.map((r) => r.body.message.token),
        ["good-0", "good-1", "good-2"],
      );
    } finally {
      unavailable = false;
      await fcm.close();
    }
  });

  it("treats invalid-argument as a dead token only when FCM blames the token", () => {
    assert.equal(isDeadToken({ code: "messaging/registration-token-not-registered", message: "" }), true);
    assert.equal(
      isDeadToken({
        code: "messaging/invalid-argument",
        message: "The registration token is not a valid FCM registration token",
      }),
      true,
    );
    assert.equal(
      isDeadToken({ code: "messaging/invalid-argument", message: "Invalid value at 'message.data'" }),
      false,
    );
    assert.equal(isDeadToken({ code: "messaging/internal-error", message: "" }), false);
  });
});
