/**
 * Contract tests of @weelo/db: the same suite runs on the embedded PGlite and, when
 * DATABASE_URL is set, on a real Postgres server. Every test works in a schema of its own.
 */
import assert from "node:assert/strict";
import { rm } from "node:fs/promises";
import { Writable } from "node:stream";
import { setTimeout as sleep } from "node:timers/promises";
import { after, before, describe, it, type TestContext } from "node:test";
import { createLogger, type Logger } from "@weelo/log";
import { Metrics } from "@weelo/metrics";
import {
  createDatabase,
  dropSchema,
  embeddedTestDataDir,
  isSerializationFailure,
  isUniqueViolation,
  MigrationError,
  migrationsAtStart,
  sql,
  testSchemaName,
  type CreateDatabaseOptions,
  type Database,
  type DatabaseConfig,
  type Generated,
  type Kysely,
  type Migration,
} from "./index.js";
import { pgliteDataDir, pgliteRefCount } from "./pglite.js";
import pg from "pg";

interface Tables {
  things: { id: Generated<number>; name: string; qty: Generated<number> };
  counters: { id: string; n: number };
  kinds: { big: string; doc: unknown; at: Date; bytes: Buffer; tags: string[] };
}

const silent = createLogger({ service: "db-test", level: "silent" });

/** Migrations that count how often each one ran (in this process). */
function countingMigrations(): { migrations: Record<string, Migration>; runs: Map<string, number> } {
  const runs = new Map<string, number>();
  const counted = (name: string, up: (db: Kysely<any>) => Promise<void>): Migration => ({
    async up(db) {
      runs.set(name, (runs.get(name) ?? 0) + 1);
      await up(db);
    },
  });
  return {
    runs,
    migrations: {
      "2026_11_26_001_create_things": counted("2026_11_26_001_create_things", async (db) => {
        await db.schema
          .createTable("things")
          .addColumn("id", "serial", (c) => c.primaryKey())
          .addColumn("name", "text", (c) => c.notNull().unique())
          .addColumn("qty", "integer", (c) => c.notNull().defaultTo(0))
          .execute();
      }),
      "2026_11_26_002_create_counters": counted("2026_11_26_002_create_counters", async (db) => {
        await db.schema
          .createTable("counters")
          .addColumn("id", "text", (c) => c.primaryKey())
          .addColumn("n", "integer", (c) => c.notNull())
          .execute();
        // A pause inside the migration widens the window in which racing starters would collide.
        await sleep(50);
      }),
      "2026_11_26_003_create_kinds": counted("2026_11_26_003_create_kinds", async (db) => {
        await db.schema
          .createTable("kinds")
          .addColumn("big", "bigint")
          .addColumn("doc", "jsonb")
          .addColumn("at", "timestamptz")
          .addColumn("bytes", "bytea")
          .addColumn("tags", sql`text[]`)
          .execute();
      }),
    },
  };
}

/** A logger whose lines the test can read. */
function capturingLogger(): { logger: Logger; lines: () => Record<string, unknown>[] } {
  const chunks: string[] = [];
  const destination = new Writable({
    write(chunk, _encoding, done) {
      chunks.push(String(chunk));
      done();
    },
  });
  const logger = createLogger({ service: "db-test", level: "info", destination });
  const lines = () =>
    chunks
      .join("")
      .split("\n")
      .filter(Boolean)
      .map((line) => JSON.parse(line) as Record<string, unknown>);
  return { logger, lines };
}

interface Backend {
  readonly kind: "pglite" | "postgres";
  config: DatabaseConfig;
}

