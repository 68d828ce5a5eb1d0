/**
 * Mesh certificates read from files, as production holds them (cert-manager writes them into a
 * mounted Secret): a renewed certificate takes effect on new connections without a restart; a
 * certificate naming another identity than MESH_IDENTITY, or none, stops the start; a client
 * refuses a server that is not the service it meant to reach.
 */
import assert from "node:assert/strict";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { connect, TLSSocket } from "node:tls";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { X509Certificate } from "node:crypto";
import * as grpc from "@grpc/grpc-js";
import { RevocationList, TokenVerifier, generateKeyPair, type KeyMaterial } from "@weelo/auth";
import { BookingDispatchServiceService } from "@weelo/contracts/grpc/weelo/booking/v1/booking_dispatch_service";
import { GrpcCode, NotFoundError } from "@weelo/errors";
import { Metrics } from "@weelo/metrics";
import { capturingLogger, failure, until } from "@weelo/testing";
import * as jose from "jose";
import {
  createMeshCa,
  createMeshClient,
  EPHEMERAL_LOOPBACK,
  GrpcServer,
  issueServiceCertificate,
  Mesh,
  type MeshCa,
  type ServiceHandlers,
} from "./index.js";

const notFound = async () => {
  throw new NotFoundError("no such booking", { reason: "BOOKING_NOT_FOUND" });
};
const handlers: ServiceHandlers<typeof BookingDispatchServiceService> = {
  confirmBooking: notFound,
  assignBooking: notFound,
  reopenBooking: notFound,
  expireBooking: notFound,
  reassignBooking: notFound,
};

