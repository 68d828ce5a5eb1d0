/** The MSG91 sender against a local HTTP stand-in of its Flow API: success, refusal, timeout, open circuit. */
import assert from "node:assert/strict";
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, it } from "node:test";
import { DomainError } from "@weelo/errors";
import { createLogger } from "@weelo/log";
import { Metrics } from "@weelo/metrics";
import { createGuard } from "@weelo/resilience";
import { Msg91SmsSender } from "./msg91-sms-sender.js";

interface Received {
  headers: IncomingMessage["headers"];
  body: any;
}

describe("Msg91SmsSender", () => {
  let server: Server;
  let baseUrl: string;
  let mode: "ok" | "refuse" | "slow" = "ok";
  const received: Received[] = [];

  before(async () => {
    server = createServer(async (req, res) => {
      const chunks: Buffer[] = [];
      for await (const chunk of req) chunks.push(chunk as Buffer);
      received.push({ headers: req.headers, body: JSON.parse(Buffer.concat(chunks).toString()) });
      if (req.url !== "/api/v5/flow" || req.method !== "POST") return res.writeHead(404).end();
      // Slower than the guard by far, so a loaded machine cannot blur which one happens first.
      if (mode === "slow") await new Promise((resolve) => setTimeout(resolve, 6_000));
      if (mode === "refuse")
        return res
          .writeHead(401, { "content-type": "application/json" })
          .end('{"type":"error","message":"AuthenticationFailure"}');
      res
        .writeHead(200, { "content-type": "application/json" })
        .end('{"type":"success","message":"3763646c3058373530393830"}');
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => {
    server.closeAllConnections();
    return new Promise<void>((resolve) => server.close(() => resolve()));
  });

  const sender = (consecutiveFailures = 5) =>
    new Msg91SmsSender(
      { baseUrl, authKey: "test-auth-key", templateId: "tmpl-otp" },
      createGuard({
        name: "sms-test",
        logger: createLogger({ service: "test", level: "silent" }),
        metrics: new Metrics({ defaultMetrics: false }),
        // A first fetch in a cold process takes hundreds of ms on a loaded machine.
        timeoutMs: 3_000,
        consecutiveFailures,
        halfOpenAfterMs: 60_000,
      }),
    );

  it("posts the OTP to the Flow API with the auth key and the number without +", async () => {
    mode = "ok";
    received.length = 0;
    await sender().sendOtp("+919876543210", "042137");
    assert.equal(received.length, 1);
    assert.equal(received[0]!.headers.authkey, "test-auth-key");
    assert.deepEqual(received[0]!.body, {
      template_id: "tmpl-otp",
      short_url: "0",
      recipients: [{ mobiles: "919876543210", otp: "042137" }],
    });
  });

  it("turns a refusal and a timeout into UNAVAILABLE, then opens the circuit", async () => {
    const guarded = sender(2);
    mode = "refuse";
    await assert.rejects(
      guarded.sendOtp("+919876543210", "111111"),
      (error: unknown) => error instanceof DomainError && error.reason === "SMS_UNAVAILABLE",
    );
    mode = "slow";
    await assert.rejects(
      guarded.sendOtp("+919876543210", "111111"),
      (error: unknown) => error instanceof DomainError && error.reason === "PROVIDER_TIMEOUT",
    );
    mode = "ok";
    received.length = 0;
    await assert.rejects(
      guarded.sendOtp("+919876543210", "111111"),
      (error: unknown) =>
        error instanceof DomainError && error.reason === "PROVIDER_UNAVAILABLE" && error.retryAfterSeconds === 30,
    );
    assert.equal(received.length, 0, "an open circuit does not call the provider");
  });
});
