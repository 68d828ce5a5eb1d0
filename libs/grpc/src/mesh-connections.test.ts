/**
 * Mutual TLS is paid per connection, not per call: a mesh client keeps one connection per
 * channel, so however many calls it makes (a burst before the connection exists included), the
 * server completes one TLS handshake. Handshakes are counted on the server's `secureConnection`
 * event (grpc-js builds its TLS listener with `http2.createSecureServer`, wrapped here for the
 * test's duration).
 */
import assert from "node:assert/strict";
import http2 from "node:http2";
import { after, before, describe, it } from "node:test";
import type { TLSSocket } from "node:tls";
import * as grpc from "@grpc/grpc-js";
import { createMeshClient, Mesh, type ServiceDefinition } from "./index.js";

const utf8 = {
  serialize: (value: string) => Buffer.from(value, "utf8"),
  deserialize: (bytes: Buffer) => bytes.toString("utf8"),
};
/** A one-method service whose package names the identity "echo" (weelo.echo.v1). */
const EchoDefinition = {
  echo: {
    path: "/weelo.echo.v1.EchoService/Echo",
    requestStream: false,
    responseStream: false,
    requestSerialize: utf8.serialize,
    requestDeserialize: utf8.deserialize,
    responseSerialize: utf8.serialize,
    responseDeserialize: utf8.deserialize,
  },
} as const satisfies ServiceDefinition;

describe("mesh connections", () => {
  const handshakes: { resumed: boolean }[] = [];
  const originalCreateSecureServer = http2.createSecureServer;
  let mesh: Mesh;
  let server: grpc.Server;
  let address: string;
  const clients: { close(): void }[] = [];

  before(async () => {
    (http2 as { createSecureServer: unknown }).createSecureServer = (...args: unknown[]) => {
      const secure = (originalCreateSecureServer as (...a: unknown[]) => http2.Http2SecureServer).apply(http2, args);
      secure.on("secureConnection", (socket: TLSSocket) => handshakes.push({ resumed: socket.isSessionReused() }));
      return secure;
    };
    mesh = await Mesh.create(
      { MESH_TRUST_DOMAIN: "weelo", MESH_CERT_REFRESH_MS: 60_000, DATA_DIR: "" },
      { allowDevelopmentCa: false, inMemoryCa: true },
    );
    server = new grpc.Server();
    server.addService(EchoDefinition as unknown as grpc.ServiceDefinition, {
      // Answers with the caller the connection's certificate proves, so the test sees the call went over mutual TLS.
      echo: (call: grpc.ServerUnaryCall<string, string>, callback: grpc.sendUnaryData<string>) =>
        callback(null, `${mesh.callerOf(call)}:${call.request}`),
    });
    const credentials = await mesh.serverCredentials(["echo"]);
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync("127.0.0.1:0", credentials, (error, bound) => (error ? reject(error) : resolve(bound))),
    );
    // serverCredentials resolved once the certificate was loaded: the first connection meets a ready server.
    address = `127.0.0.1:${port}`;
    assert.equal(handshakes.length, 0);
  });

  after(() => {
    for (const client of clients) client.close();
    server?.forceShutdown();
    (http2 as { createSecureServer: unknown }).createSecureServer = originalCreateSecureServer;
  });

  it("makes 200 calls on one mesh client over one TLS session", async () => {
    const client = createMeshClient(EchoDefinition, address, { mesh, caller: "gateway", deadlineMs: 10_000 });
    clients.push(client);
    // 100 at once before any connection exists (they wait for the same one), then 100 one by one.
    const burst = await Promise.all(Array.from({ length: 100 }, (_, i) => client.echo(`burst ${i}`)));
    assert.deepEqual(
      burst,
      Array.from({ length: 100 }, (_, i) => `gateway:burst ${i}`),
    );
    for (let i = 0; i < 100; i++) assert.equal(await client.echo(`call ${i}`), `gateway:call ${i}`);
    const made = handshakes;
    assert.equal(made.length, 1, `200 calls made ${made.length} TLS handshakes`);
    assert.equal(made[0]!.resumed, false);
  });

  it("handshakes once per channel: a client with other credentials opens a second session", async () => {
    const other = createMeshClient(EchoDefinition, address, { mesh, caller: "dispatch", deadlineMs: 10_000 });
    clients.push(other);
    for (let i = 0; i < 50; i++) assert.equal(await other.echo(`call ${i}`), `dispatch:call ${i}`);
    assert.equal(handshakes.length, 2, `two channels made ${handshakes.length} TLS handshakes`);
  });
});
