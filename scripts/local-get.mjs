#!/usr/bin/env node
// `npm run health` / `npm run metrics`: prints what the running system's admin listener answers on
// a path (http://127.0.0.1:$METRICS_PORT, port 9464 by default: metrics and detailed health are
// never on the app port); exits non-zero when it is not up or not ready.
const path = process.argv[2] ?? "/health/detailed";
const url = `http://127.0.0.1:${process.env.METRICS_PORT || 9464}${path}`;
try {
  const response = await fetch(url, { signal: AbortSignal.timeout(5000) });
  process.stdout.write(await response.text());
  process.stdout.write("\n");
  if (!response.ok) process.exitCode = 1;
} catch (error) {
  console.error(`nothing answers on ${url}: ${error.cause?.code ?? error.message} (is the gateway running? npm start)`);
  process.exitCode = 1;
}
