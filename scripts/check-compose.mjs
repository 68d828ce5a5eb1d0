#!/usr/bin/env node
// CI check of the container build (no Docker engine needed: it reads the files):
// docker-compose.yml parses and is consistent (every service runs an existing main of an npm
// workspace from the one image, reads only settings its process knows, finds each upstream it
// needs on a compose service's gRPC port, has a healthcheck on the right port, and waits only
// for services that have one), every process of the build is in it, and the Dockerfile's
// command and the .dockerignore keep what the image needs.
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { parse } from "yaml";
import { commandProblems, grpcTarget, processes, processOfCommand, report, root, workspaces } from "./check-lib.mjs";

// Arguments (for tests): another compose file, Dockerfile and .dockerignore to check against this build.
const [composeFile = join(root, "docker-compose.yml"), dockerfileFile = join(root, "Dockerfile"), ignoreFile = join(root, ".dockerignore")] = process.argv.slice(2);
const problems = [];
const procs = processes();
const spaces = workspaces();

// ---- docker-compose.yml
let compose;
try {
  compose = parse(readFileSync(composeFile, "utf8"), { merge: true, strict: true, uniqueKeys: true, prettyErrors: true });
} catch (error) {
  problems.push(`docker-compose.yml does not parse: ${error.message}`);
}

const ALLOWED_TOP = new Set(["name", "services", "volumes", "networks", "configs", "secrets"]);
const ALLOWED_SERVICE = new Set([
  "image", "build", "command", "entrypoint", "environment", "env_file", "ports", "expose", "volumes", "depends_on",
  "healthcheck", "restart", "profiles", "labels", "networks", "stop_grace_period", "stop_signal", "user", "init",
  "deploy", "read_only", "tmpfs", "working_dir", "cap_drop", "security_opt", "ulimits", "logging",
]);

const onePicture = { services: 0, ours: 0 };
if (compose) {
  for (const key of Object.keys(compose)) {
    if (!ALLOWED_TOP.has(key) && !key.startsWith("x-")) problems.push(`docker-compose.yml: unknown top-level key "${key}"`);
  }
  const services = compose.services ?? {};
  const declaredVolumes = new Set(Object.keys(compose.volumes ?? {}));
  const started = new Map(); // main file → compose service
  const ours = (svc) => svc.build !== undefined || String(svc.image ?? "").startsWith("weelo-backend");

  for (const [name, svc] of Object.entries(services)) {
    onePicture.services++;
    const where = `compose service "${name}"`;
    for (const key of Object.keys(svc)) if (!ALLOWED_SERVICE.has(key)) problems.push(`${where}: unknown key "${key}"`);
    if (!svc.image && !svc.build) problems.push(`${where}: needs an image or a build`);
    if (svc.build !== undefined) {
      const context = typeof svc.build === "string" ? svc.build : svc.build.context ?? ".";
      const dockerfile = typeof svc.build === "object" && svc.build.dockerfile ? svc.build.dockerfile : "Dockerfile";
      if (!existsSync(join(root, context, dockerfile))) problems.push(`${where}: build file ${join(context, dockerfile)} does not exist`);
    }
    for (const volume of svc.volumes ?? []) {
      const source = typeof volume === "string" ? volume.split(":")[0] : volume.source;
      if (source && !source.startsWith(".") && !source.startsWith("/") && !declaredVolumes.has(source)) {
        problems.push(`${where}: volume "${source}" is not declared under volumes:`);
      }
      if (source?.startsWith(".") && !existsSync(join(root, source))) problems.push(`${where}: bind-mounted ${source} does not exist`);
    }
    const dependsOn = Array.isArray(svc.depends_on) ? Object.fromEntries(svc.depends_on.map((d) => [d, {}])) : svc.depends_on ?? {};
    for (const [target, rule] of Object.entries(dependsOn)) {
      if (!services[target]) problems.push(`${where}: depends on unknown service "${target}"`);
      else if (rule?.condition === "service_healthy" && !services[target].healthcheck) {
        problems.push(`${where}: waits for "${target}" to be healthy, but "${target}" has no healthcheck`);
      }
    }
    if (!ours(svc)) continue;

    onePicture.ours++;
    problems.push(...commandProblems(svc.command, where, procs, spaces));
    const proc = processOfCommand(svc.command, procs);
    if (!proc) continue;
    if (started.has(proc.main)) problems.push(`${where}: ${proc.main} is already started by "${started.get(proc.main)}"`);
    started.set(proc.main, name);

    const env = Array.isArray(svc.environment)
      ? Object.fromEntries(svc.environment.map((pair) => [pair.split("=")[0], pair.split("=").slice(1).join("=")]))
      : svc.environment ?? {};
    for (const key of Object.keys(env)) {
      if (!proc.variables.has(key)) problems.push(`${where}: ${key} is not a setting of ${proc.name} (typo, or set on the wrong service?)`);
    }
    for (const upstream of proc.upstreams) {
      const value = env[upstream];
      if (value === undefined) {
        problems.push(`${where}: ${upstream} is not set; ${proc.name} would look for that service on its own port`);
        continue;
      }
      const target = grpcTarget(value);
      const peer = target && services[target.host];
      if (!target) problems.push(`${where}: ${upstream}=${value} is not host:port`);
      else if (!peer || !ours(peer)) problems.push(`${where}: ${upstream} names "${target.host}", which is not a Weelo service in the compose file`);
      else {
        const peerEnv = peer.environment ?? {};
        const peerPort = Number(peerEnv.GRPC_PORT ?? 50051);
        if (peerPort !== target.port) problems.push(`${where}: ${upstream} uses port ${target.port}, but "${target.host}" serves gRPC on ${peerPort}`);
        const served = processOfCommand(peer.command, procs);
        if (served && served.name === "gateway") problems.push(`${where}: ${upstream} points at the gateway, not a service`);
      }
    }
    if (!svc.healthcheck) problems.push(`${where}: no healthcheck`);
    else {
      const test = [].concat(svc.healthcheck.test ?? []).join(" ");
      const port = proc.name === "gateway" ? String(env.PORT ?? 3000) : String(env.METRICS_PORT ?? 9464);
      if (!test.includes(`127.0.0.1:${port}/health`)) problems.push(`${where}: the healthcheck does not ask ${proc.name}'s /health on port ${port}`);
    }
  }
  for (const proc of procs.values()) {
    if (!started.has(proc.main)) problems.push(`docker-compose.yml: no service runs ${proc.main} (${proc.name})`);
  }
}

