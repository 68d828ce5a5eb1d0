#!/usr/bin/env node
// CI check of deploy/k8s, offline: renders the base and every overlay the way
// `kubectl kustomize` does (the subset of kustomize the manifests use: resources, namespace,
// labels, images (tag or digest), configMapGenerator (envs, literals; behavior create/merge/
// replace; the content-hash name suffix and the rewritten references), JSON 6902 patches with
// targets; anything else is refused, not ignored),
// validates every object against the Kubernetes JSON schemas shipped by kubernetes-models,
// and checks what a schema cannot: each process of the build has a Deployment, Services, an
// HPA and a PDB that select it; commands start existing mains; probes use declared ports;
// env and ConfigMap keys are settings the process reads; each upstream a process needs points
// at a gRPC Service's mesh port; resources and a non-root user everywhere; Secret templates hold
// no secrets. The mesh (scripts/check-k8s-mesh.mjs): cert-manager objects checked structurally,
// one Certificate per process with its SPIFFE URI mounted whole into its pod with the MESH_*
// settings pointing at it, probes over HTTP on the admin port (kubelet cannot do mTLS), no
// Service on the public gRPC port, and NetworkPolicies that allow exactly what the design needs.
//   node scripts/check-k8s.mjs            check
//   node scripts/check-k8s.mjs --print [production]   print the rendered overlay (default production; or base) as YAML
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { parseAllDocuments, stringify } from "yaml";
import {
  allVariables,
  commandProblems,
  configMapHash,
  grpcTarget,
  processes,
  processOfCommand,
  report,
  root,
  workspaces,
} from "./check-lib.mjs";
import { databaseProblems } from "./check-k8s-db.mjs";
import { certManagerSchemaProblems, meshProblems, settingsOf } from "./check-k8s-mesh.mjs";

// `--dir <folder>` checks another copy of deploy/k8s against this build (tests use it).
const dirFlag = process.argv.indexOf("--dir");
const K8S = dirFlag === -1 ? join(root, "deploy/k8s") : process.argv[dirFlag + 1];
const problems = [];

// ---------------------------------------------------------------- rendering (kustomize subset)

const KUSTOMIZATION_KEYS = new Set([
  "apiVersion",
  "kind",
  "resources",
  "namespace",
  "labels",
  "images",
  "patches",
  "configMapGenerator",
]);
const GENERATOR_KEYS = new Set(["name", "behavior", "envs", "literals"]);
/** Marks a generated ConfigMap until the final name (with its hash) is given; never rendered. */
const GENERATED = "internal.weelo.check/generated";

function readYamlDocuments(file) {
  const docs = parseAllDocuments(readFileSync(file, "utf8"), { prettyErrors: true, uniqueKeys: true });
  const out = [];
  for (const doc of docs) {
    if (doc.errors.length > 0) throw new Error(`${relative(root, file)}: ${doc.errors[0].message}`);
    const value = doc.toJS();
    if (value !== null && value !== undefined) out.push(value);
  }
  return out;
}

/** Renders an overlay (or the base) completely: generated ConfigMaps get their hash suffix and every reference follows. */
function renderTarget(dir) {
  return nameGenerated(render(dir));
}

/** KEY=VALUE lines (kustomize's env files: # comments and blank lines skipped, values literal). */
function envPairs(text, where) {
  const out = [];
  for (const line of String(text).split("\n")) {
    const trimmed = line.trim();
    if (!trimmed || trimmed.startsWith("#")) continue;
    const at = trimmed.indexOf("=");
    if (at <= 0) throw new Error(`${where}: "${trimmed}" is not KEY=VALUE`);
    out.push([trimmed.slice(0, at), trimmed.slice(at + 1)]);
  }
  return out;
}

