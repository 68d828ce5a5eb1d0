// Facts about the build that the deploy checks (check-compose.mjs, check-k8s.mjs) compare
// the deployment files with: which processes exist, which file starts each, which
// environment variables each one reads. Read from the source, so a new service, a renamed
// main or a new setting is noticed without editing the checks.
import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { builtPath, ENTRY_POINTS } from "./entry-points.mjs";

export const root = new URL("..", import.meta.url).pathname;

/** Variables Node itself reads (not in any config schema) that deployments may set. */
export const RUNTIME_VARIABLES = new Set(["NODE_OPTIONS", "TZ"]);

/** Keys declared in a zod config schema file: lines like `  NAME: z…`. */
function schemaKeys(file) {
  const keys = new Set();
  for (const match of readFileSync(join(root, file), "utf8").matchAll(/^\s+([A-Z][A-Z0-9_]*):\s/gm)) keys.add(match[1]);
  return keys;
}

/**
 * The processes of the build: every services/<name>/src/main.ts and gateway/src/main.ts,
 * each with the variables its configuration reads (the shared ones plus its own schema's)
 * and the JavaScript `npm run build` makes of its main (built).
 */
export function processes() {
  const shared = schemaKeys("libs/config/src/index.ts");
  const out = new Map();
  const add = (name, dir) => {
    const main = `${dir}/src/main.ts`;
    const configs = readdirSync(join(root, dir, "src"))
      .filter((f) => f.endsWith(".config.ts"))
      .map((f) => `${dir}/src/${f}`);
    const variables = new Set([...shared, ...RUNTIME_VARIABLES]);
    for (const file of configs) for (const key of schemaKeys(file)) variables.add(key);
    const upstreams = [...variables].filter((v) => v.endsWith("_GRPC_URL"));
    out.set(name, { name, main, built: builtPath(main), workspace: dir, variables, upstreams });
  };
  for (const entry of readdirSync(join(root, "services")).sort()) {
    if (existsSync(join(root, "services", entry, "src", "main.ts"))) add(entry, `services/${entry}`);
  }
  add("gateway", "gateway");
  return out;
}

/** Every variable any process reads. */
export function allVariables(procs = processes()) {
  const all = new Set(RUNTIME_VARIABLES);
  for (const p of procs.values()) for (const v of p.variables) all.add(v);
  return all;
}

/** The npm workspace folders of the root package.json (globs of the form "dir/*" or "dir"). */
export function workspaces() {
  const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8"));
  const dirs = new Set();
  for (const pattern of pkg.workspaces ?? []) {
    if (pattern.endsWith("/*")) {
      const base = pattern.slice(0, -2);
      for (const entry of readdirSync(join(root, base))) {
        if (existsSync(join(root, base, entry, "package.json"))) dirs.add(`${base}/${entry}`);
      }
    } else if (existsSync(join(root, pattern, "package.json"))) {
      dirs.add(pattern);
    }
  }
  return dirs;
}

/** Node options a container command may pass: none that loads code (no loaders, no --import/--require). */
const NODE_FLAG =
  /^--(enable-source-maps|max-old-space-size=\d+|max-semi-space-size=\d+|heapsnapshot-signal=SIG[A-Z0-9]+)$/;

/**
 * Problems with a container command of the one image: plain node (no tsx, no loader) on the
 * build of a process's main, ["node", <options>…, "dist/<workspace>/<name>.js"], where that
 * main exists in an npm workspace and is one of the entry points `npm run build` bundles.
 */
/**
 * One-shot programs of the image that are not long-running processes: the migrate one-shot
 * (compose's `migrate` service, the weelo-migrate Job) brings every schema up to date and exits.
 */
export const ONE_SHOTS = new Map([["migrate", "system/src/migrate.ts"]]);

export function commandProblems(command, where, procs = processes(), spaces = workspaces()) {
  const problems = [];
  const shape = `["node", "dist/<workspace>/<name>.js"] (the build of a main; node options such as --enable-source-maps may come before it)`;
  if (
    !Array.isArray(command) ||
    command.length < 2 ||
    command[0] !== "node" ||
    !command.slice(1, -1).every((arg) => NODE_FLAG.test(arg)) ||
    !/^dist\/.+\.js$/.test(command.at(-1))
  ) {
    return [`${where}: command must be ${shape}, got ${JSON.stringify(command)}`];
  }
  const file = command.at(-1);
  const oneShot = [...ONE_SHOTS.values()].find((main) => builtPath(main) === file);
  const proc = [...procs.values()].find((p) => p.built === file) ?? (oneShot && { main: oneShot, built: file });
  if (!proc)
    return [`${where}: ${file} is not the build of a service's or the gateway's main, nor of a one-shot (ONE_SHOTS)`];
  if (!existsSync(join(root, proc.main)) || !statSync(join(root, proc.main)).isFile())
    problems.push(`${where}: ${proc.main} (built into ${file}) does not exist`);
  if (![...spaces].some((dir) => proc.main.startsWith(`${dir}/`)))
    problems.push(`${where}: ${proc.main} is not inside an npm workspace of package.json`);
  if (!ENTRY_POINTS.includes(proc.main))
    problems.push(
      `${where}: ${proc.main} is not an entry point of the build (scripts/entry-points.mjs), so ${file} is not built`,
    );
  return problems;
}

/** The process a command starts (by the build of its main). */
export function processOfCommand(command, procs = processes()) {
  return [...procs.values()].find((p) => Array.isArray(command) && p.built === command.at(-1));
}

/** "host:port" or "dns:///host:port" → { host, port }; undefined when it is neither. */
export function grpcTarget(value) {
  const match = /^(?:dns:\/\/\/)?([a-z0-9]([a-z0-9.-]*[a-z0-9])?):(\d{1,5})$/.exec(String(value));
  return match ? { host: match[1], port: Number(match[3]) } : undefined;
}

/** Files (relative) under a folder, recursively. */
export function filesUnder(dir) {
  const out = [];
  for (const entry of readdirSync(join(root, dir), { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...filesUnder(path));
    else out.push(relative(root, join(root, path)));
  }
  return out;
}

/** Prints the problems and sets the exit code; returns whether there were none. */
export function report(name, problems, summary) {
  if (problems.length > 0) {
    console.error(`${name}: ${problems.length} problem(s)`);
    for (const problem of problems) console.error(`  - ${problem}`);
    process.exitCode = 1;
    return false;
  }
  console.log(`${name}: ok (${summary})`);
  return true;
}

/** Go's encoding/json of a value with sorted keys (as kustomize hashes it: <, > and & escaped). */
function goJson(value) {
  if (Array.isArray(value)) return `[${value.map(goJson).join(",")}]`;
  if (value && typeof value === "object")
    return `{${Object.keys(value)
      .sort()
      .map((key) => `${goJson(key)}:${goJson(value[key])}`)
      .join(",")}}`;
  return JSON.stringify(value).replace(/</g, "\\u003c").replace(/>/g, "\\u003e").replace(/&/g, "\\u0026");
}

/** kustomize's ConfigMap name suffix: sha256 of {data, kind, name}, 10 hex digits with 0 1 3 a e spelled g h k m t. */
export function configMapHash(name, data) {
  // An empty ConfigMap's data is hashed as "" (kustomize's encodeConfigMap).
  const hex = createHash("sha256")
    .update(goJson({ data: Object.keys(data ?? {}).length > 0 ? data : "", kind: "ConfigMap", name }))
    .digest("hex");
  return hex.slice(0, 10).replace(/[013ae]/g, (c) => ({ 0: "g", 1: "h", 3: "k", a: "m", e: "t" })[c]);
}
