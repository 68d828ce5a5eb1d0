#!/usr/bin/env node
// `npm run build`: the JavaScript that production runs with plain `node` (no tsx at run time).
// esbuild bundles each process's main with the workspace packages (@weelo/*, whose "exports"
// point at TypeScript sources) into dist/, sharing common code in dist/chunks/. Packages from
// node_modules stay imports of node_modules (some load files relative to their own module:
// PGlite's .wasm and .data, the .proto files gRPC reflection reads, pino's transport workers;
// the image installs the production dependencies beside dist/), except a few listed below.
// The operations console (console/, for browsers) is built beside them into dist/console/
// (console/build.mjs), where the built gateway serves it at /console.
// Type-checking is `npm run typecheck` (tsc); esbuild only strips the types.
//   node scripts/build.mjs [--outdir <dir>] [--metafile <file>] [--if-stale]
// outdir: dist by default. metafile: esbuild's account of every input and import (tests, bundle
// analysis). --if-stale (`npm start`): skip the build when no file it read changed since.
import { readFile, rm, stat, writeFile } from "node:fs/promises";
import { isAbsolute, join, relative } from "node:path";
import { parseArgs } from "node:util";
import { pathToFileURL } from "node:url";
import { builtPath, ENTRY_POINTS } from "./entry-points.mjs";

const root = new URL("..", import.meta.url).pathname;

/**
 * Dependencies bundled in all the same: ES modules in hundreds of files each (kysely alone is
 * 263), which Node would otherwise find, read and link one by one at every start; bundled, they
 * start measurably faster. Only packages that load no file of their own and that no external
 * package imports (two copies of one package would not share its state) belong here.
 */
const BUNDLED_DEPENDENCIES = [
  "kysely",
  "zod",
  "@bufbuild/protobuf",
  // Both import @bufbuild/protobuf: left outside, they loaded a second copy of it from node_modules.
  "@bufbuild/protovalidate",
  "@bufbuild/cel",
  // cel's own dependencies, plain JavaScript that no workspace declares: bundled with it (the
  // CEL spec's protobuf-es messages import @bufbuild/protobuf too).
  "@bufbuild/re2",
  "@bufbuild/cel-spec",
  "@connectrpc/connect",
  "@connectrpc/connect-node",
  "jose",
  "cockatiel",
];

const packageOf = (specifier) =>
  specifier
    .split("/")
    .slice(0, specifier.startsWith("@") ? 2 : 1)
    .join("/");

/** Every other bare import stays external; the workspace packages are bundled from source. */
const externalDependencies = {
  name: "external-dependencies",
  setup(build) {
    build.onResolve({ filter: /^[^./]/ }, (args) =>
      args.path.startsWith("@weelo/") || BUNDLED_DEPENDENCIES.includes(packageOf(args.path))
        ? undefined
        : { path: args.path, external: true },
    );
  },
};

/** Where a build records what it read, and when (for --if-stale). */
const INPUTS_FILE = "build-inputs.json";
/** Files that shape the output without being bundled. */
const BUILD_FILES = [
  "scripts/build.mjs",
  "scripts/entry-points.mjs",
  "tsconfig.json",
  "tsconfig.base.json",
  "console/build.mjs",
  "console/tsconfig.json",
];

/** Builds every entry point into outdir (emptied first); returns esbuild's metafile. */
export async function buildAll(outdir = join(root, "dist")) {
  const { build } = await import("esbuild");
  const startedAt = Date.now();
  await rm(outdir, { recursive: true, force: true });
  const result = await build({
    absWorkingDir: root,
    entryPoints: ENTRY_POINTS.map((source) => ({
      in: source,
      out: relative("dist", builtPath(source)).replace(/\.js$/, ""),
    })),
    outdir,
    bundle: true,
    splitting: true,
    chunkNames: "chunks/[name]-[hash]",
    format: "esm",
    platform: "node",
    // The oldest Node the code supports (engines); the production image runs the current LTS.
    target: "node20.11",
    tsconfig: join(root, "tsconfig.json"),
    plugins: [externalDependencies],
    sourcemap: "linked",
    // Readable stack traces and class names in logs; minifying would save little at run time.
    keepNames: true,
    legalComments: "none",
    metafile: true,
    logLevel: "warning",
  });
  // The bundles are ES modules wherever they are put (a test builds under node_modules/.cache,
  // where the repository's "type": "module" does not reach).
  await writeFile(join(outdir, "package.json"), `${JSON.stringify({ type: "module" })}\n`);
  // The console's page and bundles, where the built gateway looks for them (one folder up from its bundle).
  const { buildConsole } = await import("../console/build.mjs");
  const consoleBuild = await buildConsole({ outdir: join(outdir, "console") });
  const inputs = [...Object.keys(result.metafile.inputs), ...consoleBuild.inputs, ...BUILD_FILES];
  await writeFile(join(outdir, INPUTS_FILE), JSON.stringify({ startedAt, entryPoints: ENTRY_POINTS, inputs }));
  return result.metafile;
}

/** Whether outdir holds a build of the current entry points from files none of which changed (or went) since. */
export async function isUpToDate(outdir = join(root, "dist")) {
  try {
    const record = JSON.parse(await readFile(join(outdir, INPUTS_FILE), "utf8"));
    if (JSON.stringify(record.entryPoints) !== JSON.stringify(ENTRY_POINTS)) return false;
    const times = await Promise.all(record.inputs.map(async (file) => (await stat(join(root, file))).mtimeMs));
    return times.every((mtime) => mtime < record.startedAt);
  } catch {
    return false; // no build yet, or an input is gone
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { values } = parseArgs({
    options: { outdir: { type: "string" }, metafile: { type: "string" }, "if-stale": { type: "boolean" } },
  });
  const outdir = values.outdir
    ? isAbsolute(values.outdir)
      ? values.outdir
      : join(process.cwd(), values.outdir)
    : undefined;
  const started = performance.now();
  if (values["if-stale"] && (await isUpToDate(outdir))) {
    console.log(`build: up to date (${Math.round(performance.now() - started)} ms)`);
    process.exit(0);
  }
  const metafile = await buildAll(outdir);
  if (values.metafile) await writeFile(values.metafile, JSON.stringify(metafile));
  const files = Object.keys(metafile.outputs).filter((f) => f.endsWith(".js"));
  console.log(
    `build: ${ENTRY_POINTS.length} entry points, ${files.length} files in ${relative(process.cwd(), outdir ?? join(root, "dist")) || "."} (${Math.round(performance.now() - started)} ms)`,
  );
}