function generateConfigMaps(k, dir, where, objects) {
  for (const gen of k.configMapGenerator ?? []) {
    for (const key of Object.keys(gen))
      if (!GENERATOR_KEYS.has(key))
        throw new Error(`${where}: configMapGenerator "${key}" is not supported by this renderer`);
    if (!gen.name) throw new Error(`${where}: a configMapGenerator needs a name`);
    const data = {};
    for (const file of gen.envs ?? []) {
      const path = join(dir, file);
      if (!existsSync(path)) throw new Error(`${where}: env file ${file} does not exist`);
      for (const [key, value] of envPairs(readFileSync(path, "utf8"), relative(root, path))) data[key] = value;
    }
    for (const literal of gen.literals ?? [])
      for (const [key, value] of envPairs(literal, `${where} literal`)) data[key] = value;
    const behavior = gen.behavior ?? "create";
    const existing = objects.find((o) => o.kind === "ConfigMap" && o.metadata?.name === gen.name);
    if (behavior === "create") {
      if (existing)
        throw new Error(`${where}: configMapGenerator ${gen.name} already exists (use behavior: merge or replace)`);
      objects.push({
        apiVersion: "v1",
        kind: "ConfigMap",
        metadata: { name: gen.name, annotations: { [GENERATED]: "true" } },
        data,
      });
    } else if (behavior === "merge" || behavior === "replace") {
      if (!existing?.metadata?.annotations?.[GENERATED])
        throw new Error(
          `${where}: configMapGenerator ${gen.name} (behavior ${behavior}) has no generated ConfigMap to ${behavior}`,
        );
      existing.data = behavior === "merge" ? { ...existing.data, ...data } : data;
    } else {
      throw new Error(`${where}: configMapGenerator behavior "${behavior}" is not create, merge or replace`);
    }
  }
}

/** Gives generated ConfigMaps their final name and rewrites the references pods make to them. */
function nameGenerated(objects) {
  const renamed = new Map();
  for (const o of objects) {
    if (o.kind !== "ConfigMap" || !o.metadata?.annotations?.[GENERATED]) continue;
    delete o.metadata.annotations[GENERATED];
    if (Object.keys(o.metadata.annotations).length === 0) delete o.metadata.annotations;
    const name = `${o.metadata.name}-${configMapHash(o.metadata.name, o.data)}`;
    renamed.set(o.metadata.name, name);
    o.metadata.name = name;
  }
  const follow = (ref) => {
    if (ref && renamed.has(ref.name)) ref.name = renamed.get(ref.name);
  };
  for (const o of objects) {
    const pod = o.spec?.template?.spec;
    if (!pod) continue;
    for (const c of containersOf(o)) {
      for (const source of c.envFrom ?? []) follow(source.configMapRef);
      for (const e of c.env ?? []) follow(e.valueFrom?.configMapKeyRef);
    }
    for (const volume of pod.volumes ?? []) {
      follow(volume.configMap);
      for (const source of volume.projected?.sources ?? []) follow(source.configMap);
    }
  }
  Object.defineProperty(objects, "generatedConfigMaps", { value: new Set(renamed.values()), enumerable: false });
  return objects;
}

