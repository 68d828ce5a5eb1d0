/** `npm start`: every service and the gateway in one process on the embedded defaults. */
import { runMain } from "@weelo/runtime";
import { startSystem } from "./system.js";

await runMain(async () => {
  // One process owns every schema: it migrates them as it starts, even in production (unless
  // MIGRATE_ON_START says otherwise); the split services leave that to the migrate one-shot.
  const system = await startSystem({ MIGRATE_ON_START: "true", ...process.env });
  system.platform.logger.info(
    { gateway: system.url, grpc: system.grpcPort, admin: system.adminUrl },
    `Weelo is up: try  curl -s -X POST ${system.url}/api/v1/auth/send-otp -H 'content-type: application/json' -d '{"phone":"9876543210","role":"customer"}'`,
  );
  return system.platform;
});
