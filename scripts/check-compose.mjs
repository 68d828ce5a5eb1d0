#!/usr/bin/env node
// CI check of the container build (no Docker engine needed: it reads the files):
// docker-compose.yml parses and is consistent (every service runs an existing main of an npm
// workspace from the one image, reads only settings its process knows, finds each upstream it
// needs on a compose service's gRPC port, has a healthcheck on the right port, and waits only
// for services that have one), every process of the build is in it, and the Dockerfile's
// command and the .dockerignore keep what the image needs.
// The network layout (see the head of docker-compose.yml): upstreams on the mesh port
// (MESH_PORT, 50052) over a network both ends share, MESH_IDENTITY = the process's name; the
// gateway alone on edge with the only published port; mesh = the gateway and the services;
// data = the services and their Postgres, Redis, NATS (the gateway reaches Redis and NATS, never
// Postgres); mesh and data are internal, and only the services that talk to providers on the
// internet sit on a network that is not; nothing else publishes a port beyond 127.0.0.1;
// Prometheus's scrape targets are processes' admin ports on a network it shares.
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { parse } from "yaml";
import {
  commandProblems,
  grpcTarget,
  ONE_SHOTS,
  processes,
  processOfCommand,
  report,
  root,
  workspaces,
} from "./check-lib.mjs";
import { builtPath } from "./entry-points.mjs";

/** Services that call providers on the internet (SMS, push): the only ones allowed a network that is not internal. */
const INTERNET_SENDERS = new Set(["identity", "notification"]);
const DEFAULT_MESH_PORT = 50052;
const DEFAULT_METRICS_PORT = 9464;

// Arguments (for tests): another compose file, Dockerfile and .dockerignore to check against this build.
const [
  composeFile = join(root, "docker-compose.yml"),
  dockerfileFile = join(root, "Dockerfile"),
  ignoreFile = join(root, ".dockerignore"),
] = process.argv.slice(2);
const problems = [];
const procs = processes();
const spaces = workspaces();

// ---- docker-compose.yml
let compose;
try {
  compose = parse(readFileSync(composeFile, "utf8"), {
    merge: true,
    strict: true,
    uniqueKeys: true,
    prettyErrors: true,
  });
} catch (error) {
  problems.push(`docker-compose.yml does not parse: ${error.message}`);
}

const ALLOWED_TOP = new Set(["name", "services", "volumes", "networks", "configs", "secrets"]);
const ALLOWED_SERVICE = new Set([
  "image",
  "build",
  "command",
  "entrypoint",
  "environment",
  "env_file",
  "ports",
  "expose",
  "volumes",
  "depends_on",
  "healthcheck",
  "restart",
  "profiles",
  "labels",
  "networks",
  "stop_grace_period",
  "stop_signal",
  "user",
  "init",
  "deploy",
  "read_only",
  "tmpfs",
  "working_dir",
  "cap_drop",
  "security_opt",
  "ulimits",
  "logging",
]);