/** Renders the kustomization in dir into a list of objects (generated ConfigMaps not yet named: see renderTarget). */
function render(dir) {
  const file = join(dir, "kustomization.yaml");
  if (!existsSync(file)) throw new Error(`${relative(root, dir)}: no kustomization.yaml`);
  const [k] = readYamlDocuments(file);
  const where = relative(root, file);
  for (const key of Object.keys(k))
    if (!KUSTOMIZATION_KEYS.has(key))
      throw new Error(`${where}: "${key}" is not supported by this renderer (add it to scripts/check-k8s.mjs)`);
  if (k.kind !== "Kustomization") throw new Error(`${where}: kind must be Kustomization`);

  const objects = [];
  for (const resource of k.resources ?? []) {
    const path = join(dir, resource);
    if (!existsSync(path)) throw new Error(`${where}: resource ${resource} does not exist`);
    objects.push(...(statSync(path).isDirectory() ? render(path) : readYamlDocuments(path)));
  }
  generateConfigMaps(k, dir, where, objects);
  for (const patch of k.patches ?? []) {
    if (patch.path) throw new Error(`${where}: patches must be inline (patch:)`);
    const ops = readYamlDocuments0(patch.patch, where);
    const matched = objects.filter((o) => matchesTarget(o, patch.target ?? {}));
    if (matched.length === 0)
      throw new Error(`${where}: a patch's target ${JSON.stringify(patch.target)} matches nothing`);
    for (const object of matched) applyJsonPatch(object, ops, `${where} → ${object.kind}/${object.metadata.name}`);
  }
  for (const { pairs, includeSelectors, includeTemplates } of k.labels ?? []) {
    for (const object of objects) {
      object.metadata.labels = { ...object.metadata.labels, ...pairs };
      if (includeSelectors)
        throw new Error(`${where}: labels with includeSelectors would change immutable selectors; not supported`);
      if (includeTemplates && object.spec?.template?.metadata) {
        object.spec.template.metadata.labels = { ...object.spec.template.metadata.labels, ...pairs };
      }
    }
  }
  for (const image of k.images ?? []) {
    for (const container of objects.flatMap(containersOf)) {
      const [name] = splitImage(container.image);
      if (name !== image.name) continue;
      const [, tag] = splitImage(container.image);
      container.image = image.digest
        ? `${image.newName ?? name}@${image.digest}`
        : `${image.newName ?? name}:${image.newTag ?? tag ?? "latest"}`;
    }
  }
  if (k.namespace) for (const object of objects) object.metadata.namespace = k.namespace;
  return objects.map((o) => structuredClone(o));
}

function readYamlDocuments0(text, where) {
  const docs = parseAllDocuments(String(text ?? ""));
  if (docs.length !== 1 || docs[0].errors.length > 0)
    throw new Error(`${where}: a patch must be one YAML list of JSON 6902 operations`);
  const ops = docs[0].toJS();
  if (!Array.isArray(ops)) throw new Error(`${where}: only JSON 6902 patches (a list of operations) are supported`);
  return ops;
}

/** kustomize target: kind, name (a regular expression matched whole), labelSelector not supported. */
function matchesTarget(object, target) {
  for (const key of Object.keys(target))
    if (!["kind", "name", "group", "version"].includes(key)) throw new Error(`patch target "${key}" is not supported`);
  if (target.kind && object.kind !== target.kind) return false;
  if (target.name && !new RegExp(`^(?:${target.name})$`).test(object.metadata?.name ?? "")) return false;
  return true;
}

function applyJsonPatch(object, ops, where) {
  for (const op of ops) {
    const tokens = String(op.path)
      .split("/")
      .slice(1)
      .map((t) => t.replace(/~1/g, "/").replace(/~0/g, "~"));
    const last = tokens.pop();
    let parent = object;
    for (const token of tokens) {
      parent = Array.isArray(parent) ? parent[Number(token)] : parent?.[token];
      if (parent === undefined) throw new Error(`${where}: ${op.op} ${op.path}: the path does not exist`);
    }
    if (op.op === "add") {
      if (Array.isArray(parent))
        parent.splice(last === "-" ? parent.length : Number(last), 0, structuredClone(op.value));
      else parent[last] = structuredClone(op.value);
    } else if (op.op === "replace") {
      if (!(Array.isArray(parent) ? Number(last) < parent.length : last in parent))
        throw new Error(`${where}: replace ${op.path}: nothing there to replace`);
      parent[Array.isArray(parent) ? Number(last) : last] = structuredClone(op.value);
    } else if (op.op === "remove") {
      if (Array.isArray(parent)) parent.splice(Number(last), 1);
      else if (last in parent) delete parent[last];
      else throw new Error(`${where}: remove ${op.path}: nothing there`);
    } else {
      throw new Error(`${where}: JSON patch op "${op.op}" is not supported`);
    }
  }
}

function splitImage(image) {
  if (String(image).includes("@")) return [String(image).split("@")[0], undefined];
  const at = String(image).lastIndexOf(":");
  return at > String(image).lastIndexOf("/") ? [image.slice(0, at), image.slice(at + 1)] : [image, undefined];
}

