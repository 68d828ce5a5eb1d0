/**
 * The platform's mesh clients and listening: a client is never made for port 0 (an address read
 * from this process's own mesh port before it listens), and `grpc.listening` resolves with the
 * bound ports once the process listens.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { loadConfig, baseConfigSchema } from "@weelo/config";
import { PricingServiceService } from "@weelo/contracts/grpc/weelo/pricing/v1/pricing_service";
import { DomainError, GrpcCode } from "@weelo/errors";
import { isolatedTestEnvironment } from "@weelo/testing";
import { createPlatform, type Platform } from "./platform.js";

describe("platform before and after it listens", () => {
  let platform: Platform;
  let cleanup: () => Promise<void>;
  before(async () => {
    const isolated = await isolatedTestEnvironment();
    cleanup = () => isolated.cleanup([]);
    platform = await createPlatform(loadConfig(baseConfigSchema, isolated.env), { name: "platform-test" });
  });
  after(async () => {
    await platform?.shutdown();
    // The development mesh may still be writing a certificate it made for the client: try once more.
    await cleanup?.().catch(async () => {
      await new Promise((resolve) => setTimeout(resolve, 200));
      await cleanup();
    });
  });

  it("refuses a mesh client for port 0 with UNAVAILABLE, and tells when it listens", async () => {
    assert.throws(
      () => platform.meshClient(PricingServiceService, "127.0.0.1:0", "booking"),
      (error: unknown) => error instanceof DomainError && error.code === GrpcCode.UNAVAILABLE,
    );
    let listened: { meshPort: number } | undefined;
    void platform.grpc.listening.then((ports) => (listened = ports));
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(listened, undefined, "not before listen");
    const ports = await platform.listen({ publicHost: "127.0.0.1", publicPort: 0, meshHost: "127.0.0.1", meshPort: 0 });
    assert.deepEqual(await platform.grpc.listening, ports);
    assert.ok(ports.meshPort > 0);
    const client = platform.meshClient(PricingServiceService, `127.0.0.1:${ports.meshPort}`, "booking");
    client.close();
  });
});