/** The contract, run once per backend. */
function contract(backend: Backend): void {
  /** Opens a database that the test closes (and on Postgres drops) when it ends. */
  const opened = (t: TestContext) => {
    const databases: Database<any>[] = [];
    const schemas = new Set<string>();
    t.after(async () => {
      await Promise.allSettled(databases.map((d) => d.close()));
      if (backend.config.DATABASE_URL) {
        for (const schema of schemas) await dropSchema(backend.config.DATABASE_URL, schema);
      }
    });
    return async (options: Partial<CreateDatabaseOptions> & { schema: string }): Promise<Database<Tables>> => {
      schemas.add(options.schema);
      const database = await createDatabase<Tables>({
        service: "things",
        config: backend.config,
        migrations: countingMigrations().migrations,
        logger: silent,
        ...options,
      });
      databases.push(database);
      return database;
    };
  };

  it("applies migrations once and records them in the service's schema", async (t) => {
    const open = opened(t);
    const schema = testSchemaName("migrate");
    const { migrations, runs } = countingMigrations();
    const database = await open({ schema, migrations });
    assert.equal(database.kind, backend.kind);
    assert.equal(database.schema, schema);
    assert.deepEqual([...runs.values()], [1, 1, 1]);

    const recorded = await sql<{
      name: string;
    }>`select name from ${sql.table(`${schema}.kysely_migration`)} order by name`.execute(database.db);
    assert.deepEqual(
      recorded.rows.map((r) => r.name),
      Object.keys(migrations),
    );
    const tables = await sql<{ table_name: string }>`
      select table_name from information_schema.tables where table_schema = ${schema} order by table_name`.execute(
      database.db,
    );
    assert.deepEqual(
      tables.rows.map((r) => r.table_name),
      ["counters", "kinds", "kysely_migration", "kysely_migration_lock", "things"],
    );
  });

  it("does not re-run migrations when the service starts again on the same schema", async (t) => {
    const open = opened(t);
    const schema = testSchemaName("restart");
    const first = countingMigrations();
    const database = await open({ schema, migrations: first.migrations });
    await database.db.insertInto("things").values({ name: "kept" }).execute();
    await database.close();

    const second = countingMigrations();
    const again = await open({ schema, migrations: second.migrations });
    assert.equal(second.runs.size, 0, "no migration ran on the second start");
    const rows = await again.db.selectFrom("things").select("name").execute();
    assert.deepEqual(rows, [{ name: "kept" }]);
  });

  it("applies each migration once when four replicas start at the same time", async (t) => {
    const open = opened(t);
    const schema = testSchemaName("replicas");
    const { migrations, runs } = countingMigrations();
    const databases = await Promise.all([1, 2, 3, 4].map(() => open({ schema, migrations })));
    assert.equal(databases.length, 4);
    assert.deepEqual(Object.fromEntries(runs), {
      "2026_11_26_001_create_things": 1,
      "2026_11_26_002_create_counters": 1,
      "2026_11_26_003_create_kinds": 1,
    });
    const recorded = await sql<{
      count: string;
    }>`select count(*) as count from ${sql.id(schema, "kysely_migration")}`.execute(databases[0]!.db);
    assert.equal(recorded.rows[0]?.count, "3");
  });

  it("fails loudly, naming the migration, when a migration fails", async (t) => {
    const open = opened(t);
    const schema = testSchemaName("broken");
    const migrations: Record<string, Migration> = {
      "2026_11_26_001_ok": { up: (db) => db.schema.createTable("ok").addColumn("id", "integer").execute() },
      "2026_11_26_002_broken": { up: async (db) => void (await sql`select * from no_such_table`.execute(db)) },
    };
    await assert.rejects(open({ schema, migrations }), (error: unknown) => {
      assert.ok(error instanceof MigrationError);
      assert.equal(error.migration, "2026_11_26_002_broken");
      assert.match(error.message, /migration "2026_11_26_002_broken" of schema "t_broken_\w+" failed: .*no_such_table/);
      return true;
    });
    // The run is one transaction: the migration before the broken one is not left half-applied.
    const fixed = await open({ schema, migrations: { "2026_11_26_001_ok": migrations["2026_11_26_001_ok"]! } });
    const recorded = await sql<{ name: string }>`select name from ${sql.id(schema, "kysely_migration")}`.execute(
      fixed.db,
    );
    assert.deepEqual(recorded.rows, [{ name: "2026_11_26_001_ok" }]);
  });

  it("keeps services apart: same-named tables in two schemas do not see each other", async (t) => {
    const open = opened(t);
    const [a, b] = await Promise.all([
      open({ schema: testSchemaName("iso_a") }),
      open({ schema: testSchemaName("iso_b") }),
    ]);
    await a!.db.insertInto("things").values({ name: "only in a" }).execute();
    assert.equal((await a!.db.selectFrom("things").selectAll().execute()).length, 1);
    assert.deepEqual(await b!.db.selectFrom("things").selectAll().execute(), []);
    // Builder queries name their schema themselves; raw SQL names it with the Database's schema.
    const raw = await sql<{ count: string }>`select count(*) as count from ${sql.id(b!.schema, "things")}`.execute(
      b!.db,
    );
    assert.equal(raw.rows[0]?.count, "0");
    const compiled = a!.db.selectFrom("things").select("name").compile();
    assert.match(compiled.sql, new RegExp(`from "${a!.schema}"\\."things"`));
  });

  it("starts without migrating when told so, and refuses a schema its migrations have not reached", async (t) => {
    const open = opened(t);
    const schema = testSchemaName("nomigrate");
    // Never migrated: the process that may not run DDL says so and does not start.
    await assert.rejects(open({ schema, migrate: false }), (error: unknown) => {
      assert.ok(error instanceof MigrationError);
      assert.match(error.message, /migrate one-shot/);
      return true;
    });
    const { migrations } = countingMigrations();
    const migrated = await open({ schema, migrations, migrate: true });
    await migrated.db.insertInto("things").values({ name: "kept" }).execute();
    // Up to date: it starts and reads its tables.
    const runtime = await open({ schema, migrations, migrate: false });
    assert.equal((await runtime.db.selectFrom("things").selectAll().execute()).length, 1);
    // Newer code than schema: refused, naming what is pending; nothing was applied.
    const newer = { ...migrations, "2026_11_26_004_more": { up: async () => assert.fail("must not run") } };
    await assert.rejects(open({ schema, migrations: newer, migrate: false }), (error: unknown) => {
      assert.ok(error instanceof MigrationError);
      assert.match(error.message, /2026_11_26_004_more/);
      return true;
    });
    // Older code than schema (a rollback): it starts.
    const { "2026_11_26_003_create_kinds": _newest, ...older } = migrations;
    await open({ schema, migrations: older, migrate: false });
  });

  it("commits and rolls back transactions", async (t) => {
    const open = opened(t);
    const { db } = await open({ schema: testSchemaName("trx") });
    await db.transaction().execute(async (trx) => {
      await trx.insertInto("things").values({ name: "committed" }).execute();
    });
    await assert.rejects(
      db.transaction().execute(async (trx) => {
        await trx.insertInto("things").values({ name: "rolled back" }).execute();
        throw new Error("abort");
      }),
      /abort/,
    );
    const names = await db.selectFrom("things").select("name").execute();
    assert.deepEqual(names, [{ name: "committed" }]);
  });

  it("runs 20 concurrent read-modify-write transactions without losing an update", async (t) => {
    const open = opened(t);
    const { db } = await open({ schema: testSchemaName("counter") });
    await db.insertInto("counters").values({ id: "c", n: 0 }).execute();
    await Promise.all(
      Array.from({ length: 20 }, () =>
        db.transaction().execute(async (trx) => {
          const { n } = await trx
            .selectFrom("counters")
            .select("n")
            .where("id", "=", "c")
            .forUpdate()
            .executeTakeFirstOrThrow();
          await sleep(1); // let the others run, if they could
          await trx
            .updateTable("counters")
            .set({ n: n + 1 })
            .where("id", "=", "c")
            .execute();
        }),
      ),
    );
    const { n } = await db.selectFrom("counters").select("n").where("id", "=", "c").executeTakeFirstOrThrow();
    assert.equal(n, 20);
  });

  it("recognises unique violations, by constraint too", async (t) => {
    const open = opened(t);
    const { db } = await open({ schema: testSchemaName("unique") });
    await db.insertInto("things").values({ name: "dup" }).execute();
    const error = await db
      .insertInto("things")
      .values({ name: "dup" })
      .execute()
      .then(
        () => assert.fail("the duplicate was accepted"),
        (e: unknown) => e,
      );
    assert.equal(isUniqueViolation(error), true);
    assert.equal(isUniqueViolation(error, "things_name_key"), true);
    assert.equal(isUniqueViolation(error, "other_key"), false);
    assert.equal(isSerializationFailure(error), false);
    assert.equal(isUniqueViolation(new Error("plain")), false);
    assert.equal(isUniqueViolation({ code: "ECONNREFUSED" }), false);
    // Parameters stay out of errors (PGlite attaches them; pg does not): loggers print errors.
    assert.equal("params" in (error as object), false);
  });

  it("returns the same JavaScript types as node-postgres", async (t) => {
    const open = opened(t);
    const { db } = await open({ schema: testSchemaName("types") });
    const at = new Date("2026-11-26T10:00:00.000Z");
    await db
      .insertInto("kinds")
      .values({ big: "9007199254740993", doc: { a: [1, "x"] }, at, bytes: Buffer.from([1, 2, 255]), tags: ["a", "b"] })
      .execute();
    const row = await db.selectFrom("kinds").selectAll().executeTakeFirstOrThrow();
    assert.deepEqual(row, {
      big: "9007199254740993",
      doc: { a: [1, "x"] },
      at,
      bytes: Buffer.from([1, 2, 255]),
      tags: ["a", "b"],
    });
    assert.ok(Buffer.isBuffer(row.bytes));
    const count = await db
      .selectFrom("kinds")
      .select((eb) => eb.fn.countAll().as("n"))
      .executeTakeFirstOrThrow();
    assert.equal(count.n, "1");
    const updated = await db
      .updateTable("kinds")
      .set({ tags: ["c"] })
      .executeTakeFirstOrThrow();
    assert.equal(updated.numUpdatedRows, 1n);
  });

  it("pings while open and fails once closed", async (t) => {
    const open = opened(t);
    const database = await open({ schema: testSchemaName("ping") });
    await database.ping();
    await database.close();
    await database.close(); // twice is fine
    await assert.rejects(database.ping());
  });

  it("observes every query's duration by operation and logs slow queries without parameters", async (t) => {
    const open = opened(t);
    const metrics = new Metrics({ defaultMetrics: false });
    const { logger, lines } = capturingLogger();
    const { db } = await open({ schema: testSchemaName("metrics"), metrics, logger, slowQueryMs: 100 });
    await db.insertInto("things").values({ name: "m" }).execute();
    await db.selectFrom("things").selectAll().execute();
    await db.updateTable("things").set({ qty: 2 }).execute();
    await db.deleteFrom("things").execute();
    await sql`select pg_sleep(0.15), ${"secret-parameter"}::text as p`.execute(db);

    const text = await metrics.registry.getSingleMetricAsString("weelo_db_query_duration_seconds");
    for (const operation of ["select", "insert", "update", "delete", "other"]) {
      assert.match(
        text,
        new RegExp(`weelo_db_query_duration_seconds_count\\{service="things",operation="${operation}"\\} [1-9]`),
      );
    }
    // Other slow lines may appear (a migration waiting for the server-wide migration lock).
    const slow = lines().filter((line) => line.msg === "slow database query" && String(line.sql).includes("pg_sleep"));
    assert.equal(slow.length, 1);
    assert.equal(slow[0]?.level, "warn");
    assert.equal(slow[0]?.operation, "select");
    assert.ok(!JSON.stringify(lines()).includes("secret-parameter"), "parameters never reach the log");
  });

  it("rejects a schema name that is not a plain identifier", async () => {
    await assert.rejects(
      createDatabase({ service: "x", schema: 'bad"; drop', config: backend.config, migrations: {}, logger: silent }),
      /invalid schema name/,
    );
  });
}

