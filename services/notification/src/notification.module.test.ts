/**
 * The notification module as configured: the log sender says so at start; with PUSH_PROVIDER=fcm
 * and FCM_EMULATOR_HOST an event's push goes through firebase-admin to a local stand-in of the
 * FCM v1 endpoint, and the token it rejects is removed from identity. Production refuses the
 * development senders.
 */
import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, it } from "node:test";
import { v7 as uuidv7 } from "uuid";
import { BookingStatus } from "@weelo/contracts/grpc/weelo/booking/v1/booking";
import { BookingStatusChanged } from "@weelo/contracts/grpc/weelo/booking/v1/events";
import { createPlatform } from "@weelo/runtime";
import { capturingLogger, isolatedTestEnvironment, until } from "@weelo/testing";
import { loadNotificationConfig } from "./notification.config.js";
import { startNotification } from "./notification.module.js";
import { startTestNotification, type TestNotification } from "./test-support.js";

describe("notification configuration", () => {
  it("refuses the log senders and the FCM stand-in in production, and FCM without a project", () => {
    const production = {
      NODE_ENV: "production",
      DATABASE_URL: "postgres://x/y",
      REDIS_URL: "redis://x",
      NATS_URL: "nats://x",
      JWT_PUBLIC_JWKS: '{"keys":[]}',
      IDENTITY_GRPC_URL: "identity:50051",
    };
    assert.throws(() => loadNotificationConfig(production), /PUSH_PROVIDER=log[\s\S]*NOTIFY_SMS_PROVIDER=log/);
    assert.throws(
      () =>
        loadNotificationConfig({
          ...production,
          PUSH_PROVIDER: "fcm",
          FIREBASE_PROJECT_ID: "p",
          NOTIFY_SMS_PROVIDER: "msg91",
          MSG91_AUTH_KEY: "k",
          MSG91_NOTIFY_TEMPLATE_ID: "t",
          FCM_EMULATOR_HOST: "127.0.0.1:1",
        }),
      /FCM_EMULATOR_HOST/,
    );
    assert.throws(
      () => loadNotificationConfig({ PUSH_PROVIDER: "fcm" }),
      /FIREBASE_PROJECT_ID or FIREBASE_SERVICE_ACCOUNT_JSON/,
    );
    assert.throws(
      () => loadNotificationConfig({ PUSH_PROVIDER: "fcm", FIREBASE_SERVICE_ACCOUNT_JSON: "{not json" }),
      /not valid JSON/,
    );
    assert.throws(
      () => loadNotificationConfig({ NOTIFY_SMS_PROVIDER: "msg91" }),
      /MSG91_AUTH_KEY and MSG91_NOTIFY_TEMPLATE_ID/,
    );
    const config = loadNotificationConfig({
      ...production,
      PUSH_PROVIDER: "fcm",
      FIREBASE_PROJECT_ID: "p",
      NOTIFY_SMS_PROVIDER: "msg91",
      MSG91_AUTH_KEY: "k",
      MSG91_NOTIFY_TEMPLATE_ID: "t",
    });
    assert.equal(config.NOTIFY_MAX_DELIVER, 8);
  });

  it("says at start that pushes only go to the log without Firebase credentials", async () => {
    const isolated = await isolatedTestEnvironment();
    const { logger, lines } = capturingLogger();
    const config = loadNotificationConfig({
      ...isolated.env,
      NOTIFY_DLQ_STREAM: `T_NOTIFY_DLQ_${isolated.suffix}`,
      NOTIFY_SUBJECT_ROOT: `t_${isolated.suffix}_notification`,
    });
    const platform = await createPlatform(config, { name: "notification-test", logger });
    try {
      await startNotification(platform, config);
      assert.ok(
        lines.some((l) => /^push provider: log \(no Firebase credentials/.test(l.msg)),
        "the log sender announces itself",
      );
    } finally {
      await platform.bus.deleteStream(config.NOTIFY_DLQ_STREAM).catch(() => false);
      await platform.shutdown();
      await isolated.cleanup(["notification"]);
    }
  });
});

describe("notification through firebase-admin to a stand-in FCM endpoint", () => {
  let fcm: Server;
  let t: TestNotification;
  const received: { token: string; title: string }[] = [];

  before(async () => {
    fcm = createServer(async (req, res) => {
      const chunks: Buffer[] = [];
      for await (const chunk of req) chunks.push(chunk as Buffer);
      const message = JSON.parse(Buffer.concat(chunks).toString()).message;
      received.push({ token: message.token, title: message.notification.title });
      if (String(message.token).startsWith("gone-")) {
        return res.writeHead(404, { "content-type": "application/json" }).end(
          JSON.stringify({
            error: {
              code: 404,
              message: "Requested entity was not found.",
              status: "NOT_FOUND",
              details: [{ "@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError", errorCode: "UNREGISTERED" }],
            },
          }),
        );
      }
      res
        .writeHead(200, { "content-type": "application/json" })
        .end(JSON.stringify({ name: `projects/weelo-test/messages/${received.length}` }));
    });
    await new Promise<void>((resolve) => fcm.listen(0, "127.0.0.1", resolve));
    const host = `127.0.0.1:${(fcm.address() as AddressInfo).port}`;
    t = await startTestNotification({
      env: { PUSH_PROVIDER: "fcm", FIREBASE_PROJECT_ID: "weelo-test", FCM_EMULATOR_HOST: host },
      configuredPush: true,
    });
  });
  after(async () => {
    await t?.stop();
    await new Promise<void>((resolve) => fcm.close(() => resolve()));
  });

  it("pushes to every device and removes the token FCM reports unregistered", async () => {
    const customer = await t.user("customer", { tokens: ["ok-1", "gone-1"] });
    const payload = BookingStatusChanged.encode(
      BookingStatusChanged.fromPartial({
        bookingId: uuidv7(),
        to: BookingStatus.BOOKING_STATUS_CONFIRMED,
        customerId: customer.id,
      }),
    ).finish();
    await t.publish("booking", "booking.status_changed", {
      typeName: "weelo.booking.v1.BookingStatusChanged",
      bytes: payload,
    });
    await until("both devices tried", () => received.filter((r) => customer.tokens.includes(r.token)).length === 2);
    assert.ok(received.every((r) => r.title === "Booking confirmed"));
    await until(
      "the dead token removed",
      async () => (await t.contacts.getContact({ userId: customer.id })).pushTokens.length === 1,
    );
    assert.deepEqual((await t.contacts.getContact({ userId: customer.id })).pushTokens, [customer.tokens[0]]);
    assert.equal(t.sms.sent.length, 0, "not critical, and one device got it");
  });
});
