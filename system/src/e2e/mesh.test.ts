/**
 * The zero-trust mesh of the running system, probed as an attacker would: every internal RPC
 * (every method of every service whose proto names its callers) is called with a raw grpc-js
 * client and with `buf curl` — over the public listener, in plaintext on the mesh port, with no
 * client certificate, with a certificate from a CA of the caller's own making, with a mesh
 * certificate that names no service, and with the certificate of a service the contract does not
 * list. All are refused; only the declared caller gets through. Identity headers count only
 * from the gateway.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import * as grpc from "@grpc/grpc-js";
import { AuthServiceService } from "@weelo/contracts/grpc/weelo/identity/v1/auth_service";
import { Role } from "@weelo/contracts/grpc/weelo/common/v1/common";
import { GrpcCode } from "@weelo/errors";
import { contractRegistry, createMeshCa, declaredAccess, issueServiceCertificate, type KeyPairPem } from "@weelo/grpc";
import { startTestSystem, uniquePhone, type TestSystem } from "./test-support.js";

const root = new URL("../../..", import.meta.url).pathname;
const buf = join(root, "node_modules/.bin/buf");

/** Every method of every internal service in the contracts, with the callers its proto names. */
function internalMethods(): { path: string; service: string; method: string; callers: readonly string[] }[] {
  const found: { path: string; service: string; method: string; callers: readonly string[] }[] = [];
  for (const file of contractRegistry().files) {
    for (const service of file.services) {
      const access = declaredAccess(service.typeName);
      if (!access.internal) continue;
      for (const method of service.methods) {
        found.push({
          path: `/${service.typeName}/${method.name}`,
          service: service.typeName,
          method: method.name,
          callers: access.callersOf(method.name)!,
        });
      }
    }
  }
  return found;
}

const SERVICES = ["gateway", "identity", "fleet", "pricing", "booking", "tracking", "notification", "dispatch", "ops"];

/** Calls a method with an empty request (valid protobuf: every field at its default) and returns the status code. */
function rawCall(address: string, credentials: grpc.ChannelCredentials, path: string): Promise<grpc.status> {
  const client = new grpc.Client(address, credentials, { "grpc.ssl_target_name_override": "weelo-mesh" });
  return new Promise((resolve) => {
    client.makeUnaryRequest(
      path,
      (value: Buffer) => value,
      (value: Buffer) => value,
      Buffer.alloc(0),
      new grpc.Metadata(),
      { deadline: Date.now() + 5000 },
      (error) => {
        client.close();
        resolve(error ? error.code : grpc.status.OK);
      },
    );
  });
}

const anyServer = { checkServerIdentity: () => undefined };
const tls = (caPem: string, pair?: KeyPairPem) =>
  pair
    ? grpc.credentials.createSsl(
        Buffer.from(caPem),
        Buffer.from(pair.privateKeyPem),
        Buffer.from(pair.certificatePem),
        anyServer,
      )
    : grpc.credentials.createSsl(Buffer.from(caPem), null, null, anyServer);