describe("mesh certificates from files", () => {
  let dir: string;
  let ca: MeshCa;
  let keys: KeyMaterial;
  const settings = (name: string, extra: Record<string, string> = {}) => ({
    MESH_TRUST_DOMAIN: "weelo",
    MESH_CERT_FILE: join(dir, `${name}.crt`),
    MESH_KEY_FILE: join(dir, `${name}.key`),
    MESH_CA_FILE: join(dir, "ca.crt"),
    MESH_CERT_REFRESH_MS: 1000,
    DATA_DIR: dir,
    ...extra,
  });
  const writeIdentity = async (name: string, ids: string[]) => {
    const pair = await issueServiceCertificate(ca, ids);
    await writeFile(join(dir, `${name}.key`), pair.privateKeyPem);
    await writeFile(join(dir, `${name}.crt`), pair.certificatePem);
    return new X509Certificate(pair.certificatePem).serialNumber;
  };

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "weelo-mesh-files-"));
    ca = await createMeshCa("Test mesh CA");
    await writeFile(join(dir, "ca.crt"), ca.certificatePem);
    const pair = await generateKeyPair();
    keys = {
      keyId: pair.keyId,
      privateKey: await jose.importPKCS8(pair.privateKeyPem, "EdDSA"),
      jwks: { keys: [pair.publicJwk] },
    };
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("serves a renewed certificate on new connections without a restart", async () => {
    const first = await writeIdentity("booking", ["spiffe://weelo/booking"]);
    await writeIdentity("dispatch", ["spiffe://weelo/dispatch"]);
    const serverMesh = await Mesh.create(settings("booking", { MESH_IDENTITY: "booking" }), {
      allowDevelopmentCa: false,
    });
    const clientMesh = await Mesh.create(settings("dispatch"), { allowDevelopmentCa: false });
    assert.equal(serverMesh.source, "files");
    const values = new Map<string, string>();
    const verifier = new TokenVerifier(
      keys,
      new RevocationList({ get: async (k) => values.get(k), set: async (k, v) => void values.set(k, v) }, 60_000),
    );
    const server = new GrpcServer({
      logger: capturingLogger("booking").logger,
      metrics: new Metrics({ defaultMetrics: false }),
      verifier,
      mesh: serverMesh,
    });
    server.addService(BookingDispatchServiceService, handlers);
    const { meshPort } = await server.listen(EPHEMERAL_LOOPBACK);
    const dispatchPem = {
      cert: await readFile(join(dir, "dispatch.crt")),
      key: await readFile(join(dir, "dispatch.key")),
    };
    // What the server presents to a new connection, read with a plain TLS client holding dispatch's certificate.
    const presented = () =>
      new Promise<string>((resolve, reject) => {
        const socket = connect(
          {
            host: "127.0.0.1",
            port: meshPort,
            ca: ca.certificatePem,
            ...dispatchPem,
            ALPNProtocols: ["h2"],
            servername: "weelo-mesh",
            checkServerIdentity: () => undefined,
          },
          () => {
            resolve(socket.getPeerCertificate().serialNumber);
            socket.destroy();
          },
        );
        socket.on("error", reject);
      });
    const client = createMeshClient(BookingDispatchServiceService, `127.0.0.1:${meshPort}`, {
      deadlineMs: 5000,
      mesh: clientMesh,
      caller: "dispatch",
    });
    try {
      assert.equal(
        (await failure(client.expireBooking({ bookingId: "b" }))).code,
        GrpcCode.NOT_FOUND,
        "the declared caller reaches the handler",
      );
      assert.equal((await presented()).toUpperCase(), first.toUpperCase());

      const renewed = await writeIdentity("booking", ["spiffe://weelo/booking"]);
      assert.notEqual(renewed, first);
      await until(
        "the renewed certificate is presented",
        async () => (await presented()).toUpperCase() === renewed.toUpperCase(),
        5000,
        200,
      );
      assert.equal(
        (await failure(client.expireBooking({ bookingId: "b" }))).code,
        GrpcCode.NOT_FOUND,
        "calls go on across the renewal",
      );
    } finally {
      client.close();
      await server.shutdown(1000);
    }
  });

  it("reads a connection's peer certificate once, and each new connection's anew", async () => {
    await writeIdentity("booking", ["spiffe://weelo/booking"]);
    await writeIdentity("dispatch", ["spiffe://weelo/dispatch"]);
    await writeIdentity("pricing", ["spiffe://weelo/pricing"]);
    const serverMesh = await Mesh.create(settings("booking", { MESH_IDENTITY: "booking" }), {
      allowDevelopmentCa: false,
    });
    const values = new Map<string, string>();
    const verifier = new TokenVerifier(
      keys,
      new RevocationList({ get: async (k) => values.get(k), set: async (k, v) => void values.set(k, v) }, 60_000),
    );
    const server = new GrpcServer({
      logger: capturingLogger("booking").logger,
      metrics: new Metrics({ defaultMetrics: false }),
      verifier,
      mesh: serverMesh,
    });
    server.addService(BookingDispatchServiceService, handlers);
    const { meshPort } = await server.listen(EPHEMERAL_LOOPBACK);
    const clientOf = async (name: string) =>
      createMeshClient(BookingDispatchServiceService, `127.0.0.1:${meshPort}`, {
        deadlineMs: 5000,
        mesh: await Mesh.create(settings(name), { allowDevelopmentCa: false }),
        caller: name,
      });
    const dispatch = await clientOf("dispatch");
    const pricing = await clientOf("pricing");
    const original = TLSSocket.prototype.getPeerCertificate;
    let reads = 0;
    TLSSocket.prototype.getPeerCertificate = function (this: TLSSocket, ...args: [detailed?: boolean]) {
      reads++;
      return original.apply(this, args as [true]);
    } as typeof original;
    try {
      // The first call opens the connection (its handshake and first call may read the certificate).
      assert.equal((await failure(dispatch.expireBooking({ bookingId: "b" }))).code, GrpcCode.NOT_FOUND);
      const before = reads;
      for (let i = 0; i < 5; i++)
        assert.equal(
          (await failure(dispatch.expireBooking({ bookingId: "b" }))).code,
          GrpcCode.NOT_FOUND,
          "the declared caller is still known on its connection",
        );
      assert.equal(reads - before, 0, "no call on an open connection reads its certificate again");
      // Another connection is another peer: pricing is not a declared caller of booking's dispatch service.
      assert.equal(
        (await failure(pricing.expireBooking({ bookingId: "b" }))).code,
        GrpcCode.PERMISSION_DENIED,
        "a new connection's certificate is read for it, not taken from another connection",
      );
      assert.equal((await failure(dispatch.expireBooking({ bookingId: "b" }))).code, GrpcCode.NOT_FOUND);
    } finally {
      TLSSocket.prototype.getPeerCertificate = original;
      dispatch.close();
      pricing.close();
      await server.shutdown(1000);
    }
  });

  it("refuses to start on a certificate that names another identity, or none", async () => {
    await writeIdentity("wrong", ["spiffe://weelo/pricing"]);
    await assert.rejects(
      Mesh.create(settings("wrong", { MESH_IDENTITY: "booking" }), { allowDevelopmentCa: false }),
      /names pricing, not MESH_IDENTITY=booking/,
    );
    await writeIdentity("anonymous", ["spiffe://elsewhere/booking"]);
    await assert.rejects(
      Mesh.create(settings("anonymous"), { allowDevelopmentCa: false }),
      /names no spiffe:\/\/weelo\/ identity/,
    );
    await assert.rejects(
      Mesh.create(
        { MESH_TRUST_DOMAIN: "weelo", MESH_CERT_REFRESH_MS: 1000, DATA_DIR: dir },
        { allowDevelopmentCa: false },
      ),
      /must be set in production/,
    );
  });

  it("lets a client reach only the service it means to: a server proving another identity is refused", async () => {
    await writeIdentity("pricing", ["spiffe://weelo/pricing"]);
    await writeIdentity("dispatch", ["spiffe://weelo/dispatch"]);
    const impostor = await Mesh.create(settings("pricing"), { allowDevelopmentCa: false });
    const values = new Map<string, string>();
    const verifier = new TokenVerifier(
      keys,
      new RevocationList({ get: async (k) => values.get(k), set: async (k, v) => void values.set(k, v) }, 60_000),
    );
    // A process holding pricing's certificate cannot even serve booking's contract...
    const server = new GrpcServer({
      logger: capturingLogger("impostor").logger,
      metrics: new Metrics({ defaultMetrics: false }),
      verifier,
      mesh: impostor,
    });
    server.addService(BookingDispatchServiceService, handlers);
    await assert.rejects(server.listen(EPHEMERAL_LOOPBACK), /names pricing but this process serves booking/);
    // ...and a client calling booking refuses a server (a raw grpc-js one) that answers for booking's contract with pricing's certificate.
    const raw = new grpc.Server();
    raw.addService(BookingDispatchServiceService as unknown as grpc.ServiceDefinition, {
      expireBooking: (_call: unknown, callback: grpc.sendUnaryData<unknown>) =>
        callback({ code: grpc.status.NOT_FOUND, details: "impostor" }),
    });
    const pricingPem = {
      cert_chain: await readFile(join(dir, "pricing.crt")),
      private_key: await readFile(join(dir, "pricing.key")),
    };
    const port = await new Promise<number>((resolve, reject) =>
      raw.bindAsync(
        "127.0.0.1:0",
        grpc.ServerCredentials.createSsl(Buffer.from(ca.certificatePem), [pricingPem], true),
        (error, bound) => (error ? reject(error) : resolve(bound)),
      ),
    );
    const clientMesh = await Mesh.create(settings("dispatch"), { allowDevelopmentCa: false });
    const client = createMeshClient(BookingDispatchServiceService, `127.0.0.1:${port}`, {
      deadlineMs: 3000,
      mesh: clientMesh,
      caller: "dispatch",
    });
    try {
      assert.equal(
        (await failure(client.expireBooking({ bookingId: "b" }))).code,
        GrpcCode.UNAVAILABLE,
        "the impostor's answer never arrives",
      );
    } finally {
      client.close();
      raw.forceShutdown();
    }
  });
});
