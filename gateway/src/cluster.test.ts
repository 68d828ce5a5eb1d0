/**
 * `npm run start:cluster` as a real child process: workers share the port, a killed worker
 * is replaced, SIGHUP replaces every worker one at a time while requests keep succeeding,
 * SIGTERM stops everything cleanly, and a bad setting stops the primary at once.
 */
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { get } from "node:http";
import { createServer, type AddressInfo } from "node:net";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { restartablePort, until } from "@weelo/testing";

const ROOT = new URL("../../", import.meta.url).pathname;

interface Cluster {
  child: ChildProcess;
  lines: any[];
  output: string[];
  exited: Promise<number | null>;
}

function startCluster(env: Record<string, string>): Cluster {
  const child = spawn(process.execPath, ["--import", "tsx", "gateway/src/cluster.ts"], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const lines: any[] = [];
  const output: string[] = [];
  let pending = "";
  const read = (chunk: Buffer) => {
    pending += chunk.toString("utf8");
    const parts = pending.split("\n");
    pending = parts.pop()!;
    for (const line of parts) {
      output.push(line);
      try {
        lines.push(JSON.parse(line));
      } catch {
        // not a log line (e.g. a configuration error printed plainly)
      }
    }
  };
  child.stdout!.on("data", read);
  child.stderr!.on("data", read);
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  return { child, lines, output, exited };
}

function health(port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    // A new connection per request, as a load balancer opens them: each may land on any worker.
    const req = get({ host: "127.0.0.1", port, path: "/health", agent: false }, (res) => {
      res.resume();
      res.once("end", () => resolve(res.statusCode ?? 0));
    });
    req.once("error", reject);
    // A busy machine may be slow; a refused or reset connection is what must never happen.
    req.setTimeout(30_000, () => req.destroy(new Error("timed out")));
  });
}

/** health(), failing with what the cluster printed last: a refused probe says which worker state it met. */
async function probe(cluster: Cluster, port: number): Promise<number> {
  try {
    return await health(port);
  } catch (error) {
    throw new Error(`${(error as Error).message}; the cluster's last lines:\n${cluster.output.slice(-15).join("\n")}`);
  }
}

describe("start:cluster", () => {
  const clusters: Cluster[] = [];
  let dataDir: string;
  before(async () => {
    dataDir = await mkdtemp(join(tmpdir(), "weelo-cluster-"));
  });
  after(async () => {
    for (const { child } of clusters) if (child.exitCode === null) child.kill("SIGKILL");
    await rm(dataDir, { recursive: true, force: true });
  });

  it("restarts a crashed worker and replaces every worker on SIGHUP without a failed request", async () => {
    const port = await restartablePort();
    const cluster = startCluster({
      NODE_ENV: "development",
      LOG_LEVEL: "info",
      PORT: String(port),
      HOST: "127.0.0.1",
      // The admin listener on a port of its own, not the default 9464: whatever else holds 9464
      // (an `npm start` beside the suite, another server) made every worker die on EADDRINUSE
      // after it listened, and the probes were refused.
      METRICS_PORT: "0",
      CLUSTER_WORKERS: "2",
      DATA_DIR: dataDir,
      SHUTDOWN_TIMEOUT_MS: "3000",
      // The gateway alone: its upstreams are not needed for these checks.
      IDENTITY_GRPC_URL: "127.0.0.1:9",
    });
    clusters.push(cluster);
    const listening = () => cluster.lines.filter((l) => l.msg === "worker listening").map((l) => l.pid as number);
    await until("two workers listen", () => listening().length === 2, 60_000, 50);
    // Listening means on the gateway's port: a worker opens its admin port (METRICS_PORT) too.
    assert.deepEqual(
      cluster.lines.filter((l) => l.msg === "worker listening").map((l) => l.port),
      [port, port],
    );
    assert.equal(await probe(cluster, port), 200);

    const [victim] = listening();
    process.kill(victim!, "SIGKILL");
    await until("the crash is noticed and a new worker listens", () => listening().length === 3, 30_000, 50);
    const crash = cluster.lines.find((l) => l.msg === "worker exited unexpectedly; restarting");
    assert.equal(crash?.pid, victim);
    assert.equal(await probe(cluster, port), 200);

    const before = listening().filter((pid) => pid !== victim);
    let ok = 0;
    const failures: string[] = [];
    let loading = true;
    const load = async () => {
      while (loading) {
        try {
          const status = await health(port);
          if (status === 200) ok += 1;
          else failures.push(`status ${status}`);
        } catch (error) {
          failures.push((error as Error).message);
        }
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    };
    const loaders = [load(), load(), load()];
    await until("requests flow", () => ok > 20, 30_000, 20);
    cluster.child.kill("SIGHUP");
    await until(
      "the rolling restart finishes",
      () => cluster.lines.some((l) => l.msg === "rolling restart done"),
      90_000,
      50,
    );
    const okBeforeEnd = ok;
    await until("requests still flow", () => ok > okBeforeEnd + 20, 30_000, 20);
    loading = false;
    await Promise.all(loaders);
    assert.deepEqual(failures, [], "no request failed during the rolling restart");
    const stopped = cluster.lines.filter((l) => l.msg === "worker stopped").map((l) => l.pid);
    assert.deepEqual([...stopped].sort(), [...before].sort(), "every old worker was stopped");
    assert.equal(listening().length, 5, "two replacements listened");
    const order = cluster.lines
      .filter(
        (l) =>
          (l.msg === "worker listening" &&
            !before.includes(l.pid) &&
            l.pid !== victim &&
            listening().indexOf(l.pid) >= 3) ||
          l.msg === "worker stopped",
      )
      .map((l) => l.msg);
    assert.deepEqual(
      order,
      ["worker listening", "worker stopped", "worker listening", "worker stopped"],
      "each old worker stops only after its replacement listens",
    );

    cluster.child.kill("SIGTERM");
    assert.equal(await cluster.exited, 0);
    assert.ok(cluster.lines.some((l) => l.msg === "stopped"));
  });

  it("gives up when workers die while starting, after opening the gateway's port", { timeout: 120_000 }, async () => {
    // The admin port held by another process: a worker opens the gateway's port, then dies on
    // the admin port. It never served, so it counts as a failed start, and the primary stops
    // instead of restarting workers forever.
    const held = createServer();
    await new Promise<void>((resolve) => held.listen(0, resolve));
    try {
      const cluster = startCluster({
        NODE_ENV: "development",
        LOG_LEVEL: "info",
        PORT: String(await restartablePort()),
        HOST: "127.0.0.1",
        METRICS_PORT: String((held.address() as AddressInfo).port),
        CLUSTER_WORKERS: "2",
        DATA_DIR: dataDir,
        IDENTITY_GRPC_URL: "127.0.0.1:9",
      });
      clusters.push(cluster);
      assert.equal(await cluster.exited, 1);
      assert.ok(
        cluster.lines.some((l) => l.msg === "workers keep dying before they serve (see their errors above); giving up"),
        cluster.output.slice(-10).join("\n"),
      );
      assert.equal(cluster.lines.filter((l) => l.msg === "worker listening").length, 0, "no worker counted as serving");
      assert.match(cluster.output.join("\n"), /EADDRINUSE/);
    } finally {
      held.close();
    }
  });

  it("stops at once on a bad setting, naming it", async () => {
    const cluster = startCluster({ PORT: "not-a-port", CLUSTER_WORKERS: "2" });
    clusters.push(cluster);
    assert.equal(await cluster.exited, 1);
    assert.match(cluster.output.join("\n"), /PORT/);
  });
});
