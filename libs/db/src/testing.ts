/**
 * Helpers for tests that use @weelo/db. PGlite's initdb takes seconds and lots of memory, so
 * a template data directory is made once per machine (per PGlite version) and each test gets
 * a cheap copy of it. Against a real server, each test works in a schema of its own.
 */
import { randomBytes } from "node:crypto";
import { cp, mkdtemp, readFile, rename, rm, stat } from "node:fs/promises";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { PGlite } from "@electric-sql/pglite";
import { sql } from "kysely";
import pg from "pg";
import type { Database } from "./database.js";

let template: Promise<string> | undefined;

/**
 * A fresh DATA_DIR for a test: a new temporary folder whose `pglite/` is a copy of an already
 * initialised data directory. Remove it when done (`rm(dir, { recursive: true, force: true })`).
 */
export async function embeddedTestDataDir(): Promise<string> {
  template ??= ensureTemplate().catch((error: unknown) => {
    template = undefined; // let a later call try again
    throw error;
  });
  const source = await template;
  const dataDir = await mkdtemp(join(tmpdir(), "weelo-db-test-"));
  await cp(source, join(dataDir, "pglite"), { recursive: true });
  return dataDir;
}

/**
 * The machine-wide template for the installed PGlite version. Built in a private folder and
 * renamed into place, so a reader never sees a half-made one; when several test processes
 * race, the first rename wins and the others throw their copy away.
 */
async function ensureTemplate(): Promise<string> {
  const target = join(tmpdir(), `weelo-pglite-template-${await pgliteVersion()}`);
  if (await isDataDir(target)) return target;
  const building = await mkdtemp(`${target}.building-`);
  try {
    const pglite = await PGlite.create(join(building, "data"));
    await pglite.close();
    try {
      await rename(join(building, "data"), target);
    } catch (error) {
      // Another process got there first (ENOTEMPTY/EEXIST): theirs is as good as ours.
      if (!(await isDataDir(target))) throw error;
    }
  } finally {
    await rm(building, { recursive: true, force: true });
  }
  return target;
}

async function pgliteVersion(): Promise<string> {
  // The package's exports hide package.json; its entry point sits in dist/ beside it.
  const entry = createRequire(import.meta.url).resolve("@electric-sql/pglite");
  const manifest = JSON.parse(await readFile(join(dirname(entry), "..", "package.json"), "utf8")) as {
    version: string;
  };
  return manifest.version;
}

async function isDataDir(dir: string): Promise<boolean> {
  return stat(join(dir, "PG_VERSION")).then(
    () => true,
    () => false,
  );
}

/** A schema name no other test uses: `t_<prefix>_<random>`, a valid unquoted identifier. */
export function testSchemaName(prefix: string): string {
  const clean = prefix
    .toLowerCase()
    .replace(/[^a-z0-9_]+/g, "_")
    .slice(0, 40);
  return `t_${clean}_${randomBytes(6).toString("hex")}`;
}

/**
 * Drops a test schema and everything in it, through an open Database or a connection string
 * (handy in an `after` hook once the Database is closed).
 */
export async function dropSchema(target: Database<any> | string, schema: string): Promise<void> {
  if (typeof target !== "string") {
    await sql`drop schema if exists ${sql.id(schema)} cascade`.execute(target.db);
    return;
  }
  const client = new pg.Client({ connectionString: target });
  await client.connect();
  try {
    await client.query(`drop schema if exists "${schema.replaceAll('"', '""')}" cascade`);
  } finally {
    await client.end();
  }
}
