/**
 * gateway-overload in the deployed topology: the gateway and each service in its own process
 * from the build (dist/), GetMe's hop on the mutual-TLS mesh port, on the real Postgres, Redis
 * and NATS (skipped with the reason printed when their URLs are not set). A mesh of its own,
 * not the closed-loop scenarios' shared one: the gateway runs with the product's admission line
 * (PRODUCT_ADMISSION). Server CPU is every process of the mesh.
 */
import type { MeasureResult, MeasureScenario } from "../lib/scenario.js";
import { startBenchMesh } from "./_mesh.js";
import { measureOverload, PRODUCT_ADMISSION } from "./_overload.js";

export default {
  name: "gateway-overload-mesh",
  description: "gateway-overload with the gateway and identity in processes of their own (the mesh)",
  async measure(): Promise<MeasureResult> {
    const mesh = await startBenchMesh(PRODUCT_ADMISSION);
    try {
      const gateway = mesh.system.processes.find((p) => p.service === "gateway");
      return await measureOverload({ ...mesh.client, adminUrl: gateway?.adminUrl, gatewayPid: gateway?.child?.pid });
    } finally {
      await mesh.stop();
    }
  },
} satisfies MeasureScenario;