function containersOf(object) {
  const spec = object.spec?.template?.spec;
  return spec ? [...(spec.initContainers ?? []), ...(spec.containers ?? [])] : [];
}

// ---------------------------------------------------------------- schema validation

const MODELS = {
  "apps/v1/Deployment": ["kubernetes-models/apps/v1", "Deployment"],
  "batch/v1/Job": ["kubernetes-models/batch/v1", "Job"],
  "v1/Service": ["kubernetes-models/v1", "Service"],
  "v1/ConfigMap": ["kubernetes-models/v1", "ConfigMap"],
  "v1/Secret": ["kubernetes-models/v1", "Secret"],
  "v1/Namespace": ["kubernetes-models/v1", "Namespace"],
  "autoscaling/v2/HorizontalPodAutoscaler": ["kubernetes-models/autoscaling/v2", "HorizontalPodAutoscaler"],
  "policy/v1/PodDisruptionBudget": ["kubernetes-models/policy/v1", "PodDisruptionBudget"],
  "networking.k8s.io/v1/NetworkPolicy": ["kubernetes-models/networking.k8s.io/v1", "NetworkPolicy"],
};

async function schemaProblems(object, where) {
  const custom = certManagerSchemaProblems(object, where);
  if (custom) return custom;
  const entry = MODELS[`${object.apiVersion}/${object.kind}`];
  if (!entry)
    return [
      `${where}: ${object.apiVersion} ${object.kind} has no schema here (add it to MODELS in scripts/check-k8s.mjs)`,
    ];
  const Model = (await import(entry[0]))[entry[1]];
  try {
    new Model(object).validate();
    return [];
  } catch (error) {
    return [`${where}: schema: ${error.message.split("\n").slice(0, 4).join("; ")}`];
  }
}

// ---------------------------------------------------------------- what schemas cannot see

const procs = processes();
const spaces = workspaces();
const knownEverywhere = allVariables(procs);

const selects = (selector, labels) =>
  Object.entries(selector ?? {}).every(([k, v]) => labels?.[k] === v) && Object.keys(selector ?? {}).length > 0;

