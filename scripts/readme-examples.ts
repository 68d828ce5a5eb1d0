/**
 * `npm run readme:check`: runs every ```sh / ```bash block of README.md, in order, in one bash
 * (later blocks use what earlier ones set), against a system it starts (the all-in-one on a
 * temporary data folder, on free ports) or the one at --url. Fails loudly: the first command
 * that fails stops the run and names the README line of its block; every curl fails on an
 * HTTP error (`--fail-with-body`) unless it prints its status itself (`-w`).
 *
 * A block preceded by `<!-- readme-examples: skip (why) -->` is not run (it starts a
 * long-running process, e.g. `npm start`); one preceded by `<!-- readme-examples: needs TOOL -->`
 * runs only where TOOL is installed. Both are listed at the end.
 */
import { execFile, spawn } from "node:child_process";
import { readFile } from "node:fs/promises";
import { parseArgs } from "node:util";
import { restartablePort } from "@weelo/testing";
import { type SystemChild, startSystemChild } from "../sim/system.js";

const ROOT = new URL("..", import.meta.url).pathname;

export interface Block {
  /** 1-based line of the opening fence. */
  line: number;
  code: string;
  skip?: string;
  needs?: string;
}

/** The shell blocks of a Markdown text, with their markers. */
export function shellBlocks(markdown: string): Block[] {
  const lines = markdown.split("\n");
  const blocks: Block[] = [];
  for (let i = 0; i < lines.length; i++) {
    if (!/^```(sh|bash)\s*$/.test(lines[i]!)) continue;
    const start = i;
    const body: string[] = [];
    for (i += 1; i < lines.length && !lines[i]!.startsWith("```"); i++) body.push(lines[i]!);
    const marker = /<!--\s*readme-examples:\s*(skip|needs)\s*(.*?)\s*-->/.exec(lines[start - 1] ?? "");
    const block: Block = { line: start + 1, code: body.join("\n") };
    if (marker?.[1] === "skip") block.skip = marker[2]!.replace(/^\(|\)$/g, "") || "marked skip";
    if (marker?.[1] === "needs") block.needs = marker[2]!;
    blocks.push(block);
  }
  return blocks;
}

/** One bash script of the blocks: strict mode, loud curl, each block announced and traced to its line. */
export function script(blocks: Block[], has: (tool: string) => boolean): { text: string; notRun: string[] } {
  const notRun: string[] = [];
  const parts = [
    "set -euo pipefail",
    // Every curl fails on an HTTP error unless it prints its status itself; a newline after each answer.
    `curl() { local rc=0; case " $* " in *" -w "*|*" --write-out "*) command curl "$@" || rc=$? ;; *) command curl --fail-with-body "$@" || rc=$? ;; esac; echo; return $rc; }`,
    `trap 'echo "README.md: the block at line $README_LINE failed (exit $?) at: $BASH_COMMAND" >&2' ERR`,
  ];
  for (const block of blocks) {
    if (block.skip) {
      notRun.push(`line ${block.line}: skipped (${block.skip})`);
      continue;
    }
    if (block.needs && !has(block.needs)) {
      notRun.push(`line ${block.line}: not run, ${block.needs} is not installed`);
      continue;
    }
    parts.push(`README_LINE=${block.line}`, `printf '\\n== README.md line %s\\n' ${block.line}`, block.code);
  }
  return { text: `${parts.join("\n")}\n`, notRun };
}

function installed(tool: string): Promise<boolean> {
  return new Promise((resolve) => execFile("sh", ["-c", `command -v ${tool}`], (error) => resolve(!error)));
}

async function main(): Promise<number> {
  const { values } = parseArgs({ options: { url: { type: "string" }, grpc: { type: "string" } } });
  const blocks = shellBlocks(await readFile(`${ROOT}README.md`, "utf8"));
  const tools = new Set<string>();
  for (const block of blocks) if (block.needs && (await installed(block.needs))) tools.add(block.needs);
  const { text, notRun } = script(blocks, (tool) => tools.has(tool));
  let system: SystemChild | undefined;
  const env: Record<string, string> = { ...(process.env as Record<string, string>) };
  try {
    if (values.url) {
      env.API = values.url;
      if (values.grpc) env.GRPC = values.grpc;
    } else {
      const metricsPort = await restartablePort();
      console.log("starting the all-in-one on a temporary data folder…");
      system = await startSystemChild({
        METRICS_PORT: String(metricsPort),
        MESH_PORT: String(await restartablePort()),
      });
      Object.assign(env, {
        API: system.url,
        GRPC: `127.0.0.1:${system.env.GRPC_PORT}`,
        METRICS_PORT: String(metricsPort),
      });
    }
    console.log(`README.md: ${blocks.length} shell blocks against ${env.API}`);
    const code = await new Promise<number>((resolve) => {
      const bash = spawn("bash", ["-c", text], { cwd: ROOT, env, stdio: "inherit" });
      bash.once("exit", (exit) => resolve(exit ?? 1));
    });
    for (const line of notRun) console.log(`README.md ${line}`);
    if (code !== 0) {
      console.error(`README examples failed (exit ${code})${system ? `; system log: ${system.logPath}` : ""}`);
      return 1;
    }
    console.log("README examples: every block ran");
    return 0;
  } finally {
    await system?.stop();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) process.exit(await main());