const onePicture = { services: 0, ours: 0 };
/** Compose services that run a process of the build: name → { proc, env }. */
const weelo = new Map();
if (compose) {
  for (const key of Object.keys(compose)) {
    if (!ALLOWED_TOP.has(key) && !key.startsWith("x-"))
      problems.push(`docker-compose.yml: unknown top-level key "${key}"`);
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
      const context = typeof svc.build === "string" ? svc.build : (svc.build.context ?? ".");
      const dockerfile = typeof svc.build === "object" && svc.build.dockerfile ? svc.build.dockerfile : "Dockerfile";
      if (!existsSync(join(root, context, dockerfile)))
        problems.push(`${where}: build file ${join(context, dockerfile)} does not exist`);
    }
    for (const volume of svc.volumes ?? []) {
      const source = typeof volume === "string" ? volume.split(":")[0] : volume.source;
      if (source && !source.startsWith(".") && !source.startsWith("/") && !declaredVolumes.has(source)) {
        problems.push(`${where}: volume "${source}" is not declared under volumes:`);
      }
      if (source?.startsWith(".") && !existsSync(join(root, source)))
        problems.push(`${where}: bind-mounted ${source} does not exist`);
    }
    for (const network of networksOf(svc)) {
      if (Object.keys(compose.networks ?? {}).length > 0 && !(network in (compose.networks ?? {})))
        problems.push(`${where}: network "${network}" is not declared under networks:`);
    }
    const dependsOn = Array.isArray(svc.depends_on)
      ? Object.fromEntries(svc.depends_on.map((d) => [d, {}]))
      : (svc.depends_on ?? {});
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
    if (started.has(proc.main))
      problems.push(`${where}: ${proc.main} is already started by "${started.get(proc.main)}"`);
    started.set(proc.main, name);

    const env = envOf(svc);
    weelo.set(name, { proc, env });
    for (const key of Object.keys(env)) {
      if (!proc.variables.has(key))
        problems.push(`${where}: ${key} is not a setting of ${proc.name} (typo, or set on the wrong service?)`);
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
      else if (!peer || !ours(peer))
        problems.push(`${where}: ${upstream} names "${target.host}", which is not a Weelo service in the compose file`);
      else {
        const peerEnv = envOf(peer);
        const peerPort = Number(peerEnv.MESH_PORT || DEFAULT_MESH_PORT);
        if (peerPort !== target.port)
          problems.push(
            `${where}: ${upstream} uses port ${target.port}, but "${target.host}" serves the mesh on ${peerPort} (internal calls go over the mesh, never the public port ${peerEnv.GRPC_PORT ?? 50051})`,
          );
        const served = processOfCommand(peer.command, procs);
        if (served && served.name === "gateway")
          problems.push(`${where}: ${upstream} points at the gateway, not a service`);
        if (!shareNetwork(svc, peer))
          problems.push(`${where}: ${upstream} names "${target.host}", which shares no network with it`);
      }
    }
    if (!svc.healthcheck) problems.push(`${where}: no healthcheck`);
    else {
      const test = [].concat(svc.healthcheck.test ?? []).join(" ");
      const port =
        proc.name === "gateway" ? String(env.PORT ?? 3000) : String(env.METRICS_PORT ?? DEFAULT_METRICS_PORT);
      if (!test.includes(`127.0.0.1:${port}/health/ready`))
        problems.push(`${where}: the healthcheck does not ask ${proc.name}'s /health/ready on port ${port}`);
    }
    if (env.MESH_IDENTITY !== proc.name)
      problems.push(
        `${where}: MESH_IDENTITY must be "${proc.name}" (its certificate's spiffe://…/${proc.name}), got ${JSON.stringify(env.MESH_IDENTITY)}`,
      );
  }
  for (const proc of procs.values()) {
    if (!started.has(proc.main)) problems.push(`docker-compose.yml: no service runs ${proc.main} (${proc.name})`);
  }
  problems.push(...networkProblems(services));
  problems.push(...databaseProblems(services));
}

// ---- the database: through PgBouncer, one role per service, migrations by a one-shot

/**
 * Every service reaches Postgres through the PgBouncer service (transaction pooling) as a role
 * of its own; the gateway holds no database URL at all; the migrate one-shot exists and every
 * service waits for it to complete, so the runtime roles never need DDL (MIGRATE_ON_START=false).
 */
function databaseProblems(services) {
  const out = [];
  const pooler = Object.entries(services).find(([, svc]) => /(^|\/)pgbouncer[:@]/.test(String(svc.image ?? "")));
  if (!pooler) out.push("docker-compose.yml: no PgBouncer service (an image named pgbouncer) in front of Postgres");
  const migrate = Object.entries(services).find(
    ([, svc]) => svc.command?.at(-1) === builtPath(ONE_SHOTS.get("migrate")),
  );
  if (!migrate) out.push(`docker-compose.yml: no service runs the migrate one-shot ${ONE_SHOTS.get("migrate")}`);
  else if (migrate[1].restart !== "no")
    out.push(`compose service "${migrate[0]}": a one-shot must have restart: "no" (it would run again and again)`);
  const users = new Map();
  for (const [name, { proc, env }] of weelo) {
    const where = `compose service "${name}"`;
    if (proc.name === "gateway") {
      if ("DATABASE_URL" in env) out.push(`${where}: the gateway must hold no DATABASE_URL at all (not even empty)`);
      continue;
    }
    let url;
    try {
      url = new URL(String(env.DATABASE_URL));
    } catch {
      out.push(`${where}: DATABASE_URL is not a postgres:// URL`);
      continue;
    }
    if (pooler && (url.hostname !== pooler[0] || url.port !== "6432"))
      out.push(`${where}: DATABASE_URL must point at PgBouncer (${pooler[0]}:6432), not ${url.host}`);
    const expected = `weelo_${proc.name}`;
    if (decodeURIComponent(url.username) !== expected)
      out.push(`${where}: DATABASE_URL must log in as its own role ${expected}, not "${url.username}"`);
    if (users.has(url.username)) out.push(`${where}: shares its database role with "${users.get(url.username)}"`);
    users.set(url.username, name);
    if (String(env.MIGRATE_ON_START) !== "false")
      out.push(`${where}: MIGRATE_ON_START must be "false": the migrate one-shot migrates, the runtime role cannot`);
    const waits = services[name].depends_on?.[migrate?.[0]]?.condition;
    if (migrate && waits !== "service_completed_successfully")
      out.push(`${where}: must wait for "${migrate[0]}" (condition: service_completed_successfully)`);
  }
  return out;
}

