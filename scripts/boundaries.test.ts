/**
 * The package boundaries that let a service be built, tested and deployed alone: no service
 * (and not the gateway) depends on or imports another service's package, and none reaches into
 * another workspace by a relative path. Only @weelo/system composes services.
 */
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";
import { describe, it } from "node:test";

const root = new URL("..", import.meta.url).pathname;
const services = readdirSync(join(root, "services")).sort();
const servicePackages = new Set(services.map((name) => `@weelo/${name}`));

/** Every workspace that must stay apart from the services it does not own. */
const apart = [
  ...services.map((name) => ({ dir: `services/${name}`, own: `@weelo/${name}` })),
  { dir: "gateway", own: "" },
];

function sourceFiles(dir: string, out: string[] = []): string[] {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.name === "node_modules" || entry.name === "gen") continue;
    const path = join(dir, entry.name);
    if (entry.isDirectory()) sourceFiles(path, out);
    else if (entry.name.endsWith(".ts")) out.push(path);
  }
  return out;
}

const IMPORT = /(?:from|import)\s*\(?\s*["']([^"']+)["']/g;

describe("package boundaries", () => {
  it("no service or gateway package lists another service among its dependencies", () => {
    const found: string[] = [];
    for (const { dir, own } of apart) {
      const manifest = JSON.parse(readFileSync(join(root, dir, "package.json"), "utf8"));
      for (const kind of ["dependencies", "devDependencies", "peerDependencies", "optionalDependencies"]) {
        for (const name of Object.keys(manifest[kind] ?? {})) {
          if (servicePackages.has(name) && name !== own) found.push(`${dir}/package.json ${kind}: ${name}`);
        }
      }
    }
    assert.deepEqual(found, []);
  });

  it("no service or gateway source imports another service, or another workspace by a relative path", () => {
    const found: string[] = [];
    for (const { dir, own } of apart) {
      const base = join(root, dir);
      for (const file of sourceFiles(join(base, "src"))) {
        const text = readFileSync(file, "utf8");
        for (const [, specifier] of text.matchAll(IMPORT)) {
          if (!specifier) continue;
          const pkg = specifier.split("/").slice(0, 2).join("/");
          if (servicePackages.has(pkg) && pkg !== own) found.push(`${relative(root, file)}: ${specifier}`);
          if (specifier.startsWith(".")) {
            const target = relative(base, join(file, "..", specifier));
            if (target.startsWith("..")) found.push(`${relative(root, file)}: ${specifier} (outside ${dir})`);
          }
        }
      }
    }
    assert.deepEqual(found, []);
  });
});