function semanticProblems(objects, name, secretTemplates) {
  const out = [];
  const byKind = (kind) => objects.filter((o) => o.kind === kind);
  const seen = new Set();
  for (const o of objects) {
    const id = `${o.kind}/${o.metadata?.name}`;
    if (seen.has(id)) out.push(`${name}: ${id} is defined twice`);
    seen.add(id);
  }
  const configMaps = new Map(byKind("ConfigMap").map((c) => [c.metadata.name, c]));
  const secrets = new Map(secretTemplates.map((s) => [s.metadata.name, s]));
  const services = byKind("Service");
  const started = new Map();

  for (const d of byKind("Deployment")) {
    const where = `${name}: Deployment/${d.metadata.name}`;
    const podLabels = d.spec.template.metadata?.labels ?? {};
    if (!selects(d.spec.selector?.matchLabels, podLabels))
      out.push(`${where}: selector does not match the pod template's labels`);
    const pod = d.spec.template.spec;
    if (pod.securityContext?.runAsNonRoot !== true)
      out.push(`${where}: pods must run as non-root (securityContext.runAsNonRoot)`);
    if (pod.shareProcessNamespace !== true)
      out.push(`${where}: shareProcessNamespace must be true (the pause container is then PID 1 and reaps orphans)`);
    // The gateway's readiness is its own dependencies (cache, bus), never its upstreams (a code
    // property, gateway.module.ts); what the manifest could add is something that waits for them.
    if (d.metadata.name === "gateway" && (pod.initContainers ?? []).length > 0)
      out.push(
        `${where}: the gateway must not wait for anything in an init container (an upstream down would keep every new gateway pod from starting)`,
      );
    for (const c of pod.containers) {
      const cwhere = `${where} container ${c.name}`;
      out.push(...commandProblems(c.command, cwhere, procs, spaces));
      const proc = processOfCommand(c.command, procs);
      if (proc) {
        if (started.has(proc.main)) out.push(`${cwhere}: ${proc.main} already runs in ${started.get(proc.main)}`);
        started.set(proc.main, d.metadata.name);
      }
      if (!c.resources?.requests?.cpu || !c.resources?.requests?.memory || !c.resources?.limits?.memory)
        out.push(`${cwhere}: set cpu and memory requests and a memory limit`);
      const ports = new Map((c.ports ?? []).map((p) => [p.name, p.containerPort]));
      for (const kind of ["startupProbe", "readinessProbe", "livenessProbe"]) {
        const probe = c[kind];
        if (!probe) {
          if (kind !== "startupProbe") out.push(`${cwhere}: no ${kind}`);
          continue;
        }
        if (probe.grpc && ![...ports.values()].includes(probe.grpc.port))
          out.push(`${cwhere}: ${kind} asks gRPC port ${probe.grpc.port}, which the container does not declare`);
        const httpPort = probe.httpGet?.port;
        if (
          httpPort !== undefined &&
          !(typeof httpPort === "string" ? ports.has(httpPort) : [...ports.values()].includes(httpPort))
        )
          out.push(`${cwhere}: ${kind} uses port ${httpPort}, which the container does not declare`);
      }
      const settings = settingsOf(c, configMaps);
      for (const kind of ["startupProbe", "readinessProbe", "livenessProbe"]) {
        const probe = c[kind];
        if (!probe) continue;
        if (!probe.httpGet) {
          out.push(
            `${cwhere}: ${kind} must be an httpGet probe (kubelet's gRPC and TCP probes cannot present a mesh certificate)`,
          );
          continue;
        }
        const number = typeof probe.httpGet.port === "string" ? ports.get(probe.httpGet.port) : probe.httpGet.port;
        const admin = Number(settings.get("METRICS_PORT"));
        const okPorts = proc?.name === "gateway" ? [admin, Number(settings.get("PORT"))] : [admin];
        if (proc && number !== undefined && !okPorts.includes(number))
          out.push(
            `${cwhere}: ${kind} asks port ${number}; ${proc.name}'s probes go to ${proc.name === "gateway" ? `its port ${settings.get("PORT")} or ` : ""}its admin port ${admin} (METRICS_PORT)`,
          );
        const path = kind === "livenessProbe" ? "/health" : "/health/ready";
        if (probe.httpGet.path !== path)
          out.push(`${cwhere}: ${kind} asks ${probe.httpGet.path}; it should ask ${path}`);
      }
      // Settings that change must roll the pods: only generated (hash-named) ConfigMaps.
      for (const source of c.envFrom ?? []) {
        const cm = source.configMapRef?.name;
        if (cm && configMaps.has(cm) && !(objects.generatedConfigMaps ?? new Set()).has(cm))
          out.push(
            `${cwhere}: ConfigMap ${cm} has a fixed name, so editing it does not roll the pods; generate it (configMapGenerator: a content-hash suffix)`,
          );
      }
      if (name !== "base") {
        const mutable = !c.image.includes("@sha256:") && !/:v?\d+\.\d+\.\d+(?:[-+][0-9A-Za-z.-]+)?$/.test(c.image);
        if (mutable && c.imagePullPolicy !== "Always")
          out.push(
            `${cwhere}: image ${c.image} is a mutable tag; set imagePullPolicy: Always (or pin a version or digest), or a node's cached copy runs`,
          );
      }
      if (name === "production" && settings.get("NATS_STREAM_REPLICAS") !== "3")
        out.push(
          `${cwhere}: NATS_STREAM_REPLICAS is ${settings.get("NATS_STREAM_REPLICAS") ?? "unset (1)"}; production streams keep 3 copies on the NATS cluster`,
        );
      const shutdownMs = Number(settings.get("SHUTDOWN_TIMEOUT_MS") ?? 10_000);
      const preStop = c.lifecycle?.preStop?.exec?.command;
      const pauseMs = Array.isArray(preStop) && preStop[0] === "sleep" ? Number(preStop[1]) * 1000 : 0;
      const graceMs = (pod.terminationGracePeriodSeconds ?? 30) * 1000;
      if (graceMs <= shutdownMs + pauseMs)
        out.push(
          `${cwhere}: terminationGracePeriodSeconds ${graceMs / 1000} does not cover the preStop pause (${pauseMs / 1000} s) + SHUTDOWN_TIMEOUT_MS (${shutdownMs / 1000} s): SIGKILL would cut the graceful shutdown`,
        );
      const env = new Map((c.env ?? []).map((e) => [e.name, e.value]));
      const fromConfig = new Map();
      for (const source of c.envFrom ?? []) {
        if (source.configMapRef) {
          const cm = configMaps.get(source.configMapRef.name);
          if (!cm) out.push(`${cwhere}: ConfigMap ${source.configMapRef.name} is not in the kustomization`);
          for (const [k, v] of Object.entries(cm?.data ?? {})) fromConfig.set(k, v);
        }
        if (source.secretRef && !secrets.has(source.secretRef.name))
          out.push(`${cwhere}: Secret ${source.secretRef.name} has no template in deploy/k8s/secrets`);
      }
      if (!proc) continue;
      for (const key of env.keys())
        if (!proc.variables.has(key)) out.push(`${cwhere}: ${key} is not a setting of ${proc.name}`);
      for (const upstream of proc.upstreams) {
        const value = env.get(upstream) ?? fromConfig.get(upstream);
        if (value === undefined) {
          out.push(`${cwhere}: ${upstream} is not set; ${proc.name} would look for that service on its own port`);
          continue;
        }
        const target = grpcTarget(value);
        const svc = target && services.find((s) => s.metadata.name === target.host);
        if (!target) out.push(`${cwhere}: ${upstream}=${value} is not [dns:///]host:port`);
        else if (!svc) out.push(`${cwhere}: ${upstream} names Service ${target.host}, which does not exist`);
        else if (!svc.spec.ports.some((p) => p.port === target.port))
          out.push(`${cwhere}: Service ${target.host} has no port ${target.port}`);
        else if (!meshPortOf(svc).includes(target.port))
          out.push(
            `${cwhere}: ${upstream} uses port ${target.port} of Service ${target.host}, which is not the mesh port (MESH_PORT) of the pods behind it; internal calls go over the mesh`,
          );
        else if (value.startsWith("dns:///") && svc.spec.clusterIP !== "None")
          out.push(
            `${cwhere}: ${upstream} resolves ${target.host} by DNS for round robin, but it is not a headless Service`,
          );
      }
    }
    const matching = (kind) =>
      byKind(kind).filter((o) =>
        kind === "HorizontalPodAutoscaler"
          ? o.spec.scaleTargetRef?.kind === "Deployment" && o.spec.scaleTargetRef?.name === d.metadata.name
          : selects(o.spec.selector?.matchLabels ?? o.spec.selector, podLabels),
      );
    if (matching("Service").length === 0) out.push(`${where}: no Service selects it`);
    if (matching("HorizontalPodAutoscaler").length !== 1)
      out.push(`${where}: needs exactly one HorizontalPodAutoscaler`);
    if (matching("PodDisruptionBudget").length !== 1) out.push(`${where}: needs exactly one PodDisruptionBudget`);
    const hpa = matching("HorizontalPodAutoscaler")[0];
    if (hpa && d.spec.replicas > hpa.spec.maxReplicas)
      out.push(`${where}: replicas ${d.spec.replicas} above its HPA's maxReplicas`);
  }
  /** Service ports that reach the mesh port (MESH_PORT) of every pod the Service selects. */
  function meshPortOf(svc) {
    const targets = byKind("Deployment").filter((d) => selects(svc.spec.selector, d.spec.template.metadata?.labels));
    return (svc.spec.ports ?? [])
      .filter(
        (port) =>
          targets.length > 0 &&
          targets.every((d) =>
            containersOf(d).some((c) => {
              const mesh = Number(settingsOf(c, configMaps).get("MESH_PORT"));
              const target = port.targetPort ?? port.port;
              return (c.ports ?? []).some(
                (p) => p.containerPort === mesh && (typeof target === "string" ? p.name === target : target === mesh),
              );
            }),
          ),
      )
      .map((port) => port.port);
  }
  for (const s of services) {
    const where = `${name}: Service/${s.metadata.name}`;
    const targets = byKind("Deployment").filter((d) => selects(s.spec.selector, d.spec.template.metadata?.labels));
    if (targets.length === 0) out.push(`${where}: selects no Deployment`);
    for (const port of s.spec.ports ?? []) {
      const target = port.targetPort ?? port.port;
      for (const c of targets.flatMap(containersOf)) {
        const grpc = Number(settingsOf(c, configMaps).get("GRPC_PORT"));
        const number =
          typeof target === "string" ? (c.ports ?? []).find((p) => p.name === target)?.containerPort : target;
        if (number === grpc)
          out.push(
            `${where}: port ${port.name ?? port.port} reaches the public gRPC port ${grpc}, which is pod-local (GRPC_HOST 127.0.0.1); expose the mesh port instead`,
          );
      }
    }
    for (const port of s.spec.ports ?? []) {
      if (
        typeof port.targetPort === "string" &&
        !targets.every((d) => containersOf(d).some((c) => (c.ports ?? []).some((p) => p.name === port.targetPort)))
      ) {
        out.push(`${where}: targetPort ${port.targetPort} is not a named port of the pods it selects`);
      }
    }
  }
  for (const h of byKind("HorizontalPodAutoscaler")) {
    if (!byKind("Deployment").some((d) => d.metadata.name === h.spec.scaleTargetRef?.name))
      out.push(`${name}: HorizontalPodAutoscaler/${h.metadata.name} scales a missing Deployment`);
    if ((h.spec.minReplicas ?? 1) > h.spec.maxReplicas)
      out.push(`${name}: HorizontalPodAutoscaler/${h.metadata.name}: minReplicas above maxReplicas`);
  }
  for (const cm of configMaps.values()) {
    for (const key of Object.keys(cm.data ?? {}))
      if (!knownEverywhere.has(key))
        out.push(`${name}: ConfigMap/${cm.metadata.name}: ${key} is not a setting any process reads`);
    for (const [key, value] of Object.entries(cm.data ?? {}))
      if (/(?:REPLACE|CHANGE)_ME/i.test(String(value)))
        out.push(
          `${name}: ConfigMap/${cm.metadata.name}: ${key} holds a placeholder, which production refuses to start with`,
        );
  }
  for (const proc of procs.values())
    if (!started.has(proc.main)) out.push(`${name}: no Deployment runs ${proc.main} (${proc.name})`);
  out.push(...meshProblems(objects, name, { procs, configMaps, secretTemplates, processOfCommand }));
  out.push(...databaseProblems(objects, name, { procs, configMaps, secretTemplates, processOfCommand }));
  return out;
}

