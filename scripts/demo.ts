/**
 * `npm run demo`: the README's journey against a running system (http://localhost:3000, or
 * WEELO_URL, or --url), or with --start against an all-in-one it starts on a temporary data
 * folder (and stops). Prints each step; exits 1 on any failure.
 */
import { parseArgs } from "node:util";
import { createNodeWeeloClient, describeError } from "@weelo/client/node";
import { startSystemChild, type SystemChild } from "../sim/system.js";
import { playJourney } from "./demo/journey.js";

const { values } = parseArgs({
  options: {
    start: { type: "boolean", default: false },
    url: { type: "string", default: process.env.WEELO_URL ?? "http://localhost:3000" },
  },
});

let system: SystemChild | undefined;
let failed = false;
try {
  if (values.start) {
    console.log("starting the all-in-one on a temporary data folder…");
    system = await startSystemChild({});
  }
  const baseUrl = system?.url ?? values.url!;
  console.log(`the journey against ${baseUrl}`);
  const app = () => createNodeWeeloClient({ baseUrl });
  const result = await playJourney({ customer: app(), transporter: app(), driver: app() }, (line) => console.log(line));
  console.log(`done: booking ${result.bookingId} ${result.statuses.at(-1)}, ${result.pointsAcked} points acknowledged`);
} catch (error) {
  failed = true;
  console.error(`the journey failed: ${describeError(error)}: ${(error as Error).message}`);
  if (system) console.error(`system log: ${system.logPath}`);
} finally {
  await system?.stop();
}
process.exit(failed ? 1 : 0);
