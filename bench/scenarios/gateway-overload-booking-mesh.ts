/**
 * gateway-overload-booking in the deployed topology: the gateway, booking, pricing and the
 * services that react to a booking each in a process of its own (scenarios/_mesh.ts), with the
 * product's admission line. Here the gateway's event loop is its own: the cascade behind the
 * answers competes for the cores, not for the loop that refuses. Skipped with the reason printed
 * when the real servers' URLs are not set.
 */
import type { MeasureResult, MeasureScenario } from "../lib/scenario.js";
import { createBookingOverloadRoute } from "./_gateway-calls.js";
import { startBenchMesh } from "./_mesh.js";
import { measureOverload, ONE_WAVE_PER_RUN, PRODUCT_ADMISSION } from "./_overload.js";

export default {
  name: "gateway-overload-booking-mesh",
  description: "gateway-overload-booking with the gateway and each service in processes of their own (the mesh)",
  async measure(): Promise<MeasureResult> {
    const mesh = await startBenchMesh({ ...PRODUCT_ADMISSION, ...ONE_WAVE_PER_RUN });
    try {
      const gateway = mesh.system.processes.find((p) => p.service === "gateway");
      const route = createBookingOverloadRoute(mesh.client, await mesh.client.loginCustomer());
      return await measureOverload(
        { ...mesh.client, adminUrl: gateway?.adminUrl, gatewayPid: gateway?.child?.pid },
        route,
      );
    } finally {
      await mesh.stop();
    }
  },
} satisfies MeasureScenario;
