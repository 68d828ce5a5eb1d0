/**
 * Embedded Postgres (PGlite) for the all-in-one mode.
 *
 * One data directory can be opened by one PGlite instance only, and in the embedded mode
 * every service of the process lives in the same data directory: so instances are shared
 * through a process-wide registry keyed by the resolved directory and reference-counted
 * (the last service to close closes the instance).
 *
 * PGlite has a single connection. Kysely talks to it through a pool-shaped adapter handed to
 * kysely's own PostgresDialect, so transactions, savepoints and the "COMMIT of an aborted
 * transaction" check are kysely's Postgres code, the same as against a real server. The pool
 * has one client guarded by a mutex that is shared by every service on the instance: a
 * transaction holds it from BEGIN to COMMIT, so no other query of any service can interleave.
 */
import { access, mkdir, realpath } from "node:fs/promises";
import { join } from "node:path";
import { PGlite } from "@electric-sql/pglite";
import type { PostgresCursor, PostgresPool, PostgresPoolClient, PostgresQueryResult } from "kysely";
import type { Logger } from "@weelo/log";

/** Postgres type ids whose PGlite parsing differs from node-postgres (pg) by default. */
const INT8 = 20;
const BYTEA = 17;

/**
 * Parsers that make PGlite return what pg returns, so code behaves the same in both modes:
 * int8 (bigint, count(*)) as a string rather than a lossy number, bytea as a Buffer.
 */
const PG_COMPATIBLE_PARSERS = {
  [INT8]: (value: string) => value,
  [BYTEA]: (value: string) => Buffer.from(value.slice(2), "hex"),
};

/** How long a caller may wait for the single connection before we say so in the log. */
const SLOW_ACQUIRE_WARN_MS = 5_000;

/** A FIFO lock: `lock()` resolves with the function that unlocks. */
export class Mutex {
  #tail: Promise<void> = Promise.resolve();

  lock(): Promise<() => void> {
    let unlock!: () => void;
    const released = new Promise<void>((resolve) => (unlock = resolve));
    const acquired = this.#tail.then(() => unlock);
    this.#tail = this.#tail.then(() => released);
    return acquired;
  }
}

/**
 * Postgres's buffer cache inside PGlite's wasm memory. Its default, 128MB, is most of the
 * all-in-one's memory (RSS ~100 MB higher); one connection on a development-sized database
 * needs far less, and the operating system's page cache still holds the files beneath. (16MB
 * saves ~20 MB more RSS, 165 vs 185 MB for PGlite alone on Node 20, but was not proven against
 * the embedded e2e suites on a machine quiet enough to tell a slowdown from load.)
 */
const SHARED_BUFFERS = "32MB";

/** One open PGlite data directory, shared by the services of this process. */
export interface SharedPGlite {
  readonly dataDir: string;
  readonly pglite: PGlite;
  /** Held by whoever is using the single connection (one query, or a whole transaction). */
  readonly mutex: Mutex;
  /** The search_path last set on the connection, so a service only re-sets it when it changes. */
  searchPath: string | undefined;
}

interface RegistryEntry {
  refs: number;
  ready: Promise<SharedPGlite>;
}

const registry = new Map<string, RegistryEntry>();
/** Instances being closed: a re-open of the same directory waits for the close to finish. */
const closing = new Map<string, Promise<void>>();

/** The directory where PGlite keeps its data for a DATA_DIR (created if missing). */
export async function pgliteDataDir(dataDirRoot: string): Promise<string> {
  await mkdir(dataDirRoot, { recursive: true });
  // realpath so "./data" and "/abs/data" (or a symlink) name one registry entry.
  return join(await realpath(dataDirRoot), "pglite");
}

/** Opens (or joins) the shared instance for a data directory; pair with releasePGlite. */
export async function acquirePGlite(dataDir: string, logger: Logger): Promise<SharedPGlite> {
  let entry = registry.get(dataDir);
  if (!entry) {
    entry = { refs: 0, ready: openPGlite(dataDir, logger) };
    registry.set(dataDir, entry);
  }
  // Counted before awaiting, so a concurrent release of the last other user cannot close it.
  entry.refs++;
  try {
    return await entry.ready;
  } catch (error) {
    entry.refs--;
    if (entry.refs === 0 && registry.get(dataDir) === entry) registry.delete(dataDir);
    throw error;
  }
}

/** Drops one reference; the last one closes the instance once in-flight work is done. */
export async function releasePGlite(shared: SharedPGlite): Promise<void> {
  const entry = registry.get(shared.dataDir);
  if (!entry) return;
  entry.refs--;
  if (entry.refs > 0) return;
  registry.delete(shared.dataDir);
  const done = (async () => {
    // Taking the lock waits for the running query or transaction, and nothing follows it.
    await shared.mutex.lock();
    await shared.pglite.close();
  })();
  closing.set(shared.dataDir, done);
  try {
    await done;
  } finally {
    if (closing.get(shared.dataDir) === done) closing.delete(shared.dataDir);
  }
}

