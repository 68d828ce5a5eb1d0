/** The Postgres the database scenarios use, and their cleanup. */
import { dropSchema } from "@weelo/db";

/** DATABASE_URL, else the local server every machine here runs. */
export function benchDatabaseUrl(): string {
  return process.env.DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/test";
}

export async function dropBenchSchema(schemas: string[]): Promise<void> {
  for (const schema of schemas) await dropSchema(benchDatabaseUrl(), schema).catch(() => undefined);
}