// ---- Dockerfile and .dockerignore
const dockerfile = readFileSync(dockerfileFile, "utf8");
const cmd = /^CMD\s+(\[.*\])\s*$/m.exec(dockerfile);
if (!cmd) problems.push("Dockerfile: no CMD in exec form");
else problems.push(...commandProblems(JSON.parse(cmd[1]), "Dockerfile CMD", procs, spaces));
if (!/^USER\s+(?!root\b|0\b)\S+/m.test(dockerfile)) problems.push("Dockerfile: the final image must run as a non-root USER");
if ((dockerfile.match(/^FROM\s/gm) ?? []).length < 2) problems.push("Dockerfile: expected a multi-stage build");
for (const match of dockerfile.matchAll(/^COPY\s+(?!--from)(?:--\S+\s+)*(.+)$/gm)) {
  const parts = match[1].trim().split(/\s+/);
  for (const source of parts.slice(0, -1)) {
    if (!source.includes("*") && !existsSync(join(root, source))) problems.push(`Dockerfile: COPY source ${source} does not exist`);
  }
}
const ignored = readFileSync(ignoreFile, "utf8").split("\n").map((l) => l.trim()).filter((l) => l && !l.startsWith("#"));
// What the image needs at run time: every workspace's sources, the protos (gRPC reflection), the lock.
const needed = ["package.json", "package-lock.json", "proto/weelo", ...[...spaces].map((dir) => `${dir}/src`)];
for (const path of needed) {
  const hit = ignored.find((pattern) => !pattern.startsWith("!") && (path === pattern.replace(/\/$/, "") || path.startsWith(`${pattern.replace(/\/$/, "")}/`)));
  if (hit) problems.push(`.dockerignore: "${hit}" keeps ${path} out of the image`);
}
for (const heavy of ["node_modules", ".git", "data"]) {
  if (!ignored.some((p) => p.replace(/^\*\*\//, "").replace(/\/$/, "") === heavy)) problems.push(`.dockerignore: should exclude ${heavy}`);
}

report("check-compose", problems, `${onePicture.services} compose services, ${onePicture.ours} from the Weelo image, ${procs.size} processes in the build`);