/** How many services hold the instance of a data directory (for tests and diagnostics). */
export function pgliteRefCount(dataDir: string): number {
  return registry.get(dataDir)?.refs ?? 0;
}

async function openPGlite(dataDir: string, logger: Logger): Promise<SharedPGlite> {
  await closing.get(dataDir)?.catch(() => undefined);
  const fresh = await access(join(dataDir, "PG_VERSION")).then(
    () => false,
    () => true,
  );
  if (fresh) logger.info({ dataDir }, "creating the embedded database (first start takes a few seconds)");
  const pglite = await PGlite.create(dataDir, {
    parsers: PG_COMPATIBLE_PARSERS,
    startParams: [...PGlite.defaultStartParams, "-c", `shared_buffers=${SHARED_BUFFERS}`],
  });
  return { dataDir, pglite, mutex: new Mutex(), searchPath: undefined };
}

/**
 * A one-client "pool" over a shared PGlite for kysely's PostgresDialect. connect() waits for
 * the shared mutex and points the connection at this service's schema; release() unlocks.
 */
export class PGlitePool implements PostgresPool {
  #shared: SharedPGlite | undefined;

  constructor(
    shared: SharedPGlite,
    private readonly searchPath: string,
    private readonly logger: Logger,
  ) {
    this.#shared = shared;
  }

  async connect(): Promise<PostgresPoolClient> {
    const shared = this.#shared;
    if (!shared) throw new Error("the embedded database has been closed");
    // A query on `db` made inside a transaction on `trx` waits here forever, since the
    // transaction holds the only connection: say so instead of hanging silently.
    const warn = setTimeout(() => {
      this.logger.warn(
        { waitedMs: SLOW_ACQUIRE_WARN_MS },
        "still waiting for the embedded database connection: is a query using db instead of trx inside a transaction?",
      );
    }, SLOW_ACQUIRE_WARN_MS);
    warn.unref();
    const unlock = await shared.mutex.lock().finally(() => clearTimeout(warn));
    try {
      if (shared.pglite.closed) throw new Error("the embedded database has been closed");
      if (shared.searchPath !== this.searchPath) {
        await shared.pglite.exec(`SET search_path TO ${this.searchPath}`);
        shared.searchPath = this.searchPath;
      }
    } catch (error) {
      unlock();
      throw error;
    }
    return new PGliteClient(shared, unlock);
  }

  /** Kysely's destroy(): this service stops using the instance. */
  async end(): Promise<void> {
    const shared = this.#shared;
    this.#shared = undefined;
    if (shared) await releasePGlite(shared);
  }
}

class PGliteClient implements PostgresPoolClient {
  #released = false;

  constructor(
    private readonly shared: SharedPGlite,
    private readonly unlock: () => void,
  ) {}

  query<R>(sql: string, parameters: ReadonlyArray<unknown>): Promise<PostgresQueryResult<R>>;
  query<R>(cursor: PostgresCursor<R>): PostgresCursor<R>;
  query<R>(
    sql: string | PostgresCursor<R>,
    parameters: ReadonlyArray<unknown> = [],
  ): Promise<PostgresQueryResult<R>> | PostgresCursor<R> {
    // Kysely only passes a cursor for .stream(), which needs a cursor class we do not give it.
    if (typeof sql !== "string") throw new Error("streaming queries (cursors) are not supported on PGlite");
    return this.#run<R>(sql, parameters);
  }

  async #run<R>(sql: string, parameters: ReadonlyArray<unknown>): Promise<PostgresQueryResult<R>> {
    if (this.#released) throw new Error("the embedded database connection was already released");
    try {
      const result = await this.shared.pglite.query<R>(sql, [...parameters]);
      return {
        command: (result.command ?? "SELECT") as PostgresQueryResult<R>["command"],
        rowCount: result.rowCount ?? result.affectedRows ?? 0,
        rows: result.rows,
      };
    } catch (error) {
      throw scrubPGliteError(error);
    }
  }

  release(destroy?: boolean): void {
    if (this.#released) return;
    this.#released = true;
    // kysely asks to destroy a connection whose ROLLBACK failed: its session state is unknown,
    // so forget the search_path and let the next user set it again.
    if (destroy) this.shared.searchPath = undefined;
    this.unlock();
  }
}

/**
 * PGlite attaches the query's parameters (and options) to its errors, where a logger would
 * print them; pg's errors carry no parameters, so drop them to match and keep them out of logs.
 */
function scrubPGliteError(error: unknown): unknown {
  if (error && typeof error === "object") {
    const record = error as Record<string, unknown>;
    delete record.params;
    delete record.queryOptions;
  }
  return error;
}
