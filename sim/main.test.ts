/**
 * `npm run simulate` with nothing running: one line that says how to start a system, exit 1
 * (not a stack trace). The simulator runs as a child process, asynchronously.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { describe, it } from "node:test";
import { freePort } from "@weelo/testing";

describe("simulate without a system", () => {
  it("prints one line suggesting --start and exits 1", async () => {
    const url = `http://127.0.0.1:${await freePort()}`; // nothing listens there
    const main = fileURLToPath(new URL("./main.ts", import.meta.url));
    const { code, stdout, stderr } = await new Promise<{ code: number | null; stdout: string; stderr: string }>(
      (resolve) => {
        execFile(
          process.execPath,
          ["--import", "tsx", main, "--url", url, "--short"],
          { timeout: 60_000 },
          (error, stdout, stderr) =>
            resolve({ code: error ? ((error as { code?: number }).code ?? null) : 0, stdout, stderr }),
        );
      },
    );
    assert.equal(code, 1, stderr);
    assert.equal(stdout, "");
    const lines = stderr.trim().split("\n");
    assert.equal(lines.length, 1, stderr);
    assert.match(
      lines[0]!,
      new RegExp(`no Weelo system answers at ${url.replace(/\./g, "\\.")}: .*npm run simulate -- --start`),
    );
    assert.doesNotMatch(stderr, /\n\s+at /);
  });
});