// ---- networks and published ports

function envOf(svc) {
  return Array.isArray(svc.environment)
    ? Object.fromEntries(svc.environment.map((pair) => [pair.split("=")[0], pair.split("=").slice(1).join("=")]))
    : (svc.environment ?? {});
}

/** The networks a compose service joins ("default" when it names none). */
function networksOf(svc) {
  if (!svc.networks) return ["default"];
  return Array.isArray(svc.networks) ? svc.networks : Object.keys(svc.networks);
}

function shareNetwork(a, b) {
  const theirs = new Set(networksOf(b));
  return networksOf(a).some((n) => theirs.has(n));
}

/** "[ip:]host[:container][/proto]" or the long form → { ip, published }. */
function publishedPort(entry) {
  if (typeof entry === "object") return { ip: entry.host_ip, published: entry.published };
  const parts = String(entry)
    .replace(/\/\w+$/, "")
    .split(":");
  if (parts.length === 1) return { ip: undefined, published: "(random)" };
  if (parts.length === 2) return { ip: undefined, published: parts[0] };
  return { ip: parts.slice(0, -2).join(":"), published: parts.at(-2) };
}

/** Hosts of a connection URL list ("redis://:pw@redis:6379", "nats://a:4222,nats://b:4222"). */
function urlHosts(value) {
  const hosts = [];
  for (const part of String(value ?? "").split(",")) {
    try {
      if (part.trim()) hosts.push(new URL(part.trim()).hostname);
    } catch {
      // not a URL: nothing to check
    }
  }
  return hosts;
}