describe("the zero-trust mesh of the running system", () => {
  let system: TestSystem;
  let mesh: string;
  let caPem: string;
  let dir: string;
  const methods = internalMethods();

  before(async () => {
    system = await startTestSystem({ OTP_PER_IP_PER_HOUR: "2", OTP_PER_PHONE_PER_HOUR: "100" });
    mesh = `127.0.0.1:${system.meshPort}`;
    caPem = (await system.platform.mesh.issue(["gateway"])).caPem;
    dir = await mkdtemp(join(tmpdir(), "weelo-mesh-test-"));
  });
  after(async () => {
    await system?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it("finds the internal services in the contracts, each method naming its callers", () => {
    const services = new Set(methods.map((m) => m.service));
    for (const name of [
      "weelo.booking.v1.BookingDispatchService",
      "weelo.identity.v1.ContactDirectoryService",
      "weelo.fleet.v1.FleetDirectoryService",
      "weelo.tracking.v1.TrackingInternalService",
      "weelo.pricing.v1.QuoteRedemptionService",
      "weelo.booking.v1.BookingOpsService",
      "weelo.dispatch.v1.DispatchOpsService",
      "weelo.identity.v1.AccountAdminService",
    ]) {
      assert.ok(services.has(name), `${name} is internal`);
    }
    for (const m of methods) assert.ok(m.callers.length > 0, `${m.path} names its callers`);
  });

  it("refuses every internal method to a raw grpc-js client without a mesh identity", async () => {
    const foreignCa = await createMeshCa("Attacker CA");
    for (const m of methods) {
      const forged = await issueServiceCertificate(foreignCa, [`spiffe://weelo/${m.callers[0]}`]);
      assert.equal(
        await rawCall(`127.0.0.1:${system.grpcPort}`, grpc.credentials.createInsecure(), m.path),
        grpc.status.UNIMPLEMENTED,
        `${m.path}: not on the public listener`,
      );
      assert.equal(
        await rawCall(mesh, grpc.credentials.createInsecure(), m.path),
        grpc.status.UNAVAILABLE,
        `${m.path}: plaintext on the mesh port`,
      );
      assert.equal(
        await rawCall(mesh, tls(caPem), m.path),
        grpc.status.UNAVAILABLE,
        `${m.path}: no client certificate`,
      );
      assert.equal(
        await rawCall(mesh, tls(caPem, forged), m.path),
        grpc.status.UNAVAILABLE,
        `${m.path}: a certificate from another CA naming ${m.callers[0]}`,
      );
    }
  });

  it("refuses a mesh certificate naming no service, and every service the contract does not list; lets the declared callers in", async () => {
    const nobody = await system.platform.mesh.issue(["spiffe://elsewhere/dispatch"]);
    const refusedBefore = await refusals(system);
    let refused = 0;
    for (const m of methods) {
      assert.equal(
        await rawCall(mesh, tls(caPem, nobody), m.path),
        grpc.status.UNAUTHENTICATED,
        `${m.path}: no weelo identity`,
      );
      refused++;
      for (const service of SERVICES) {
        const code = await rawCall(mesh, tls(caPem, await system.platform.mesh.issue([service])), m.path);
        if (m.callers.includes(service)) {
          assert.ok(
            ![
              grpc.status.UNAUTHENTICATED,
              grpc.status.PERMISSION_DENIED,
              grpc.status.UNAVAILABLE,
              grpc.status.UNIMPLEMENTED,
            ].includes(code),
            `${m.path} as ${service} reaches the handler (got ${grpc.status[code]})`,
          );
        } else {
          assert.equal(code, grpc.status.PERMISSION_DENIED, `${m.path} as ${service}`);
          refused++;
        }
      }
    }
    assert.equal((await refusals(system)) - refusedBefore, refused, "every refusal is counted");
  });

  it("refuses buf curl without a certificate, with a self-made one, and with another service's", async () => {
    const foreign = await issueServiceCertificate(await createMeshCa("Attacker CA"), ["spiffe://weelo/dispatch"]);
    const gateway = await system.platform.mesh.issue(["gateway"]);
    const files = async (name: string, pair: KeyPairPem) => {
      await writeFile(join(dir, `${name}.crt`), pair.certificatePem);
      await writeFile(join(dir, `${name}.key`), pair.privateKeyPem);
      return ["--cert", join(dir, `${name}.crt`), "--key", join(dir, `${name}.key`)];
    };
    const asForeign = await files("foreign", foreign);
    const asGateway = await files("gateway", gateway);
    // The schema built once, so each call does not compile the protos again.
    const image = join(dir, "weelo.binpb");
    await promisify(execFile)(buf, ["build", join(root, "proto"), "-o", image]);
    for (const m of methods) {
      // Asynchronously: the system under test answers from this very process.
      const curl = async (extra: string[]) => {
        const run = await promisify(execFile)(
          buf,
          ["curl", "--protocol", "grpc", "--schema", image, "-k", ...extra, "-d", "{}", `https://${mesh}${m.path}`],
          { timeout: 20_000 },
        ).catch((error: { stdout?: string; stderr?: string }) => error);
        return `${run.stdout ?? ""}${run.stderr ?? ""}`;
      };
      // The handshake refuses the connection: buf curl sees it as unavailable, or as a write on a connection already torn down.
      const [none, self, other] = await Promise.all([curl([]), curl(asForeign), curl(asGateway)]);
      assert.match(none, /"code": "(unavailable|canceled)"/, `${m.path}: buf curl without a certificate`);
      assert.match(self, /"code": "(unavailable|canceled)"/, `${m.path}: buf curl with a certificate from another CA`);
      assert.match(other, /"code": "permission_denied"/, `${m.path}: buf curl as the gateway`);
    }
  });

  it("takes the client address from x-forwarded-for only when the gateway sends it", async () => {
    const sendOtp = (client: grpc.Client, forwardedFor: string) =>
      new Promise<grpc.status>((resolve) => {
        const metadata = new grpc.Metadata();
        metadata.set("x-forwarded-for", forwardedFor);
        const method = AuthServiceService.sendOtp;
        client.makeUnaryRequest(
          method.path,
          method.requestSerialize,
          method.responseDeserialize,
          { phone: uniquePhone(), role: Role.ROLE_CUSTOMER },
          metadata,
          { deadline: Date.now() + 5000 },
          (error) => resolve(error ? error.code : grpc.status.OK),
        );
      });
    // OTP_PER_IP_PER_HOUR is 2. A public-listener caller naming a new address each time is still one address.
    const publicClient = new grpc.Client(`127.0.0.1:${system.grpcPort}`, grpc.credentials.createInsecure());
    const asDispatch = new grpc.Client(mesh, tls(caPem, await system.platform.mesh.issue(["dispatch"])), {
      "grpc.ssl_target_name_override": "weelo-mesh",
    });
    const asGateway = new grpc.Client(mesh, tls(caPem, await system.platform.mesh.issue(["gateway"])), {
      "grpc.ssl_target_name_override": "weelo-mesh",
    });
    try {
      assert.equal(await sendOtp(publicClient, "198.51.100.1"), grpc.status.OK);
      assert.equal(await sendOtp(publicClient, "198.51.100.2"), grpc.status.OK);
      assert.equal(
        await sendOtp(publicClient, "198.51.100.3"),
        grpc.status.RESOURCE_EXHAUSTED,
        "a client's own x-forwarded-for is ignored",
      );
      assert.equal(
        await sendOtp(asDispatch, "198.51.100.4"),
        grpc.status.RESOURCE_EXHAUSTED,
        "so is another service's",
      );
      assert.equal(await sendOtp(asGateway, "203.0.113.7"), grpc.status.OK, "the gateway's is the app's address");
      assert.equal(await sendOtp(asGateway, "203.0.113.7"), grpc.status.OK);
      assert.equal(
        await sendOtp(asGateway, "203.0.113.7"),
        grpc.status.RESOURCE_EXHAUSTED,
        "and counts against that address",
      );
      assert.equal(GrpcCode.RESOURCE_EXHAUSTED, grpc.status.RESOURCE_EXHAUSTED);
    } finally {
      for (const client of [publicClient, asDispatch, asGateway]) client.close();
    }
  });
});

async function refusals(system: TestSystem): Promise<number> {
  const text = await (await fetch(`${system.adminUrl}/metrics`)).text();
  return text
    .split("\n")
    .filter((line) => line.startsWith("weelo_mesh_refused_total{"))
    .reduce((sum, line) => sum + Number(line.split(" ").pop()), 0);
}
