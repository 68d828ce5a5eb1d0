/**
 * Reference for gateway-create-booking: one kysely insert per request into the real
 * Postgres behind a raw node:http server (see baselines/kysely-insert-server.ts).
 * Needs Postgres: DATABASE_URL, else the local server at 127.0.0.1:5432.
 */
import { startChild } from "../lib/child.js";
import type { Scenario } from "../lib/scenario.js";
import { benchDatabaseUrl, dropBenchSchema } from "./_postgres.js";

export default {
  name: "kysely-insert",
  description: "reference: node:http + one kysely insert into Postgres per request",
  async start() {
    const schema = `bench_insert_${process.pid}`;
    const server = await startChild({
      name: "kysely-insert",
      script: "bench/baselines/kysely-insert-server.ts",
      env: { DATABASE_URL: benchDatabaseUrl(), BENCH_SCHEMA: schema },
    });
    return {
      url: `${server.baseUrl}/rows`,
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        goodsType: "furniture",
        weightKg: 800,
        vehicleType: "lcv_14ft",
        vehicleCount: 1,
        idempotencyKey: "[<id>]",
      }),
      idReplacement: true,
      async stop() {
        await server.stop();
        await dropBenchSchema([schema]);
      },
    };
  },
} satisfies Scenario;