describe("migrationsAtStart", () => {
  it("migrates at start outside production unless told otherwise, and never by default in production", () => {
    assert.equal(migrationsAtStart({ NODE_ENV: "development" }), true);
    assert.equal(migrationsAtStart({ NODE_ENV: "test" }), true);
    assert.equal(migrationsAtStart({ NODE_ENV: "production" }), false);
    assert.equal(migrationsAtStart({ NODE_ENV: "production", MIGRATE_ON_START: true }), true);
    assert.equal(migrationsAtStart({ NODE_ENV: "development", MIGRATE_ON_START: false }), false);
  });
});

describe("@weelo/db on embedded PGlite", () => {
  const backend: Backend = {
    kind: "pglite",
    config: { DATABASE_URL: undefined, DATA_DIR: "", DB_POOL_MIN: 0, DB_POOL_MAX: 1, DB_POOL_IDLE_MS: 1000 },
  };
  before(async () => {
    backend.config = { ...backend.config, DATA_DIR: await embeddedTestDataDir() };
  });
  after(async () => {
    if (backend.config.DATA_DIR) await rm(backend.config.DATA_DIR, { recursive: true, force: true });
  });

  contract(backend);

  it("shares one PGlite between the services of a process and closes it with the last one", async () => {
    const dataDir = await pgliteDataDir(backend.config.DATA_DIR);
    const open = (service: string) =>
      createDatabase<Tables>({
        service,
        schema: testSchemaName(service),
        config: backend.config,
        migrations: countingMigrations().migrations,
        logger: silent,
      });
    const [identity, fleet] = await Promise.all([open("identity"), open("fleet")]);
    assert.equal(pgliteRefCount(dataDir), 2);
    await identity!.db.insertInto("things").values({ name: "identity's" }).execute();

    await identity!.close();
    assert.equal(pgliteRefCount(dataDir), 1);
    await fleet!.db.insertInto("things").values({ name: "fleet's" }).execute();
    assert.deepEqual(await fleet!.db.selectFrom("things").select("name").execute(), [{ name: "fleet's" }]);

    await fleet!.close();
    assert.equal(pgliteRefCount(dataDir), 0);
    // Closed for good: the data stays on disk and a later start opens it again.
    const reopened = await createDatabase<Tables>({
      service: "identity",
      schema: identity!.schema,
      config: backend.config,
      migrations: countingMigrations().migrations,
      logger: silent,
    });
    assert.deepEqual(await reopened.db.selectFrom("things").select("name").execute(), [{ name: "identity's" }]);
    await reopened.close();
  });
});

