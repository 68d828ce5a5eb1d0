/**
 * Child-process entry of the load generator (see lib/load.ts): receives one
 * LoadJob over IPC, runs it with autocannon, sends the LoadResult back, exits.
 */
import { measure, type LoadJob } from "./load.js";

process.once("message", (job: LoadJob) => {
  measure(job).then(
    (result) => process.send?.({ ok: true, result }, () => process.exit(0)),
    (err: unknown) =>
      process.send?.({ ok: false, error: err instanceof Error ? (err.stack ?? err.message) : String(err) }, () =>
        process.exit(1),
      ),
  );
});

// The bench process went away (killed, Ctrl-C): stop loading at once.
process.on("disconnect", () => process.exit(1));
