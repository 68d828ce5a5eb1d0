/**
 * Work a restart must not lose, read from the run's own schemas (psql on DATABASE_URL): dispatch's
 * waves, assignment deadlines and booking calls that are due, and outbox rows not yet published,
 * in every schema of the run that has an outbox. The mesh fault run counts them when it stops a
 * process with work due, and again once the restart has settled: nothing may be overdue then.
 */
import { execFile } from "node:child_process";
import { promisify } from "node:util";

const run = promisify(execFile);

export type WorkCounts = Record<string, number>;

const ident = (name: string) => `"${name.replace(/"/g, '""')}"`;

/** What is due (late by more than lateS seconds), by kind; kinds with none are left out. */
export async function workDue(databaseUrl: string, schemaPrefix: string, lateS = 0): Promise<WorkCounts> {
  const psql = async (sql: string) =>
    (await run("psql", [databaseUrl, "-XAt", "-F", "\t", "-c", sql], { timeout: 20_000 })).stdout
      .split("\n")
      .filter(Boolean)
      .map((line) => line.split("\t"));
  const like = `${schemaPrefix.replace(/[\\_%]/g, (c) => `\\${c}`)}%`;
  const outboxes = (
    await psql(
      `select table_schema from information_schema.tables where table_name = 'outbox' and table_schema like '${like}' order by 1`,
    )
  ).map(([schema]) => schema!);
  const dispatch = ident(`${schemaPrefix}dispatch`);
  const late = `now() - make_interval(secs => ${Number(lateS)})`;
  const parts = [
    `select 'waves', count(*) from ${dispatch}.broadcasts where status = 'open' and next_wave_at < ${late}`,
    `select 'assignment deadlines', count(*) from ${dispatch}.bookings where state = 'accepted' and assign_by < ${late}`,
    `select 'booking calls', count(*) from ${dispatch}.bookings where booking_call_due_at < ${late}`,
    ...outboxes.map(
      (schema) =>
        `select 'outbox rows of ${schema.slice(schemaPrefix.length)}', count(*) from ${ident(schema)}.outbox where published_at is null and created_at < ${late}`,
    ),
  ];
  const counts: WorkCounts = {};
  for (const [kind, count] of await psql(parts.join(" union all ")))
    if (Number(count) > 0) counts[kind!] = Number(count);
  return counts;
}

export function describeWork(counts: WorkCounts): string {
  const entries = Object.entries(counts);
  return entries.length === 0 ? "none" : entries.map(([kind, n]) => `${n} ${kind}`).join(", ");
}