function networkProblems(services) {
  const out = [];
  const declared = compose.networks ?? {};
  if (Object.keys(declared).length === 0)
    return ["docker-compose.yml: declares no networks; the stack must be split into edge, mesh and data networks"];
  const entries = [...weelo.entries()];
  const gateway = entries.find(([, w]) => w.proc.name === "gateway");
  const ourServices = entries.filter(([, w]) => w.proc.name !== "gateway");
  const members = (network) =>
    Object.entries(services)
      .filter(([, svc]) => networksOf(svc).includes(network))
      .map(([n]) => n);

  for (const [name, svc] of Object.entries(services)) {
    if (!svc.networks)
      out.push(`compose service "${name}": names no networks, so it joins "default" with everything else that does`);
  }
  for (const network of ["edge", "mesh", "data"])
    if (!(network in declared)) out.push(`docker-compose.yml: no "${network}" network`);
  for (const network of ["mesh", "data"])
    if (network in declared && declared[network]?.internal !== true)
      out.push(`docker-compose.yml: network "${network}" must be internal: true`);

  // Who may be where.
  if (gateway) {
    const [gatewayName] = gateway;
    const edge = members("edge");
    if (!edge.includes(gatewayName)) out.push(`compose service "${gatewayName}": must be on the edge network`);
    for (const other of edge.filter((n) => n !== gatewayName))
      out.push(`compose service "${other}": only the gateway is on the edge network`);
    if (networksOf(services[gatewayName]).includes("data"))
      out.push(`compose service "${gatewayName}": the gateway must not be on the data network (it has no database)`);
  }
  const mesh = new Set(members("mesh"));
  for (const [name] of entries) if (!mesh.has(name)) out.push(`compose service "${name}": must be on the mesh network`);
  for (const name of mesh)
    if (!weelo.has(name))
      out.push(`compose service "${name}": only the gateway and the services are on the mesh network`);
  const data = new Set(members("data"));
  for (const [name] of ourServices)
    if (!data.has(name)) out.push(`compose service "${name}": must be on the data network`);

  // Each process reaches the servers its URLs name, and the gateway never reaches Postgres.
  const databases = new Set();
  for (const [name, { env }] of entries) {
    for (const key of ["DATABASE_URL", "REDIS_URL", "NATS_URL"]) {
      for (const host of urlHosts(env[key])) {
        if (key === "DATABASE_URL") databases.add(host);
        if (!services[host])
          out.push(`compose service "${name}": ${key} names "${host}", which is not a compose service`);
        else if (!shareNetwork(services[name], services[host]))
          out.push(`compose service "${name}": ${key} names "${host}", which shares no network with it`);
      }
    }
  }
  if (gateway) {
    for (const host of databases) {
      if (services[host] && shareNetwork(services[gateway[0]], services[host]))
        out.push(
          `compose service "${gateway[0]}": shares a network with "${host}" (Postgres); the gateway must not reach the databases`,
        );
    }
  }

  // Ways out: only the gateway (edge) and the internet senders are on networks that are not internal.
  for (const [name, { proc }] of entries) {
    for (const network of networksOf(services[name])) {
      const open = declared[network]?.internal !== true;
      if (!open) continue;
      if (proc.name === "gateway" && network === "edge") continue;
      if (INTERNET_SENDERS.has(proc.name)) continue;
      out.push(
        `compose service "${name}": network "${network}" is not internal; only the gateway (edge) and ${[...INTERNET_SENDERS].join(", ")} (providers on the internet) may have a way out`,
      );
    }
  }

  // Published ports: the gateway's PORT only; the services none; anything else on 127.0.0.1 only.
  for (const [name, svc] of Object.entries(services)) {
    const ours = weelo.get(name);
    for (const entry of svc.ports ?? []) {
      const { ip, published } = publishedPort(entry);
      if (ours?.proc.name === "gateway") {
        if (String(published) !== String(ours.env.PORT ?? 3000))
          out.push(
            `compose service "${name}": publishes ${published}; the gateway publishes only its port ${ours.env.PORT ?? 3000}`,
          );
      } else if (ours) {
        out.push(
          `compose service "${name}": publishes port ${published}; services publish no ports (the gateway is the way in)`,
        );
      } else if (ip !== "127.0.0.1") {
        out.push(
          `compose service "${name}": publishes port ${published} on every interface; bind it to 127.0.0.1 or drop it`,
        );
      }
    }
    if (ours && svc.expose)
      out.push(`compose service "${name}": expose is not needed (the networks decide who reaches it)`);
  }

  // Prometheus scrapes admin ports over a network it shares with each target.
  const prometheus = Object.entries(services).find(([, svc]) => String(svc.image ?? "").startsWith("prom/prometheus"));
  if (prometheus) {
    const [promName, promSvc] = prometheus;
    const mount = (promSvc.volumes ?? [])
      .map((v) => (typeof v === "string" ? v.split(":") : [v.source, v.target]))
      .find(([, target]) => target === "/etc/prometheus/prometheus.yml");
    if (mount?.[0]?.startsWith(".") && existsSync(join(root, mount[0]))) {
      const config = parse(readFileSync(join(root, mount[0]), "utf8"));
      for (const job of config?.scrape_configs ?? []) {
        for (const target of (job.static_configs ?? []).flatMap((c) => c.targets ?? [])) {
          const [host, port] = String(target).split(":");
          const peer = services[host];
          if (!peer) out.push(`${mount[0]}: job ${job.job_name} scrapes "${host}", which is not a compose service`);
          else if (!shareNetwork(promSvc, peer))
            out.push(`${mount[0]}: job ${job.job_name} scrapes "${host}", which shares no network with "${promName}"`);
          const ours = weelo.get(host);
          const admin = Number(ours?.env.METRICS_PORT || DEFAULT_METRICS_PORT);
          if (ours && Number(port) !== admin)
            out.push(
              `${mount[0]}: job ${job.job_name} scrapes ${target}, but ${ours.proc.name}'s /metrics is on its admin port ${admin}`,
            );
        }
      }
    }
  }
  return out;
}

