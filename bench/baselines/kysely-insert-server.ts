/**
 * Baseline for CreateBooking: the same kind of work done the shortest way — node:http takes
 * a JSON body and inserts one row with kysely into Postgres (a pool like the services'),
 * then answers JSON. Its pool has as many connections as each service gets in that scenario. The gap to CreateBooking is what the gateway, the gRPC hop,
 * authentication, quote verification, validation, the order + bookings + history + outbox
 * rows and their transaction cost.
 *
 * Env: DATABASE_URL (required), BENCH_SCHEMA (a fresh schema, dropped by the scenario).
 * Prints `READY port=N`.
 */
import { createServer } from "node:http";
import { Kysely, PostgresDialect, sql } from "kysely";
import pg from "pg";
import { v7 as uuidv7 } from "uuid";
import { announceReady, exitOnSignal } from "../lib/ready.js";

const schema = process.env.BENCH_SCHEMA ?? "bench_insert";
const db = new Kysely<{ rows: { id: string; payload: string; created_at: Date } }>({
  dialect: new PostgresDialect({
    pool: new pg.Pool({
      connectionString: process.env.DATABASE_URL,
      max: 15,
      min: 5,
      options: `-c search_path=${schema}`,
    }),
  }),
});
await sql`create schema if not exists ${sql.id(schema)}`.execute(db);
await sql`create table if not exists ${sql.id(schema)}.rows (id uuid primary key, payload jsonb not null, created_at timestamptz not null default now())`.execute(
  db,
);

const server = createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on("data", (chunk: Buffer) => chunks.push(chunk));
  req.on("end", async () => {
    try {
      const payload = JSON.parse(Buffer.concat(chunks).toString("utf8")) as unknown;
      const id = uuidv7();
      await db
        .insertInto("rows")
        .values({ id, payload: JSON.stringify(payload), created_at: new Date() })
        .execute();
      const body = JSON.stringify({ id });
      res.writeHead(200, { "content-type": "application/json", "content-length": Buffer.byteLength(body) }).end(body);
    } catch (error) {
      res.writeHead(500).end(String(error));
    }
  });
});
server.listen(0, "127.0.0.1", () => announceReady(server));
exitOnSignal(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()));
  await db.destroy();
});
