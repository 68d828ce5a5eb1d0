/**
 * The gRPC server and client every service uses, against a real server on port 0: the
 * interceptor chain (request id, principal, deadline, errors with details), health,
 * reflection, and clients that forward request id, authorization and the remaining deadline.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import * as grpc from "@grpc/grpc-js";
import { RevocationList, TokenIssuer, TokenVerifier, generateKeyPair, type KeyMaterial } from "@weelo/auth";
import { Role } from "@weelo/contracts/grpc/weelo/common/v1/common";
import { AuthServiceService } from "@weelo/contracts/grpc/weelo/identity/v1/auth_service";
import { ProfileServiceService } from "@weelo/contracts/grpc/weelo/identity/v1/profile_service";
import { DomainError, GrpcCode, InvalidArgumentError } from "@weelo/errors";
import { currentContext, runWithContext } from "@weelo/log";
import { Metrics } from "@weelo/metrics";
import { capturingLogger } from "@weelo/testing";
import * as jose from "jose";
import {
  createClient,
  EPHEMERAL_LOOPBACK,
  GrpcServer,
  Mesh,
  requirePrincipal,
  type CallContext,
  type ServiceHandlers,
} from "./index.js";

const memoryStore = () => {
  const values = new Map<string, string>();
  return {
    get: async (key: string) => values.get(key),
    set: async (key: string, value: string) => void values.set(key, value),
  };
};

describe("GrpcServer and createClient", () => {
  let server: GrpcServer;
  let address: string;
  let issuer: TokenIssuer;
  let revocations: RevocationList;
  const seen: { ctx?: CallContext; context?: ReturnType<typeof currentContext> } = {};
  const metrics = new Metrics({ defaultMetrics: false });
  const { logger, lines } = capturingLogger("grpc-test");

  before(async () => {
    const pair = await generateKeyPair();
    const keys: KeyMaterial = {
      keyId: pair.keyId,
      privateKey: await jose.importPKCS8(pair.privateKeyPem, "EdDSA"),
      jwks: { keys: [pair.publicJwk] },
    };
    revocations = new RevocationList(memoryStore(), 60_000);
    issuer = new TokenIssuer(keys);
    const mesh = await Mesh.create(
      { MESH_TRUST_DOMAIN: "weelo", MESH_CERT_REFRESH_MS: 60_000, DATA_DIR: "" },
      { allowDevelopmentCa: false, inMemoryCa: true },
    );
    server = new GrpcServer({ logger, metrics, verifier: new TokenVerifier(keys, revocations), mesh });
    const auth: ServiceHandlers<typeof AuthServiceService> = {
      async sendOtp(request, ctx) {
        seen.ctx = ctx;
        seen.context = currentContext();
        if (request.phone === "bad")
          throw new InvalidArgumentError("phone", "phone is bad", { reason: "PHONE_INVALID" });
        if (request.phone === "crash") throw new Error("relation users does not exist");
        if (request.phone === "slow") await new Promise((resolve) => setTimeout(resolve, 300));
        return { expiresAt: new Date(0), resendAfterSeconds: 30, devOtp: ctx.requestId };
      },
      verifyOtp: async () => ({ tokens: undefined, user: undefined, isNewUser: false }),
      refreshToken: async () => ({ tokens: undefined }),
      logout: async () => ({}),
    };
    const profile: ServiceHandlers<typeof ProfileServiceService> = {
      async getMe(_request, ctx) {
        const principal = requirePrincipal(ctx, "transporter");
        return {
          user: {
            id: principal.userId,
            phone: "",
            role: Role.ROLE_TRANSPORTER,
            name: "",
            email: "",
            companyName: "",
            gstin: "",
            language: 0,
            transporterId: "",
          },
        };
      },
      updateProfile: async () => ({ user: undefined }),
      registerDevice: async () => ({ device: undefined }),
      unregisterDevice: async () => ({ removed: false }),
    };
    server
      .addService(AuthServiceService, auth, { publicMethods: ["SendOtp"] })
      .addService(ProfileServiceService, profile);
    address = `127.0.0.1:${(await server.listen(EPHEMERAL_LOOPBACK)).publicPort}`;
  });
  after(async () => {
    await server.shutdown(1000);
  });

  it("forwards the caller's request id and authorization, and inherits its deadline", async () => {
    const client = createClient(AuthServiceService, address, { deadlineMs: 5000 });
    try {
      const deadline = Date.now() + 1500;
      const response = await runWithContext({ requestId: "req-from-caller", authorization: "Bearer x", deadline }, () =>
        client.sendOtp({ phone: "ok", role: Role.ROLE_CUSTOMER }),
      );
      assert.equal(response.devOtp, "req-from-caller");
      assert.equal(seen.context?.requestId, "req-from-caller", "the handler runs in the caller's request context");
      assert.equal(seen.ctx?.metadata.get("authorization")[0], "Bearer x");
      assert.ok(
        seen.ctx?.deadline !== undefined && Math.abs(seen.ctx.deadline - deadline) < 100,
        "the remaining time travels, not the default",
      );
    } finally {
      client.close();
    }
  });

  it("turns a DomainError into a status with details and back, and hides other errors", async () => {
    const client = createClient(AuthServiceService, address, { deadlineMs: 5000 });
    try {
      await assert.rejects(client.sendOtp({ phone: "bad", role: Role.ROLE_CUSTOMER }), (error: unknown) => {
        assert.ok(error instanceof DomainError);
        assert.equal(error.code, GrpcCode.INVALID_ARGUMENT);
        assert.equal(error.reason, "PHONE_INVALID");
        assert.equal(error.field, "phone");
        return true;
      });
      await assert.rejects(client.sendOtp({ phone: "crash", role: Role.ROLE_CUSTOMER }), (error: unknown) => {
        assert.ok(error instanceof DomainError);
        assert.equal(error.code, GrpcCode.INTERNAL);
        assert.equal(error.message, "internal error", "no SQL leaves the server");
        return true;
      });
      assert.ok(
        lines.some((l) => l.level === "error" && JSON.stringify(l).includes("relation users does not exist")),
        "but the cause is logged",
      );
    } finally {
      client.close();
    }
  });

  it("refuses calls past their deadline with DEADLINE_EXCEEDED", async () => {
    const client = createClient(AuthServiceService, address, { deadlineMs: 100 });
    try {
      await assert.rejects(
        client.sendOtp({ phone: "slow", role: Role.ROLE_CUSTOMER }),
        (error: unknown) => error instanceof DomainError && error.code === GrpcCode.DEADLINE_EXCEEDED,
      );
    } finally {
      client.close();
    }
  });

  it("requires a valid, unrevoked token for non-public methods and checks the role", async () => {
    const client = createClient(ProfileServiceService, address, { deadlineMs: 5000 });
    try {
      await assert.rejects(
        client.getMe({}),
        (error: unknown) => error instanceof DomainError && error.code === GrpcCode.UNAUTHENTICATED,
      );
      const customer = await issuer.issueAccessToken({ userId: "u-1", role: "customer", sessionId: "s-1" });
      await assert.rejects(
        client.getMe({}, { metadata: { authorization: `Bearer ${customer.token}` } }),
        (error: unknown) => error instanceof DomainError && error.code === GrpcCode.PERMISSION_DENIED,
      );
      const transporter = await issuer.issueAccessToken({ userId: "u-2", role: "transporter", sessionId: "s-2" });
      const me = await client.getMe({}, { metadata: { authorization: `Bearer ${transporter.token}` } });
      assert.equal(me.user?.id, "u-2");
      await revocations.revoke("s-2");
      await assert.rejects(
        client.getMe({}, { metadata: { authorization: `Bearer ${transporter.token}` } }),
        (error: unknown) => error instanceof DomainError && error.reason === "SESSION_REVOKED",
      );
    } finally {
      client.close();
    }
  });

  it("records call durations by service, method and code", async () => {
    const text = await metrics.registry.getSingleMetricAsString("weelo_rpc_server_duration_seconds");
    assert.match(text, /method="SendOtp",code="OK"/);
    assert.match(text, /method="SendOtp",code="INVALID_ARGUMENT"/);
    assert.match(text, /method="GetMe",code="UNAUTHENTICATED"/);
  });

  it("answers grpc.health.v1 per service and flips with setServing", async () => {
    const check = (service: string) =>
      new Promise<number>((resolve, reject) => {
        const client = new grpc.Client(address, grpc.credentials.createInsecure());
        client.makeUnaryRequest(
          "/grpc.health.v1.Health/Check",
          (name: string) => Buffer.concat([Buffer.from([10, Buffer.byteLength(name)]), Buffer.from(name)]),
          (bytes: Buffer) => (bytes.length >= 2 ? bytes[1]! : 0),
          service,
          new grpc.Metadata(),
          (error, status) => {
            client.close();
            if (error) reject(error);
            else resolve(status!);
          },
        );
      });
    assert.equal(await check(""), 1);
    assert.equal(await check("weelo.identity.v1.AuthService"), 1);
    server.setServing(false);
    assert.equal(await check("weelo.identity.v1.AuthService"), 2);
    server.setServing(true);
  });

  it("lists its services through server reflection", async () => {
    const client = new grpc.Client(address, grpc.credentials.createInsecure());
    const call = client.makeBidiStreamRequest(
      "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
      // ServerReflectionRequest { list_services = 7: "*" }
      (value: string) => Buffer.concat([Buffer.from([58, value.length]), Buffer.from(value)]),
      (bytes: Buffer) => bytes.toString("latin1"),
      new grpc.Metadata(),
    );
    const answer = await new Promise<string>((resolve, reject) => {
      call.on("data", (text: string) => resolve(text));
      call.on("error", reject);
      call.write("*");
    });
    call.cancel();
    client.close();
    assert.match(answer, /weelo\.identity\.v1\.AuthService/);
    assert.match(answer, /weelo\.identity\.v1\.ProfileService/);
  });

  it("answers a request it cannot decode with INVALID_ARGUMENT, not INTERNAL", async () => {
    const raw = new grpc.Client(address, grpc.credentials.createInsecure());
    try {
      // Field 1 with wire type 7: no protobuf decoder accepts it (grpc-js alone answers INTERNAL).
      const garbage = Buffer.from([0x0f, 0xff, 0xff, 0x01]);
      const error = await new Promise<grpc.ServiceError>((resolve, reject) =>
        raw.makeUnaryRequest(
          "/weelo.identity.v1.AuthService/SendOtp",
          (bytes: Buffer) => bytes,
          (bytes: Buffer) => bytes,
          garbage,
          (err) => (err ? resolve(err) : reject(new Error("decoded garbage"))),
        ),
      );
      assert.equal(error.code, GrpcCode.INVALID_ARGUMENT);
      assert.match(error.details, /not a valid SendOtp message/);
    } finally {
      raw.close();
    }
  });
});
