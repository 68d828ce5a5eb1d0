/**
 * The migrate one-shot and least privilege, against the real Postgres: every schema migrated
 * by the DDL role, each service's runtime role limited to its own schema's data (no DDL, no
 * other schema), and a service starting as that role without migrating. Schemas and roles get
 * names of their own and are dropped afterwards (roles are server-wide).
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, before, describe, it } from "node:test";
import { bookingMigrations } from "@weelo/booking";
import { createDatabase, dropSchema, PgErrorCode, pgErrorCode } from "@weelo/db";
import { createLogger } from "@weelo/log";
import pg from "pg";
import { migrateAll, serviceMigrations } from "./migrations.js";

const DATABASE_URL = process.env.DATABASE_URL;
// Roles connect straight to Postgres: a pooler's user list would not know these test roles.
const ADMIN_URL = process.env.DATABASE_ADMIN_URL ?? DATABASE_URL;
const silent = createLogger({ service: "migrate-test", level: "silent" });

describe("the migrate one-shot and the services' runtime roles", {
  skip: DATABASE_URL ? false : "DATABASE_URL not set",
}, () => {
  const suffix = randomBytes(4).toString("hex");
  const schemaPrefix = `t_mig_${suffix}_`;
  const rolePrefix = `t_role_${suffix}_`;
  const services = Object.keys(serviceMigrations);
  const roleUrl = (service: string) => {
    const url = new URL(ADMIN_URL!);
    url.username = `${rolePrefix}${service}`;
    url.password = "not-used-with-trust-auth";
    return url.toString();
  };
  /** Runs one statement as a service's runtime role; resolves to the SQLSTATE it failed with, or "ok". */
  const asRole = async (service: string, statement: string): Promise<string> => {
    const client = new pg.Client({ connectionString: roleUrl(service) });
    await client.connect();
    try {
      await client.query(statement);
      return "ok";
    } catch (error) {
      return pgErrorCode(error) ?? String(error);
    } finally {
      await client.end();
    }
  };

  before(async () => {
    // Through the pooler or not (DATABASE_URL): the migration lock and grants hold in transactions only.
    await migrateAll({
      databaseUrl: DATABASE_URL!,
      schemaPrefix,
      rolePrefix,
      passwords: { booking: "a-password" },
      logger: silent,
    });
  });

  after(async () => {
    for (const service of services) await dropSchema(ADMIN_URL!, `${schemaPrefix}${service}`);
    const admin = new pg.Client({ connectionString: ADMIN_URL });
    await admin.connect();
    try {
      for (const service of services) {
        const role = `${rolePrefix}${service}`;
        const exists = await admin.query("select 1 from pg_roles where rolname = $1", [role]);
        if (!exists.rowCount) continue;
        await admin.query(`drop owned by ${role}`);
        await admin.query(`drop role ${role}`);
      }
    } finally {
      await admin.end();
    }
  });

  it("lets a runtime role read and write its own tables", async () => {
    const booking = `${schemaPrefix}booking`;
    assert.equal(await asRole("booking", `select count(*) from ${booking}.bookings`), "ok");
    assert.equal(await asRole("booking", `delete from ${booking}.booking_status_history where false`), "ok");
    // Its migration records it may read (the start-up check), never change.
    assert.equal(await asRole("booking", `select name from ${booking}.kysely_migration`), "ok");
    assert.equal(await asRole("booking", `delete from ${booking}.kysely_migration`), PgErrorCode.insufficientPrivilege);
  });

  it("refuses a runtime role any DDL", async () => {
    const booking = `${schemaPrefix}booking`;
    const denied = PgErrorCode.insufficientPrivilege;
    assert.equal(await asRole("booking", `create table ${booking}.sneaky (id int)`), denied);
    assert.equal(await asRole("booking", `alter table ${booking}.bookings add column sneaky int`), denied);
    assert.equal(await asRole("booking", `drop table ${booking}.booking_status_history`), denied);
    assert.equal(await asRole("booking", `create index sneaky_idx on ${booking}.bookings (id)`), denied);
    assert.equal(await asRole("booking", `create schema ${schemaPrefix}sneaky`), denied);
    assert.equal(await asRole("booking", "create table public.sneaky (id int)"), denied);
  });

  it("keeps a runtime role out of every other service's schema", async () => {
    for (const other of services.filter((s) => s !== "booking")) {
      assert.equal(
        await asRole("booking", `select name from ${schemaPrefix}${other}.kysely_migration`),
        PgErrorCode.insufficientPrivilege,
        `booking's role reached ${other}'s schema`,
      );
    }
    assert.equal(
      await asRole("dispatch", `select count(*) from ${schemaPrefix}booking.bookings`),
      PgErrorCode.insufficientPrivilege,
    );
  });

  it("starts a service as its runtime role without migrating, and refuses it when a migration is pending", async (t) => {
    const open = (migrations: typeof bookingMigrations) =>
      createDatabase<{ bookings: { id: string } }>({
        service: "booking",
        schema: `${schemaPrefix}booking`,
        config: {
          DATABASE_URL: roleUrl("booking"),
          DATA_DIR: "",
          DB_POOL_MIN: 0,
          DB_POOL_MAX: 2,
          DB_POOL_IDLE_MS: 1000,
        },
        migrations,
        logger: silent,
        migrate: false,
      });
    const database = await open(bookingMigrations);
    t.after(() => database.close());
    assert.deepEqual(await database.db.selectFrom("bookings").select("id").limit(1).execute(), []);
    const newer = { ...bookingMigrations, "2999_01_01_001_later": { up: async () => undefined } };
    await assert.rejects(open(newer), /2999_01_01_001_later/);
  });

  it("runs again as a no-op that keeps the grants (every deploy runs it)", async () => {
    await migrateAll({ databaseUrl: DATABASE_URL!, schemaPrefix, rolePrefix, logger: silent });
    assert.equal(await asRole("booking", `select count(*) from ${schemaPrefix}booking.bookings`), "ok");
    assert.equal(
      await asRole("booking", `create table ${schemaPrefix}booking.sneaky (id int)`),
      PgErrorCode.insufficientPrivilege,
    );
  });
});
