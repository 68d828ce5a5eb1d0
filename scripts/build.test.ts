/**
 * `npm run build` as production uses it: the build (scripts/build.mjs, run as a command) into a
 * folder of its own, then the built all-in-one started with plain node and no way to run
 * TypeScript, on the embedded defaults (PGlite's wasm and data files, gRPC's protos and the
 * development keys are found from the bundle's place): it becomes ready, logs a customer in
 * with an OTP and lists their bookings through the gateway, and stops cleanly on SIGTERM.
 */
import assert from "node:assert/strict";
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { join, relative } from "node:path";
import { promisify } from "node:util";
import { after, before, describe, it } from "node:test";
import { isolatedTestEnvironment, until } from "@weelo/testing";
import { builtPath, ENTRY_POINTS } from "./entry-points.mjs";

const ROOT = new URL("../", import.meta.url).pathname;
const run = promisify(execFile);

interface Metafile {
  outputs: Record<string, { imports: Array<{ path: string; kind: string; external?: boolean }> }>;
}

/** What the built JavaScript imports from outside itself (esbuild's metafile). */
async function externalImports(metafile: string): Promise<Set<string>> {
  const meta = JSON.parse(await readFile(metafile, "utf8")) as Metafile;
  const found = new Set<string>();
  for (const output of Object.values(meta.outputs))
    for (const imported of output.imports)
      if (imported.external && !imported.path.startsWith("node:")) found.add(imported.path);
  return found;
}

/** "@scope/name/sub" → "@scope/name"; "name/sub" → "name". */
const packageOf = (specifier: string) =>
  specifier
    .split("/")
    .slice(0, specifier.startsWith("@") ? 2 : 1)
    .join("/");

/** What `npm ci --omit=dev` installs: the dependencies of the root and of every workspace it names. */
async function productionDependencies(): Promise<Set<string>> {
  const root = JSON.parse(await readFile(join(ROOT, "package.json"), "utf8")) as { workspaces: string[] };
  const manifests = ["package.json"];
  for (const pattern of root.workspaces) {
    if (!pattern.endsWith("/*")) manifests.push(`${pattern}/package.json`);
    else
      for (const name of await readdir(join(ROOT, pattern.slice(0, -2))))
        manifests.push(`${pattern.slice(0, -2)}/${name}/package.json`);
  }
  const names = new Set<string>();
  for (const file of manifests) {
    const pkg = JSON.parse(await readFile(join(ROOT, file), "utf8").catch(() => "{}"));
    for (const name of Object.keys(pkg.dependencies ?? {})) names.add(name);
  }
  return names;
}

