// The console's build: esbuild bundles src/main.ts (Leaflet, @weelo/client, Connect-Web and the
// generated protobuf code, all from node_modules: no CDN) and src/console.css (with Leaflet's
// CSS) for browsers, into content-hashed files, and writes index.html naming them. The gateway
// serves the result at /console: from dist/console/ when it runs from the build (`npm run
// build` calls this), or built in memory on first request when it runs from TypeScript (tests,
// `npm run dev`, the simulator's --start).
import { readFile } from "node:fs/promises";
import { basename, join } from "node:path";

const here = new URL(".", import.meta.url).pathname;

/**
 * One copy of Connect and protobuf-es in the page: the console's own imports of them resolve
 * to the copies @weelo/client uses (npm may nest another version beside each workspace).
 */
const oneConnect = {
  name: "one-connect",
  setup(build) {
    const clientDir = join(here, "..", "clients", "weelo-client", "src");
    build.onResolve({ filter: /^@(connectrpc\/connect(-web)?|bufbuild\/protobuf)(\/.*)?$/ }, async (args) => {
      if (args.pluginData === "one-connect" || args.resolveDir.startsWith(clientDir)) return undefined;
      const resolved = await build.resolve(args.path, {
        kind: args.kind,
        resolveDir: clientDir,
        pluginData: "one-connect",
      });
      return resolved.errors.length > 0 ? undefined : { path: resolved.path };
    });
  },
};

/**
 * Builds the console. With `outdir` the files are written there; either way the answer lists
 * every file (name relative to the console's root → bytes) and esbuild's metafile (its inputs
 * tell `npm start` when to build again).
 */
export async function buildConsole({ outdir, minify = true } = {}) {
  const { build } = await import("esbuild");
  const result = await build({
    absWorkingDir: here,
    entryPoints: { console: "src/main.ts", style: "src/console.css" },
    outdir: outdir ?? join(here, "out"),
    write: false,
    bundle: true,
    format: "esm",
    platform: "browser",
    target: ["chrome110", "firefox110", "safari16"],
    entryNames: "[name]-[hash]",
    assetNames: "[name]-[hash]",
    loader: { ".png": "file", ".svg": "file" },
    tsconfig: join(here, "tsconfig.json"),
    plugins: [oneConnect],
    minify,
    sourcemap: "linked",
    legalComments: "linked",
    metafile: true,
    logLevel: "warning",
  });
  const files = new Map();
  let script;
  let style;
  for (const file of result.outputFiles) {
    const name = basename(file.path);
    files.set(name, file.contents);
    if (/^console-[A-Z0-9]+\.js$/.test(name)) script = name;
    if (/^style-[A-Z0-9]+\.css$/.test(name)) style = name;
  }
  if (!script || !style) throw new Error("console build: no script or style came out");
  const page = (await readFile(join(here, "index.html"), "utf8"))
    .replace("%SCRIPT%", `/console/${script}`)
    .replace("%STYLE%", `/console/${style}`);
  files.set("index.html", new TextEncoder().encode(page));
  if (outdir) {
    const { mkdir, rm, writeFile } = await import("node:fs/promises");
    await rm(outdir, { recursive: true, force: true });
    await mkdir(outdir, { recursive: true });
    await Promise.all([...files].map(([name, bytes]) => writeFile(join(outdir, name), bytes)));
  }
  const inputs = [...Object.keys(result.metafile.inputs).map((input) => join("console", input)), "console/index.html"];
  return { files, metafile: result.metafile, inputs };
}
