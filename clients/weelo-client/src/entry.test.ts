/**
 * The main entry must load in browsers and React Native: nothing it reaches may import a
 * Node-only module. Follows its relative imports and checks every module specifier.
 */
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { describe, it } from "node:test";

const HERE = dirname(new URL(import.meta.url).pathname);
const NODE_ONLY = /^(node:|@connectrpc\/connect-node|@grpc\/grpc-js|fs$|path$|http2?$|net$|crypto$)/;

async function reachable(file: string, seen = new Map<string, string[]>()): Promise<Map<string, string[]>> {
  if (seen.has(file)) return seen;
  const text = await readFile(file, "utf8");
  const specifiers = [...text.matchAll(/^(?:import|export)[^"']*?from\s+["']([^"']+)["']/gm)].map((m) => m[1]!);
  seen.set(file, specifiers);
  for (const specifier of specifiers)
    if (specifier.startsWith(".")) await reachable(join(dirname(file), specifier.replace(/\.js$/, ".ts")), seen);
  return seen;
}

describe("@weelo/client entries", () => {
  it("the main entry reaches no Node-only module; the node entry adds connect-node", async () => {
    const main = await reachable(join(HERE, "index.ts"));
    assert.ok(main.size >= 6, `modules followed: ${[...main.keys()].join(", ")}`);
    for (const [file, specifiers] of main)
      for (const specifier of specifiers)
        assert.doesNotMatch(specifier, NODE_ONLY, `${file} imports ${specifier}, which browsers cannot load`);
    const node = await reachable(join(HERE, "node.ts"));
    assert.ok([...node.values()].flat().includes("@connectrpc/connect-node"));
  });
});
