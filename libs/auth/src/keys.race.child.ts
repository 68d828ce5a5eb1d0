/**
 * A process of keys.test.ts' race: `<startAt ms> <dir>...` loads the development keys of each
 * folder at startAt + 150 ms × its index (every process at the same instants) and prints the key
 * ids, or the errors, as one JSON array.
 */
import { loadKeyMaterial } from "./keys.js";

const [startAt, ...dirs] = process.argv.slice(2);
const results: string[] = [];
for (const [i, DATA_DIR] of dirs.entries()) {
  const at = Number(startAt) + i * 150;
  await new Promise((resolve) => setTimeout(resolve, Math.max(0, at - Date.now() - 2)));
  while (Date.now() < at); // the last milliseconds spun, so the processes start together
  try {
    results.push((await loadKeyMaterial({ DATA_DIR, NODE_ENV: "development" })).keyId);
  } catch (error) {
    results.push(`error: ${(error as Error).message}`);
  }
}
console.log(JSON.stringify(results));
