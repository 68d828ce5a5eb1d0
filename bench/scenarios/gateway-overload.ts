/**
 * The gateway under more load than it can serve, in the all-in-one: GetMe's capacity, then
 * 1.5 × that offered open-loop (scenarios/_overload.ts says how and what is judged).
 */
import type { MeasureResult, MeasureScenario } from "../lib/scenario.js";
import { measureOverload, PRODUCT_ADMISSION } from "./_overload.js";
import { startBenchSystem } from "./_system.js";

export default {
  name: "gateway-overload",
  description: "GetMe at 1.5x the measured capacity: goodput kept, the excess refused with 429/503 at once",
  async measure(): Promise<MeasureResult> {
    const system = await startBenchSystem(PRODUCT_ADMISSION, { readyTimeoutMs: 120_000 });
    try {
      return await measureOverload(system);
    } finally {
      await system.stop();
    }
  },
} satisfies MeasureScenario;
