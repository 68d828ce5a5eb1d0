/**
 * `npm run start:cluster`: the gateway on every core with node:cluster. The primary only
 * supervises: it forks CLUSTER_WORKERS workers (0 = one per core) that share the one port,
 * restarts a crashed worker with backoff (and gives up when workers cannot even start, e.g.
 * a bad setting), and on SIGHUP replaces the workers one at a time — the next old worker is
 * stopped only once its replacement listens, so the port never goes dark. SIGTERM/SIGINT
 * stop every worker gracefully (each drains like a lone gateway) and then the primary.
 *
 * Workers run the gateway alone (the connected mode: services reached through *_GRPC_URL),
 * not the all-in-one: the all-in-one owns an embedded PGlite database directory and
 * in-process Redis and NATS stand-ins, which several processes cannot share, so N copies
 * would be N separate systems (an OTP sent by one worker unknown to the next). The gateway
 * is stateless — what it must share (rate-limit windows, revocations) lives in Redis — so it
 * is the part that scales across cores. Without REDIS_URL each worker keeps its own limits.
 */
import cluster, { type Worker } from "node:cluster";
import { availableParallelism } from "node:os";
import { ConfigError } from "@weelo/config";
import { createLogger } from "@weelo/log";
import { createPlatform } from "@weelo/runtime";
import { loadGatewayConfig, type GatewayConfig } from "./gateway.config.js";
import { startGateway } from "./gateway.module.js";

/** A worker that lived this long is healthy again: its next crash restarts it without delay. */
const STABLE_AFTER_MS = 30_000;
/** This many workers in a row that died before serving: the setup is broken, stop trying. */
const MAX_FAILED_STARTS = 5;
/** How long a new worker may take to listen during a rolling restart. */
const LISTEN_TIMEOUT_MS = 60_000;

let config: Readonly<GatewayConfig>;
try {
  config = loadGatewayConfig();
} catch (error) {
  console.error(error instanceof ConfigError ? error.message : error);
  process.exit(1);
}

if (cluster.isPrimary) runPrimary(config);
else await runWorker(config);

/** What a worker tells the primary once its gateway serves: every listener (app and admin port) is open. */
interface ReadyMessage {
  weelo: "worker-ready";
  port: number;
}

const isReady = (message: unknown): message is ReadyMessage =>
  typeof message === "object" && message !== null && (message as ReadyMessage).weelo === "worker-ready";

/**
 * Calls back once the worker says it serves. Not node:cluster's "listening" event: that fires
 * for each port a worker opens, and a worker opens two (the gateway's and the admin port,
 * METRICS_PORT, after it). One taken for ready at its first port could still die opening the
 * second (the admin port held by another process): the primary would then count a worker that
 * never served as a started one and restart it forever, and a rolling restart would stop an old
 * worker for a replacement that is about to die.
 */
function onceReady(worker: Worker, callback: (message: ReadyMessage) => void): void {
  const onMessage = (message: unknown) => {
    if (!isReady(message)) return;
    worker.off("message", onMessage);
    callback(message);
  };
  worker.on("message", onMessage);
}