// ---------------------------------------------------------------- main

const overlays = readdirSync(join(K8S, "overlays"))
  .filter((d) => existsSync(join(K8S, "overlays", d, "kustomization.yaml")))
  .sort();
const printing = process.argv.indexOf("--print");
if (printing !== -1) {
  const next = process.argv[printing + 1];
  const which = next === undefined || next.startsWith("--") ? "production" : next;
  if (which !== "base" && !overlays.includes(which)) {
    console.error(`k8s:render: no overlay "${which}" (have: base, ${overlays.join(", ")})`);
    process.exit(2);
  }
  const objects = renderTarget(which === "base" ? join(K8S, "base") : join(K8S, "overlays", which));
  process.stdout.write(objects.map((o) => stringify(o)).join("---\n"));
  process.exit(0);
}

const templatesDir = join(K8S, "secrets");
const secretTemplates = [];
for (const file of readdirSync(templatesDir)
  .filter((f) => f.endsWith(".example.yaml"))
  .sort()) {
  for (const secret of readYamlDocuments(join(templatesDir, file))) {
    const where = `secrets/${file}`;
    secretTemplates.push(secret);
    problems.push(...(await schemaProblems(secret, where)));
    if (secret.kind !== "Secret") problems.push(`${where}: must be a Secret`);
    if (secret.data) problems.push(`${where}: use stringData with placeholders, not data`);
    const tls = secret.type === "kubernetes.io/tls";
    for (const [key, value] of Object.entries(secret.stringData ?? {})) {
      if (!String(value).startsWith("REPLACE_ME"))
        problems.push(`${where}: ${key} must be a REPLACE_ME… placeholder, never a real value`);
      if (tls && !["tls.crt", "tls.key", "ca.crt"].includes(key))
        problems.push(`${where}: a kubernetes.io/tls Secret holds tls.crt, tls.key and ca.crt, not ${key}`);
      if (!tls && !knownEverywhere.has(key)) problems.push(`${where}: ${key} is not a setting any process reads`);
    }
  }
}

