/**
 * The write path under more load than it can serve, in the all-in-one: CreateBooking's capacity,
 * then 1.5 × that offered open-loop (scenarios/_overload.ts says how and what is judged), each
 * request with a quote of its own. A booking sets off more work than its answer (the relay, then
 * dispatch, tracking, fleet and notification react): in the all-in-one that cascade shares the
 * gateway's event loop, so a refusal waits behind it.
 */
import type { MeasureResult, MeasureScenario } from "../lib/scenario.js";
import { createBookingOverloadRoute } from "./_gateway-calls.js";
import { measureOverload, ONE_WAVE_PER_RUN, PRODUCT_ADMISSION } from "./_overload.js";
import { benchDatabaseUrl } from "./_postgres.js";
import { startBenchSystem } from "./_system.js";

export default {
  name: "gateway-overload-booking",
  description: "CreateBooking at 1.5x the measured capacity: goodput kept, the excess refused with 429/503 at once",
  async measure(): Promise<MeasureResult> {
    const system = await startBenchSystem(
      {
        ...PRODUCT_ADMISSION,
        // As gateway-create-booking: the real Postgres, and one customer mints every quote.
        DATABASE_URL: benchDatabaseUrl(),
        DB_POOL_MAX: "70",
        QUOTES_PER_USER_PER_MINUTE: "100000",
        ...ONE_WAVE_PER_RUN,
      },
      { readyTimeoutMs: 120_000 },
    );
    try {
      return await measureOverload(system, createBookingOverloadRoute(system, await system.loginCustomer()));
    } finally {
      await system.stop();
    }
  },
} satisfies MeasureScenario;