function runPrimary(config: Readonly<GatewayConfig>): void {
  const logger = createLogger({ service: "gateway-cluster", level: config.LOG_LEVEL, pretty: config.LOG_PRETTY });
  const size = config.CLUSTER_WORKERS || availableParallelism();
  if (!config.REDIS_URL)
    logger.warn(
      "REDIS_URL is not set: each worker keeps its own rate-limit windows and sees no revocations made elsewhere",
    );

  interface State {
    worker: Worker;
    startedAt: number;
    ready: boolean;
    retiring: boolean;
  }
  const workers = new Map<number, State>();
  let crashes = 0;
  let failedStarts = 0;
  let stopping = false;
  let rolling: Promise<void> | undefined;

  const fork = (): State => {
    const state: State = { worker: cluster.fork(), startedAt: Date.now(), ready: false, retiring: false };
    const { worker } = state;
    workers.set(worker.id, state);
    onceReady(worker, ({ port }) => {
      state.ready = true;
      failedStarts = 0;
      logger.info({ worker: worker.id, pid: worker.process.pid, port }, "worker listening");
    });
    worker.once("exit", (code, signal) => {
      workers.delete(worker.id);
      if (stopping || state.retiring) {
        logger.info({ worker: worker.id, pid: worker.process.pid, code, signal }, "worker stopped");
        return;
      }
      if (!state.ready) failedStarts += 1;
      if (failedStarts >= MAX_FAILED_STARTS) {
        logger.fatal({ failedStarts }, "workers keep dying before they serve (see their errors above); giving up");
        void shutdown(1);
        return;
      }
      crashes = Date.now() - state.startedAt > STABLE_AFTER_MS ? 0 : crashes + 1;
      const delayMs = crashes === 0 ? 0 : Math.min(30_000, 250 * 2 ** (crashes - 1));
      logger.error(
        { worker: worker.id, pid: worker.process.pid, code, signal, restartInMs: delayMs },
        "worker exited unexpectedly; restarting",
      );
      setTimeout(() => {
        if (!stopping) fork();
      }, delayMs);
    });
    return state;
  };

  /** One worker at a time: a new one listens, then the old one drains and exits. */
  const rollingRestart = async () => {
    const old = [...workers.values()].filter((s) => !s.retiring);
    logger.info({ workers: old.length }, "rolling restart");
    for (const previous of old) {
      if (stopping) return;
      const next = fork();
      const listening = await new Promise<boolean>((resolve) => {
        const timer = setTimeout(() => resolve(false), LISTEN_TIMEOUT_MS);
        onceReady(next.worker, () => {
          clearTimeout(timer);
          resolve(true);
        });
        next.worker.once("exit", () => {
          clearTimeout(timer);
          resolve(false);
        });
      });
      if (!listening) {
        logger.error(
          { worker: next.worker.id },
          "a new worker did not start listening; rolling restart stopped, the old workers keep serving",
        );
        return;
      }
      if (!workers.has(previous.worker.id)) continue; // it died meanwhile and was replaced already
      await stopWorker(previous);
    }
    logger.info({ workers: workers.size }, "rolling restart done");
  };

  const stopWorker = (state: State): Promise<void> =>
    new Promise((resolve) => {
      state.retiring = true;
      if (state.worker.isDead()) return resolve();
      const kill = setTimeout(() => state.worker.process.kill("SIGKILL"), config.SHUTDOWN_TIMEOUT_MS + 2000);
      state.worker.once("exit", () => {
        clearTimeout(kill);
        resolve();
      });
      // disconnect() takes the worker out of the primary's connection hand-off at once, so no
      // new connection is sent to a worker that is about to exit; SIGTERM starts its drain.
      state.worker.disconnect();
      state.worker.process.kill("SIGTERM");
    });

  const shutdown = async (code: number) => {
    if (stopping) return;
    stopping = true;
    logger.info({ workers: workers.size }, "stopping the workers");
    await Promise.all([...workers.values()].map(stopWorker));
    logger.info("stopped");
    process.exit(code);
  };

  process.on("SIGHUP", () => {
    if (stopping) return;
    if (rolling) {
      logger.warn("a rolling restart is already running");
      return;
    }
    rolling = rollingRestart().finally(() => (rolling = undefined));
  });
  for (const signal of ["SIGTERM", "SIGINT"] as const) {
    process.on(signal, () => {
      if (stopping) {
        logger.warn({ signal }, "second signal: killing the workers now");
        for (const { worker } of workers.values()) worker.process.kill("SIGKILL");
        process.exit(1);
      }
      void shutdown(0);
    });
  }

  logger.info({ workers: size, port: config.PORT }, "starting the gateway on every core");
  for (let i = 0; i < size; i++) fork();
}

/** A worker: the gateway alone; stops gracefully on the primary's SIGTERM (or when the primary is gone). */
async function runWorker(config: Readonly<GatewayConfig>): Promise<void> {
  let stopping = false;
  // A terminal's Ctrl-C reaches every process of the group: the primary decides and sends
  // each worker one SIGTERM, so a worker ignores SIGINT rather than count it twice.
  process.on("SIGINT", () => undefined);
  let platform: Awaited<ReturnType<typeof createPlatform>>;
  try {
    platform = await createPlatform(config, { name: "gateway" });
    const { port } = await startGateway(platform, config);
    process.send?.({ weelo: "worker-ready", port } satisfies ReadyMessage);
  } catch (error) {
    console.error("worker failed to start:", error);
    process.exit(1);
  }
  const stop = (why: string) => {
    if (stopping) return;
    stopping = true;
    platform.logger.info({ why }, "worker shutting down");
    setTimeout(() => process.exit(1), config.SHUTDOWN_TIMEOUT_MS + 1000).unref();
    platform.shutdown().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on("SIGTERM", () => stop("SIGTERM"));
  process.on("disconnect", () => stop("the primary is gone"));
}