let rendered = 0;
for (const target of ["base", ...overlays]) {
  const dir = target === "base" ? join(K8S, "base") : join(K8S, "overlays", target);
  let objects;
  try {
    objects = renderTarget(dir);
  } catch (error) {
    problems.push(`${target}: cannot render: ${error.message}`);
    continue;
  }
  rendered += objects.length;
  for (const object of objects)
    problems.push(...(await schemaProblems(object, `${target}: ${object.kind}/${object.metadata?.name}`)));
  problems.push(...semanticProblems(objects, target, secretTemplates));
  if (target !== "base") {
    for (const object of objects)
      if (!object.metadata.namespace)
        problems.push(`${target}: ${object.kind}/${object.metadata.name} has no namespace`);
    for (const c of objects.flatMap(containersOf))
      if (/:(latest)?$/.test(c.image) || !c.image.includes("/"))
        problems.push(`${target}: image ${c.image} must be a registry image with a pinned tag`);
  }
}

// The data plane's PgBouncer (deploy/k8s/pgbouncer): rendered and schema-checked, transaction
// pooling on 6432, in the namespace the weelo egress policies allow (weelo.io/data-plane=true).
const poolerDir = join(K8S, "pgbouncer");
if (existsSync(join(poolerDir, "kustomization.yaml"))) {
  try {
    const objects = renderTarget(poolerDir);
    rendered += objects.length;
    for (const object of objects)
      problems.push(...(await schemaProblems(object, `pgbouncer: ${object.kind}/${object.metadata?.name}`)));
    const ini = objects.find((o) => o.kind === "ConfigMap")?.data?.["pgbouncer.ini"] ?? "";
    if (!/^\s*pool_mode\s*=\s*transaction\s*$/m.test(ini))
      problems.push("pgbouncer: pgbouncer.ini must set pool_mode = transaction");
    if (!/^\s*listen_port\s*=\s*6432\s*$/m.test(ini)) problems.push("pgbouncer: pgbouncer.ini must listen on 6432");
    const namespace = objects.find((o) => o.kind === "Namespace");
    if (namespace?.metadata?.labels?.["weelo.io/data-plane"] !== "true")
      problems.push(
        "pgbouncer: its Namespace must carry weelo.io/data-plane=true (the weelo egress policies allow that)",
      );
  } catch (error) {
    problems.push(`pgbouncer: cannot render: ${error.message}`);
  }
} else {
  problems.push("deploy/k8s/pgbouncer: no PgBouncer kustomization in front of Postgres");
}

report(
  "check-k8s",
  problems,
  `base + ${overlays.length} overlays (${overlays.join(", ")}), ${rendered} objects rendered and schema-checked, ${secretTemplates.length} secret templates`,
);