// ---- Dockerfile and .dockerignore
const dockerfile = readFileSync(dockerfileFile, "utf8");
const cmd = /^CMD\s+(\[.*\])\s*$/m.exec(dockerfile);
if (!cmd) problems.push("Dockerfile: no CMD in exec form");
else problems.push(...commandProblems(JSON.parse(cmd[1]), "Dockerfile CMD", procs, spaces));
if (!/^USER\s+(?!root\b|0\b)\S+/m.test(dockerfile))
  problems.push("Dockerfile: the final image must run as a non-root USER");
if ((dockerfile.match(/^FROM\s/gm) ?? []).length < 2) problems.push("Dockerfile: expected a multi-stage build");
// Base images by digest, or an explicit, explained exception: `# digest-exception <ARG or image>: <how it is pinned>`.
{
  const args = new Map(
    [...dockerfile.matchAll(/^ARG\s+([A-Za-z_][A-Za-z0-9_]*)(?:=(\S+))?\s*$/gm)].map((m) => [m[1], m[2]]),
  );
  const exceptions = new Map(
    [...dockerfile.matchAll(/^#\s*digest-exception\s+(\S+?):\s*(.*)$/gm)].map((m) => [m[1], m[2].trim()]),
  );
  const stages = new Set();
  for (const [, from, alias] of dockerfile.matchAll(/^FROM\s+(?:--\S+\s+)*(\S+)(?:\s+AS\s+(\S+))?\s*$/gim)) {
    const arg = /^\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?$/.exec(from)?.[1];
    const image = arg ? args.get(arg) : from;
    if (image === undefined) problems.push(`Dockerfile: FROM ${from}: ARG ${arg} has no default`);
    else if (!stages.has(image.toLowerCase()) && !image.includes("@sha256:")) {
      const reason = exceptions.get(arg ?? image) ?? "";
      if (reason.length < 20 && !problems.some((p) => p.startsWith(`Dockerfile: base image ${image} `)))
        problems.push(
          `Dockerfile: base image ${image} is not pinned by digest (@sha256:…); pin it, or explain how it is pinned in a "# digest-exception ${arg ?? image}: …" comment`,
        );
    }
    if (alias) stages.add(alias.toLowerCase()); // a later FROM <alias> builds on this stage
  }
}
for (const match of dockerfile.matchAll(/^COPY\s+(?!--from)(?:--\S+\s+)*(.+)$/gm)) {
  const parts = match[1].trim().split(/\s+/);
  for (const source of parts.slice(0, -1)) {
    if (!source.includes("*") && !existsSync(join(root, source)))
      problems.push(`Dockerfile: COPY source ${source} does not exist`);
  }
}
const ignored = readFileSync(ignoreFile, "utf8")
  .split("\n")
  .map((l) => l.trim())
  .filter((l) => l && !l.startsWith("#"));
// What the image's build stage needs: the manifests and lock, every workspace's sources, the
// tsconfig files and the build script with its list of entry points.
const needed = [
  "package.json",
  "package-lock.json",
  "tsconfig.json",
  "tsconfig.base.json",
  "scripts/build.mjs",
  "scripts/entry-points.mjs",
  ...[...spaces].map((dir) => `${dir}/src`),
];
for (const path of needed) {
  const hit = ignored.find(
    (pattern) =>
      !pattern.startsWith("!") &&
      (path === pattern.replace(/\/$/, "") || path.startsWith(`${pattern.replace(/\/$/, "")}/`)),
  );
  if (hit) problems.push(`.dockerignore: "${hit}" keeps ${path} out of the image's build`);
}
for (const heavy of ["node_modules", ".git", "data", "dist"]) {
  if (!ignored.some((p) => p.replace(/^\*\*\//, "").replace(/\/$/, "") === heavy))
    problems.push(`.dockerignore: should exclude ${heavy}`);
}

report(
  "check-compose",
  problems,
  `${onePicture.services} compose services, ${onePicture.ours} from the Weelo image, ${procs.size} processes in the build`,
);
