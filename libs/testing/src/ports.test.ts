/** Ports for servers that restart: below the kernel's ephemeral range, free, and never handed out twice. */
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { createServer } from "node:net";
import { describe, it } from "node:test";
import { restartablePort } from "./index.js";

describe("restartable ports", () => {
  it("are free, below the ephemeral range, and distinct", async () => {
    const range = await readFile("/proc/sys/net/ipv4/ip_local_port_range", "utf8").catch(() => "32768 60999");
    const ephemeralFrom = Number(range.trim().split(/\s+/)[0]);
    const ports = await Promise.all(Array.from({ length: 20 }, () => restartablePort()));
    assert.equal(new Set(ports).size, ports.length, "distinct");
    for (const port of ports) {
      assert.ok(port >= 20_000 && port < ephemeralFrom, `${port} below ${ephemeralFrom}`);
      const server = createServer();
      await new Promise<void>((resolve, reject) => {
        server.once("error", reject);
        server.listen(port, "127.0.0.1", resolve);
      });
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
