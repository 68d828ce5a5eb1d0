// Preloaded into a bench server (`--require`, set by BENCH_HEAP_SURVIVORS=<dir>): V8's sampling
// heap profiler records, from start to exit, the allocations that outlive a scavenge (still
// alive at the end, or collected later by a Mark-Compact) and leaves out what the young
// generation collects. Those are the bytes that get copied and promoted, so the GC pauses that
// make a loaded server's latency tail. Written to <dir>/<script>.<pid>.heapprofile when the
// process stops; summarize with `node bench/lib/heap-summary.mjs <file>` or open it in Chrome
// DevTools (Memory, "Allocation sampling").
const inspector = require("node:inspector");
const { writeFileSync } = require("node:fs");
const { tmpdir } = require("node:os");
const { basename, dirname, join, resolve } = require("node:path");

const dir = resolve(process.env.BENCH_HEAP_SURVIVORS ?? tmpdir());
const script = process.argv[1] ?? "node";
const name = `${basename(dirname(script))}-${basename(script).replace(/\.[cm]?[jt]s$/, "")}`;
const session = new inspector.Session();
session.connect();
let sampling = false;
// An in-process session answers synchronously, so this also works in an "exit" listener.
session.post(
  "HeapProfiler.startSampling",
  { samplingInterval: 16384, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: false },
  (error) => {
    if (error) console.error(`heap-survivors: could not start: ${error.message}`);
    else sampling = true;
  },
);

function write() {
  if (!sampling) return;
  sampling = false;
  session.post("HeapProfiler.stopSampling", (error, result) => {
    if (error) return console.error(`heap-survivors: could not stop: ${error.message}`);
    const file = join(dir, `${name}.${process.pid}.heapprofile`);
    writeFileSync(file, JSON.stringify(result.profile));
    console.error(`heap-survivors: wrote ${file}`);
  });
}

// Written at the signal, before the server's own shutdown runs; a process with no handler of
// its own is then stopped by the signal as it would have been without this file.
for (const signal of ["SIGTERM", "SIGINT"]) {
  const onSignal = () => {
    write();
    if (process.listenerCount(signal) === 1) {
      process.off(signal, onSignal);
      process.kill(process.pid, signal);
    }
  };
  process.prependListener(signal, onSignal);
}
process.on("exit", write);
