/**
 * Child entry for the GetMe mesh comparison: the all-in-one exactly as `npm start` runs it
 * (system/src/all-in-one.ts), with the gateway → service hop chosen by BENCH_MESH_HOP, a
 * variable only this bench script reads:
 * - `mtls` (default, what the product does): unchanged; a counter of the TLS handshakes the mesh
 *   listener completes is printed at exit (`TLS handshakes=N resumed=R`), to show they stay at
 *   one per channel;
 * - `plaintext` (scenario gateway-get-me-plaintext, a comparison point only): before the system
 *   starts, this process's Mesh hands out insecure server and channel credentials and names every
 *   mesh peer "gateway" (a plaintext connection proves no one; only the gateway calls in a GetMe
 *   run). Nothing in the product changes: this patches the Mesh class of this bench child, so
 *   there is no way to turn the mesh off in a deployed process.
 *
 * Started by bench/scenarios/_system.ts (`startBenchSystem(env, { meshHop })`).
 */
import * as grpc from "@grpc/grpc-js";
import { Mesh } from "@weelo/grpc";
import { countTlsHandshakes, printHandshakesAtExit } from "../lib/tls-handshakes.js";

const hop = process.env.BENCH_MESH_HOP ?? "mtls";
if (hop === "plaintext") {
  Mesh.prototype.serverCredentials = async () => grpc.ServerCredentials.createInsecure();
  Mesh.prototype.channelCredentials = () => grpc.credentials.createInsecure();
  Mesh.prototype.callerOf = () => "gateway";
  process.stdout.write("bench: mesh hop is PLAINTEXT in this process (gateway-get-me-plaintext)\n");
} else if (hop === "mtls") {
  printHandshakesAtExit(countTlsHandshakes());
} else {
  throw new Error(`BENCH_MESH_HOP must be mtls or plaintext, not ${hop}`);
}

await import("../../system/src/all-in-one.js");