const DATABASE_URL = process.env.DATABASE_URL;

describe("@weelo/db on a Postgres server", { skip: DATABASE_URL ? false : "DATABASE_URL not set" }, () => {
  const backend: Backend = {
    kind: "postgres",
    config: { DATABASE_URL, DATA_DIR: "", DB_POOL_MIN: 0, DB_POOL_MAX: 5, DB_POOL_IDLE_MS: 1000 },
  };

  contract(backend);

  // PgBouncer (1.18, scripts/pgbouncer.sh) refuses start-up options: that pooled run cannot make this connection.
  it("keeps start-up options given in DATABASE_URL", {
    skip: process.env.DATABASE_POOLED
      ? "connected through a transaction pooler, which refuses start-up options"
      : false,
  }, async (t) => {
    const schema = testSchemaName("options");
    const url = new URL(DATABASE_URL!);
    url.searchParams.set("options", "-c statement_timeout=4321");
    const database = await createDatabase<Tables>({
      service: "things",
      schema,
      config: { ...backend.config, DATABASE_URL: url.toString() },
      migrations: countingMigrations().migrations,
      logger: silent,
    });
    t.after(async () => {
      await database.close();
      await dropSchema(DATABASE_URL!, schema);
    });
    const settings = await sql<{ timeout: string; path: string }>`
      select current_setting('statement_timeout') as timeout`.execute(database.db);
    assert.deepEqual(settings.rows[0], { timeout: "4321ms" });
    assert.equal((await database.db.selectFrom("things").selectAll().execute()).length, 0);
  });

  it("migrates while other schemas are created and dropped around it (kysely's introspection read them all)", async (t) => {
    const churn = Array.from({ length: 4 }, () => testSchemaName("churn"));
    const schemas = Array.from({ length: 4 }, () => testSchemaName("migrating"));
    const opened: Database<Tables>[] = [];
    t.after(async () => {
      await Promise.allSettled(opened.map((d) => d.close()));
      for (const schema of [...schemas, ...churn]) await dropSchema(DATABASE_URL!, schema);
    });
    let churning = true;
    const admin = await createDatabase<Tables>({
      service: "things",
      schema: testSchemaName("admin"),
      config: backend.config,
      migrations: {},
      logger: silent,
    });
    schemas.push(admin.schema);
    opened.push(admin);
    // Other services' schemas (with serial columns: what the introspection looked up) come and go.
    const churner = (async () => {
      for (let round = 0; churning && round < 200; round++) {
        for (const schema of churn) {
          await sql
            .raw(
              `create schema if not exists ${schema}; create table if not exists ${schema}.t (id serial primary key, name text)`,
            )
            .execute(admin.db);
        }
        for (const schema of churn) await sql.raw(`drop schema if exists ${schema} cascade`).execute(admin.db);
      }
    })();
    try {
      for (let run = 0; run < 3; run++) {
        const batch = await Promise.all(
          schemas.slice(0, 4).map((schema) =>
            createDatabase<Tables>({
              service: "things",
              schema: `${schema}_${run}`,
              config: backend.config,
              migrations: countingMigrations().migrations,
              logger: silent,
            }),
          ),
        );
        opened.push(...batch);
        schemas.push(...batch.map((d) => d.schema));
      }
    } finally {
      churning = false;
      await churner;
    }
    assert.equal(opened.length, 13);
  });

  it("outlives its connection ended by the server between two statements of a transaction", async (t) => {
    const schema = testSchemaName("ended");
    const database = await createDatabase<Tables>({
      service: "things",
      schema,
      config: backend.config,
      migrations: countingMigrations().migrations,
      logger: silent,
    });
    const admin = new pg.Client({ connectionString: process.env.DATABASE_ADMIN_URL ?? DATABASE_URL });
    await admin.connect();
    t.after(async () => {
      await admin.end();
      await database.close();
      await dropSchema(DATABASE_URL!, schema);
    });
    // What a Postgres restart does to every session: FATAL "terminating connection due to
    // administrator command", here while the transaction waits between statements.
    const failed = await database.db
      .transaction()
      .execute(async (trx) => {
        const { rows } = await sql<{ pid: number }>`select pg_backend_pid() as pid`.execute(trx);
        await admin.query("select pg_terminate_backend($1)", [rows[0]!.pid]);
        await sleep(300);
        await sql`select 1`.execute(trx);
      })
      .then(
        () => false,
        () => true,
      );
    assert.ok(failed, "the transaction on the ended connection fails");
    // The process is still here, and the pool serves the next statement on a new connection.
    const { rows } = await sql<{ one: number }>`select 1 as one`.execute(database.db);
    assert.equal(rows[0]!.one, 1);
  });

  it("recognises serialization failures", async (t) => {
    const schema = testSchemaName("serial");
    const database = await createDatabase<Tables>({
      service: "things",
      schema,
      config: backend.config,
      migrations: countingMigrations().migrations,
      logger: silent,
    });
    t.after(async () => {
      await database.close();
      await dropSchema(DATABASE_URL!, schema);
    });
    const { db } = database;
    await db.insertInto("counters").values({ id: "c", n: 0 }).execute();
    // The first transaction reads, the second commits a change, then the first writes: 40001.
    let firstRead!: () => void;
    const read = new Promise<void>((resolve) => (firstRead = resolve));
    let resumeFirst!: () => void;
    const secondDone = new Promise<void>((resolve) => (resumeFirst = resolve));
    const first = db
      .transaction()
      .setIsolationLevel("repeatable read")
      .execute(async (trx) => {
        await trx.selectFrom("counters").select("n").execute();
        firstRead();
        await secondDone;
        await trx.updateTable("counters").set({ n: 1 }).where("id", "=", "c").execute();
      });
    await read;
    await db.updateTable("counters").set({ n: 2 }).where("id", "=", "c").execute();
    resumeFirst();
    const error = await first.then(
      () => assert.fail("the conflicting update was accepted"),
      (e: unknown) => e,
    );
    assert.equal(isSerializationFailure(error), true);
  });
});