describe("npm run build", () => {
  let outdir: string;
  before(async () => {
    // Inside the repository, so the bundle finds node_modules as dist/ does.
    await mkdir(join(ROOT, "node_modules", ".cache"), { recursive: true });
    outdir = await mkdtemp(join(ROOT, "node_modules", ".cache", "weelo-build-test-"));
    await run(process.execPath, ["scripts/build.mjs", "--outdir", outdir, "--metafile", `${outdir}.meta.json`], {
      cwd: ROOT,
    });
  });
  after(async () => {
    if (outdir) await rm(outdir, { recursive: true, force: true });
    if (outdir) await rm(`${outdir}.meta.json`, { force: true });
  });

  it("emits JavaScript for every entry point that imports only production dependencies", async () => {
    for (const source of ENTRY_POINTS) {
      const file = join(outdir, relative("dist", builtPath(source)));
      assert.ok((await readFile(file, "utf8")).length > 0, `${source} built into ${file}`);
    }
    const imports = await externalImports(`${outdir}.meta.json`);
    assert.ok(imports.has("@electric-sql/pglite"), "node_modules stay external");
    const installed = await productionDependencies();
    for (const specifier of imports) {
      assert.ok(!specifier.startsWith("@weelo/"), `${specifier} is bundled, not imported`);
      assert.ok(!specifier.endsWith(".ts"), `${specifier}: no TypeScript is imported at run time`);
      assert.ok(
        installed.has(packageOf(specifier)),
        `${specifier}: not a production dependency of any workspace, so the image would not have it`,
      );
    }
  });

  it("skips the build when no file it read changed since (npm start), and builds again when one did", async () => {
    const build = () =>
      run(process.execPath, ["scripts/build.mjs", "--outdir", outdir, "--if-stale"], { cwd: ROOT }).then(
        (r) => r.stdout,
      );
    assert.match(await build(), /up to date/);
    // As if every input had changed after the last build started.
    const record = join(outdir, "build-inputs.json");
    await writeFile(record, JSON.stringify({ ...JSON.parse(await readFile(record, "utf8")), startedAt: 0 }));
    assert.match(await build(), /\d+ entry points/);
    assert.match(await build(), /up to date/);
  });

  it("starts the built all-in-one with plain node, serves an OTP login and stops cleanly", async () => {
    const isolated = await isolatedTestEnvironment({
      // The embedded defaults: the bundle must find PGlite's files, and nothing is shared.
      DATABASE_URL: undefined,
      REDIS_URL: undefined,
      NATS_URL: undefined,
      LOG_LEVEL: "info",
    });
    const env = Object.fromEntries(Object.entries(isolated.env).filter(([, v]) => v !== undefined)) as Record<
      string,
      string
    >;
    for (const [key, value] of Object.entries(process.env))
      if (value !== undefined && !(key in env) && !key.startsWith("NODE_") && !/_URL$/.test(key)) env[key] = value;
    // Node 22.6+ can strip types itself; the build must not need it (nor a loader: none is given).
    const [major = 0, minor = 0] = process.versions.node.split(".").map(Number);
    const noTypeScript = major > 22 || (major === 22 && minor >= 6) ? ["--no-experimental-strip-types"] : [];
    const child: ChildProcess = spawn(
      process.execPath,
      [...noTypeScript, join(outdir, relative("dist", builtPath("system/src/all-in-one.ts")))],
      { cwd: ROOT, env, stdio: ["ignore", "pipe", "pipe"] },
    );
    const lines: Array<Record<string, unknown>> = [];
    const output: string[] = [];
    let pending = "";
    const read = (chunk: Buffer) => {
      pending += chunk.toString("utf8");
      const parts = pending.split("\n");
      pending = parts.pop()!;
      for (const line of parts) {
        output.push(line);
        try {
          lines.push(JSON.parse(line));
        } catch {
          // not a log line
        }
      }
    };
    child.stdout!.on("data", read);
    child.stderr!.on("data", read);
    const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
    try {
      await until(
        "the built all-in-one to log its gateway address",
        () => child.exitCode !== null || lines.some((l) => typeof l.gateway === "string"),
        60_000,
      );
      assert.equal(child.exitCode, null, output.join("\n"));
      const url = lines.find((l) => typeof l.gateway === "string")!.gateway as string;
      const ready = await fetch(`${url}/health/ready`);
      assert.equal(ready.status, 200);

      const phone = "9876501234";
      const post = (path: string, body: unknown) =>
        fetch(`${url}${path}`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify(body),
        });
      const sent = await post("/api/v1/auth/send-otp", { phone, role: "customer" });
      assert.equal(sent.status, 200);
      const { devOtp } = ((await sent.json()) as { data: { devOtp: string } }).data;
      const verified = await post("/api/v1/auth/verify-otp", { phone, otp: devOtp, role: "customer" });
      assert.equal(verified.status, 200);
      const { accessToken } = ((await verified.json()) as { data: { tokens: { accessToken: string } } }).data.tokens;
      const bookings = await fetch(`${url}/api/v1/bookings`, { headers: { authorization: `Bearer ${accessToken}` } });
      assert.equal(bookings.status, 200);
      // A new customer has none (proto3 JSON may leave the empty list out).
      const listed = ((await bookings.json()) as { data: { bookings?: unknown[] } }).data;
      assert.deepEqual(listed.bookings ?? [], []);
      // Files the code reads at run time come along: the API reference page, its assets and document.
      for (const path of ["/docs/", "/docs/swagger-ui-bundle.js", "/docs/openapi.json"]) {
        const page = await fetch(`${url}${path}`);
        assert.equal(page.status, 200, `${path} answers from the build`);
      }
      const documented = (await (await fetch(`${url}/docs/openapi.json`)).json()) as { openapi: string };
      assert.equal(documented.openapi, "3.1.0");
      // The operations console: its page and the bundles it names, from dist/console.
      const consolePage = await fetch(`${url}/console/`);
      assert.equal(consolePage.status, 200, "/console/ answers from the build");
      const consoleAssets = (await consolePage.text()).match(/\/console\/(console|style)-[A-Z0-9]{8}\.(js|css)/g) ?? [];
      assert.equal(consoleAssets.length, 2, "the page names its script and style");
      for (const asset of consoleAssets)
        assert.equal((await fetch(`${url}${asset}`)).status, 200, `${asset} answers from the build`);

      child.kill("SIGTERM");
      assert.equal(await exited, 0, output.slice(-20).join("\n"));
      assert.ok(
        lines.some((l) => l.msg === "stopped"),
        "the process logs that it stopped",
      );
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
      await isolated.cleanup([]);
    }
  });
});
