/** The mesh harness's TCP fault proxy in front of a real echo server: pass, latency, partition and heal. */
import assert from "node:assert/strict";
import { once } from "node:events";
import { connect, createServer, type Server, type Socket } from "node:net";
import { after, before, describe, it } from "node:test";
import { type FaultProxy, startFaultProxy } from "./fault-proxy.js";

/** Sends text and resolves with what comes back and how long it took (undefined when nothing came within waitMs). */
async function roundTrip(socket: Socket, text: string, waitMs = 3000): Promise<{ echo?: string; ms: number }> {
  const began = Date.now();
  const answer = once(socket, "data").then(([chunk]) => String(chunk));
  socket.write(text);
  const echo = await Promise.race([answer, new Promise<undefined>((r) => setTimeout(() => r(undefined), waitMs))]);
  return { ...(echo !== undefined ? { echo } : {}), ms: Date.now() - began };
}

describe("fault proxy", () => {
  let echo: Server;
  let proxy: FaultProxy;
  let socket: Socket;

  before(async () => {
    echo = createServer((s) => s.pipe(s));
    await new Promise<void>((resolve) => echo.listen(0, "127.0.0.1", resolve));
    const port = (echo.address() as { port: number }).port;
    proxy = await startFaultProxy(() => port);
    socket = connect({ host: "127.0.0.1", port: proxy.port });
    await once(socket, "connect");
  });
  after(async () => {
    socket.destroy();
    await proxy.close();
    await new Promise((resolve) => echo.close(resolve));
  });

  it("passes bytes through both ways", async () => {
    const { echo: back, ms } = await roundTrip(socket, "hello");
    assert.equal(back, "hello");
    assert.ok(ms < 500, `took ${ms} ms`);
  });

  it("adds its latency to each direction", async () => {
    proxy.set({ kind: "latency", ms: 150 });
    const { echo: back, ms } = await roundTrip(socket, "slow");
    proxy.set({ kind: "pass" });
    assert.equal(back, "slow");
    assert.ok(ms >= 290, `a round trip through 150 ms each way took only ${ms} ms`);
  });

  it("lets nothing across while partitioned, and delivers what was held when healed", async () => {
    proxy.set({ kind: "partition" });
    const during = roundTrip(socket, "held", 400);
    const { echo: back } = await during;
    assert.equal(back, undefined, "an answer crossed the partition");
    const late = once(socket, "data").then(([chunk]) => String(chunk));
    proxy.set({ kind: "pass" });
    assert.equal(await late, "held");
  });
});
