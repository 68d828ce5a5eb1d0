/**
 * Internal clients spread calls over every address their target resolves to (round robin),
 * as they must over a Kubernetes headless Service (`dns:///booking-grpc:50052`): two real
 * servers behind one multi-address target both serve calls from one mesh client (mutual TLS).
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { RevocationList, TokenVerifier, generateKeyPair, type KeyMaterial } from "@weelo/auth";
import { AuthServiceService } from "@weelo/contracts/grpc/weelo/identity/v1/auth_service";
import { Metrics } from "@weelo/metrics";
import { capturingLogger } from "@weelo/testing";
import * as jose from "jose";
import { createMeshClient, EPHEMERAL_LOOPBACK, GrpcServer, Mesh, type ServiceHandlers } from "./index.js";

describe("client load balancing", () => {
  const servers: GrpcServer[] = [];
  const ports: number[] = [];
  let mesh: Mesh;

  before(async () => {
    const pair = await generateKeyPair();
    const keys: KeyMaterial = {
      keyId: pair.keyId,
      privateKey: await jose.importPKCS8(pair.privateKeyPem, "EdDSA"),
      jwks: { keys: [pair.publicJwk] },
    };
    const values = new Map<string, string>();
    const verifier = new TokenVerifier(
      keys,
      new RevocationList({ get: async (k) => values.get(k), set: async (k, v) => void values.set(k, v) }, 60_000),
    );
    mesh = await Mesh.create(
      { MESH_TRUST_DOMAIN: "weelo", MESH_CERT_REFRESH_MS: 60_000, DATA_DIR: "" },
      { allowDevelopmentCa: false, inMemoryCa: true },
    );
    for (const name of ["replica-a", "replica-b"]) {
      const server = new GrpcServer({
        logger: capturingLogger(name).logger,
        metrics: new Metrics({ defaultMetrics: false }),
        verifier,
        mesh,
      });
      const handlers: ServiceHandlers<typeof AuthServiceService> = {
        sendOtp: async () => ({ expiresAt: new Date(0), resendAfterSeconds: 0, devOtp: name }),
        verifyOtp: async () => ({ tokens: undefined, user: undefined, isNewUser: false }),
        refreshToken: async () => ({ tokens: undefined }),
        logout: async () => ({}),
      };
      server.addService(AuthServiceService, handlers, { publicMethods: ["SendOtp"] });
      ports.push((await server.listen(EPHEMERAL_LOOPBACK)).meshPort);
      servers.push(server);
    }
  });
  after(async () => {
    await Promise.all(servers.map((s) => s.shutdown(1000)));
  });

  it("spreads one client's calls over every replica of its target", async () => {
    const client = createMeshClient(AuthServiceService, `ipv4:127.0.0.1:${ports[0]},127.0.0.1:${ports[1]}`, {
      deadlineMs: 5000,
      mesh,
      caller: "gateway",
    });
    try {
      const answered = new Map<string, number>();
      for (let i = 0; i < 20; i++) {
        const { devOtp } = await client.sendOtp({ phone: "9876543210", role: 0 } as never);
        answered.set(devOtp, (answered.get(devOtp) ?? 0) + 1);
      }
      assert.deepEqual([...answered.keys()].sort(), ["replica-a", "replica-b"], JSON.stringify([...answered]));
      for (const count of answered.values())
        assert.ok(count >= 5, `calls are spread, not pinned: ${JSON.stringify([...answered])}`);
    } finally {
      client.close();
    }
  });
});
