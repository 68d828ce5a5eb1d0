/**
 * The mesh fault run's private servers: Postgres, Redis and NATS on free ports, each restarted
 * and answering again, and nothing left behind after stop() (no process, no folder).
 */
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { createConnection } from "node:net";
import { describe, it } from "node:test";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { startPrivateServers } from "./private-servers.js";

const answers = (port: number) =>
  new Promise<boolean>((resolve) => {
    const socket = createConnection({ host: "127.0.0.1", port });
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });

/** The postmaster's start time, read with psql. */
async function startedAt(url: string): Promise<string> {
  const { stdout } = await promisify(execFile)("psql", [url, "-Atc", "select pg_postmaster_start_time()"]);
  return stdout.trim();
}

describe("private servers of the mesh fault run", () => {
  it("start, restart each and stop without leaving anything behind", async () => {
    const servers = await startPrivateServers();
    try {
      const first = await startedAt(servers.env.DATABASE_URL);
      await servers.restart("postgres", 0);
      // A new postmaster answers on the same port.
      const second = await startedAt(servers.env.DATABASE_URL);
      assert.notEqual(second, first);
      for (const kind of ["redis", "nats"] as const) {
        await servers.restart(kind, 200);
        assert.ok(await answers(servers.ports[kind]), `${kind} answers after its restart`);
      }
    } finally {
      await servers.stop();
    }
    for (const port of Object.values(servers.ports)) assert.equal(await answers(port), false, `port ${port} is free`);
    assert.equal(existsSync(servers.folder), false, "the servers' folder is removed");
  });
});
