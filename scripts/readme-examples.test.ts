/**
 * The README checker's reading of Markdown: which blocks run, which are skipped and why, and
 * the strict bash it makes of them (a failing command stops the run and names its line).
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { describe, it } from "node:test";
import { promisify } from "node:util";
import { script, shellBlocks } from "./readme-examples.js";

const MARKDOWN = [
  "# title",
  "```sh",
  "A=1",
  "```",
  "<!-- readme-examples: skip (starts a server) -->",
  "```sh",
  "npm start",
  "```",
  "```js",
  "console.log(1)",
  "```",
  "<!-- readme-examples: needs grpcurl -->",
  "```bash",
  "grpcurl list",
  "```",
  "```sh",
  'echo "A is $A"',
  "false",
  "echo never",
  "```",
].join("\n");

describe("readme-examples", () => {
  it("finds the sh and bash blocks with their lines and markers", () => {
    const blocks = shellBlocks(MARKDOWN);
    assert.deepEqual(
      blocks.map((b) => [b.line, b.skip, b.needs]),
      [
        [2, undefined, undefined],
        [6, "starts a server", undefined],
        [13, undefined, "grpcurl"],
        [16, undefined, undefined],
      ],
    );
  });

  it("runs the blocks in one strict shell: variables carry over, the first failure stops it and names its line", async () => {
    const { text, notRun } = script(shellBlocks(MARKDOWN), () => false);
    assert.deepEqual(notRun, ["line 6: skipped (starts a server)", "line 13: not run, grpcurl is not installed"]);
    const failure = await promisify(execFile)("bash", ["-c", text]).then(
      () => undefined,
      (error: { code: number; stdout: string; stderr: string }) => error,
    );
    assert.ok(failure, "the run failed");
    assert.match(failure.stdout, /A is 1/);
    assert.doesNotMatch(failure.stdout, /never/);
    assert.match(failure.stderr, /README\.md: the block at line 16 failed/);
  });
});
