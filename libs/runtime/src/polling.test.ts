/** startPolling: no overlapping runs, survives throwing runs, kick, backoff, jitter, stop awaiting a run. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { until } from "@weelo/testing";
import { pauseAfter, startPolling, Wakeable } from "./polling.js";

function recordingLogger() {
  const warnings: { fields: Record<string, unknown>; message: string }[] = [];
  const infos: { fields: Record<string, unknown>; message: string }[] = [];
  return {
    warnings,
    infos,
    logger: {
      warn: (fields: Record<string, unknown>, message: string) => void warnings.push({ fields, message }),
      info: (fields: Record<string, unknown>, message: string) => void infos.push({ fields, message }),
    } as never,
  };
}

describe("startPolling", () => {
  it("runs the task every everyMs and never two runs at once, even when kicked during a run", async () => {
    let active = 0;
    let most = 0;
    let runs = 0;
    const { logger } = recordingLogger();
    const loop = startPolling({
      name: "test loop",
      everyMs: 5,
      logger,
      task: async () => {
        active++;
        most = Math.max(most, active);
        runs++;
        await sleep(15);
        active--;
      },
    });
    for (let i = 0; i < 10; i++) {
      loop.kick();
      await sleep(3);
    }
    await until("four runs", () => runs >= 4);
    await loop.stop();
    assert.equal(most, 1);
    assert.equal(active, 0);
  });

  it("logs a throwing run, carries on, and says once when it runs again", async () => {
    let runs = 0;
    const { logger, warnings, infos } = recordingLogger();
    const loop = startPolling({
      name: "flaky loop",
      everyMs: 2,
      logger,
      task: async () => {
        runs++;
        if (runs <= 3) throw new Error(`run ${runs} failed`);
      },
    });
    await until("runs after the failures", () => runs >= 5);
    await loop.stop();
    // Logged on the first failure only (then every 60th), and once on recovery.
    assert.equal(warnings.length, 1);
    assert.equal(warnings[0]?.message, "flaky loop failed; retrying");
    assert.equal((warnings[0]!.fields.err as Error).message, "run 1 failed");
    assert.deepEqual(
      infos.map((i) => [i.message, i.fields.after]),
      [["flaky loop running again", 3]],
    );
  });

  it("runs again at once while the task reports more work, then waits everyMs", async () => {
    const started: number[] = [];
    const { logger } = recordingLogger();
    const loop = startPolling({
      name: "batches",
      everyMs: 10_000,
      logger,
      task: async () => {
        started.push(Date.now());
        return started.length < 5;
      },
    });
    await until("five batches", () => started.length >= 5);
    await sleep(30);
    await loop.stop();
    assert.equal(started.length, 5, "no run after the one that reported no more work");
  });

  it("a kick when idle runs the task at once instead of after the pause", async () => {
    let runs = 0;
    const { logger } = recordingLogger();
    const loop = startPolling({
      name: "kicked",
      everyMs: 60_000,
      logger,
      task: async () => void runs++,
    });
    await until("the first run", () => runs === 1);
    loop.kick();
    await until("the kicked run", () => runs === 2);
    await loop.stop();
  });

  it("delays the first run by a pause when asked", async () => {
    let runs = 0;
    const { logger } = recordingLogger();
    const loop = startPolling({
      name: "later",
      everyMs: 60_000,
      delayFirstRun: true,
      logger,
      task: async () => void runs++,
    });
    await sleep(20);
    await loop.stop();
    assert.equal(runs, 0);
  });

  it("stop() resolves only after the run in progress has ended, and no run follows", async () => {
    let runs = 0;
    let finished = false;
    let release: () => void = () => {};
    const { logger } = recordingLogger();
    const loop = startPolling({
      name: "slow",
      everyMs: 1,
      logger,
      task: async () => {
        runs++;
        await new Promise<void>((resolve) => (release = resolve));
        finished = true;
      },
    });
    await until("the run to start", () => runs === 1);
    const stopped = loop.stop();
    let stopResolved = false;
    void stopped.then(() => (stopResolved = true));
    await sleep(10);
    assert.equal(stopResolved, false, "stop() waits for the run in progress");
    release();
    await stopped;
    assert.equal(finished, true);
    await sleep(10);
    assert.equal(runs, 1);
  });

  it("does not keep the process alive while it waits (unref'd timer)", async () => {
    const { logger } = recordingLogger();
    const before = process.getActiveResourcesInfo().filter((r) => r === "Timeout").length;
    const loop = startPolling({ name: "idle", everyMs: 60_000, delayFirstRun: true, logger, task: async () => {} });
    await sleep(5);
    // An unref'd timer is not an active resource.
    assert.equal(process.getActiveResourcesInfo().filter((r) => r === "Timeout").length, before);
    await loop.stop();
  });
});

describe("pauseAfter", () => {
  it("is everyMs without failures, doubles per failure up to maxBackoff, and never backs off by default", () => {
    assert.equal(pauseAfter({ everyMs: 100 }, 0), 100);
    assert.equal(pauseAfter({ everyMs: 100 }, 5), 100);
    assert.equal(pauseAfter({ everyMs: 100, maxBackoff: 30 }, 1), 100);
    assert.equal(pauseAfter({ everyMs: 100, maxBackoff: 30 }, 2), 200);
    assert.equal(pauseAfter({ everyMs: 100, maxBackoff: 30 }, 4), 800);
    assert.equal(pauseAfter({ everyMs: 100, maxBackoff: 30 }, 10), 3000);
  });

  it("spreads the pause by at most ± jitter of it", () => {
    assert.equal(
      pauseAfter({ everyMs: 1000, jitter: 0.2 }, 0, () => 0),
      800,
    );
    assert.equal(
      pauseAfter({ everyMs: 1000, jitter: 0.2 }, 0, () => 0.5),
      1000,
    );
    assert.equal(
      pauseAfter({ everyMs: 1000, jitter: 0.2 }, 0, () => 0.999999),
      1200,
    );
    for (let i = 0; i < 100; i++) {
      const ms = pauseAfter({ everyMs: 1000, jitter: 0.1 }, 0);
      assert.ok(ms >= 900 && ms <= 1100, `${ms}`);
    }
  });
});

describe("Wakeable", () => {
  const timed = async (pause: Promise<void>) => {
    const start = Date.now();
    await pause;
    return Date.now() - start;
  };

  it("ends a pause at its timeout, on wake(), or when the signal aborts", async (t) => {
    // The pause's own timer is unref'd: this keeps the test's event loop alive meanwhile.
    const keepAlive = setInterval(() => {}, 1000);
    t.after(() => clearInterval(keepAlive));
    const sleeper = new Wakeable();
    assert.ok((await timed(sleeper.pause(20))) >= 15);

    const woken = sleeper.pause(60_000);
    setTimeout(() => sleeper.wake(), 10);
    assert.ok((await timed(woken)) < 5_000);

    const controller = new AbortController();
    const aborted = sleeper.pause(60_000, controller.signal);
    setTimeout(() => controller.abort(), 10);
    assert.ok((await timed(aborted)) < 5_000);

    // An already aborted signal does not wait at all.
    assert.ok((await timed(sleeper.pause(60_000, controller.signal))) < 5_000);
    // wake() with no pause in progress is harmless.
    sleeper.wake();
  });
});
