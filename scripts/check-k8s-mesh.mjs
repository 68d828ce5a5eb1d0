// The mesh half of scripts/check-k8s.mjs: cert-manager objects (their CRDs are not among
// kubernetes-models' schemas, so they are checked structurally here), each process's mesh
// identity (one Certificate with its SPIFFE URI, the Secret mounted whole and read-only, the
// MESH_* settings pointing into it), and the NetworkPolicies, evaluated the way a CNI does:
// default deny; the mesh port reachable exactly along the calls the code makes (each process's
// *_GRPC_URL upstreams, the gateway to every service); the public gRPC port from nowhere; the
// gateway's app port from anywhere; admin ports from Prometheus only; DNS, data servers and the
// trace collector reachable; the internet (HTTPS) for the services that send SMS and pushes only.
import { posix } from "node:path";
import { PGBOUNCER_PORT } from "./check-k8s-db.mjs";

/** Defaults of the settings (libs/config/src/index.ts) when neither env nor ConfigMap sets them. */
const DEFAULTS = {
  GRPC_PORT: "50051",
  MESH_PORT: "50052",
  METRICS_PORT: "9464",
  PORT: "3000",
  MESH_TRUST_DOMAIN: "weelo",
};
/** Mesh files inside the mounted Secret, as cert-manager writes them. */
const MESH_FILES = { MESH_CERT_FILE: "tls.crt", MESH_KEY_FILE: "tls.key", MESH_CA_FILE: "ca.crt" };
/** Services that call providers on the internet over HTTPS (SMS: identity; push and SMS: notification). */
export const INTERNET_SENDERS = new Set(["identity", "notification"]);
/** The placeholder peers of base/network-policies.yaml that the checks ask about. */
export const PROMETHEUS = { namespace: "monitoring", labels: { "app.kubernetes.io/name": "prometheus" } };
const KUBE_DNS = { namespace: "kube-system", labels: { "k8s-app": "kube-dns" } };
const PUBLIC_IP = "1.1.1.1";
/** The namespace of the base rendering, which names none. */
const BASE_NAMESPACE = "default";
const OUTSIDE = { kind: "ip", ip: "203.0.113.7", what: "an address outside the cluster" };

// ---------------------------------------------------------------- cert-manager, structurally

const DURATION = /^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$/;
const USAGES = new Set([
  "signing",
  "digital signature",
  "content commitment",
  "key encipherment",
  "key agreement",
  "data encipherment",
  "cert sign",
  "crl sign",
  "encipher only",
  "decipher only",
  "any",
  "server auth",
  "client auth",
  "code signing",
  "email protection",
  "s/mime",
  "ipsec end system",
  "ipsec tunnel",
  "ipsec user",
  "timestamping",
  "ocsp signing",
  "microsoft sgc",
  "netscape sgc",
]);
const CERTIFICATE_SPEC = new Set([
  "subject",
  "literalSubject",
  "commonName",
  "duration",
  "renewBefore",
  "renewBeforePercentage",
  "dnsNames",
  "ipAddresses",
  "uris",
  "otherNames",
  "emailAddresses",
  "secretName",
  "secretTemplate",
  "keystores",
  "issuerRef",
  "isCA",
  "usages",
  "privateKey",
  "encodeUsagesInRequest",
  "revisionHistoryLimit",
  "additionalOutputFormats",
  "nameConstraints",
]);
const ISSUER_TYPES = ["acme", "ca", "selfSigned", "vault", "venafi"];
const KEY_SIZES = { ECDSA: [256, 384, 521], RSA: [2048, 3072, 4096, 8192], Ed25519: [undefined] };

/** Go duration → milliseconds ("24h", "1h30m"). */
function durationMs(text) {
  const unit = { ns: 1e-6, us: 1e-3, µs: 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
  let total = 0;
  for (const match of String(text).matchAll(/([0-9]+(?:\.[0-9]+)?)(ns|us|µs|ms|s|m|h)/g))
    total += Number(match[1]) * unit[match[2]];
  return total;
}

const isStringList = (v) => Array.isArray(v) && v.every((x) => typeof x === "string" && x.length > 0);

/** Problems of a cert-manager.io/v1 object, or undefined when it is not one. */
export function certManagerSchemaProblems(object, where) {
  if (!String(object.apiVersion).startsWith("cert-manager.io/")) return undefined;
  const out = [];
  const bad = (message) => out.push(`${where}: cert-manager schema: ${message}`);
  if (object.apiVersion !== "cert-manager.io/v1")
    return [`${where}: cert-manager schema: apiVersion must be cert-manager.io/v1`];
  if (typeof object.metadata?.name !== "string" || !/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(object.metadata.name))
    bad("metadata.name must be a DNS-1123 name");
  const spec = object.spec;
  if (typeof spec !== "object" || spec === null) return [...out, `${where}: cert-manager schema: spec is required`];
  if (object.kind === "Issuer" || object.kind === "ClusterIssuer") {
    const types = Object.keys(spec).filter((k) => ISSUER_TYPES.includes(k));
    for (const key of Object.keys(spec))
      if (!ISSUER_TYPES.includes(key)) bad(`spec.${key} is not a field of ${object.kind}`);
    if (types.length !== 1) bad(`spec must have exactly one of ${ISSUER_TYPES.join(", ")}`);
    if (spec.ca !== undefined && typeof spec.ca?.secretName !== "string") bad("spec.ca.secretName is required");
    return out;
  }
  if (object.kind !== "Certificate")
    return [
      `${where}: cert-manager schema: kind ${object.kind} is not checked here (add it to scripts/check-k8s-mesh.mjs)`,
    ];
  for (const key of Object.keys(spec)) if (!CERTIFICATE_SPEC.has(key)) bad(`spec.${key} is not a field of Certificate`);
  if (typeof spec.secretName !== "string" || spec.secretName === "") bad("spec.secretName is required");
  if (typeof spec.issuerRef?.name !== "string") bad("spec.issuerRef.name is required");
  if (spec.issuerRef?.kind !== undefined && !["Issuer", "ClusterIssuer"].includes(spec.issuerRef.kind))
    bad(`spec.issuerRef.kind ${spec.issuerRef.kind} is not Issuer or ClusterIssuer`);
  if (spec.issuerRef?.group !== undefined && spec.issuerRef.group !== "cert-manager.io")
    bad(`spec.issuerRef.group must be cert-manager.io for a cert-manager issuer`);
  for (const list of ["dnsNames", "uris", "ipAddresses", "emailAddresses", "usages"]) {
    if (spec[list] !== undefined && !isStringList(spec[list])) bad(`spec.${list} must be a list of strings`);
  }
  if (
    !["commonName", "literalSubject", "dnsNames", "uris", "ipAddresses", "emailAddresses", "otherNames"].some(
      (k) => spec[k] !== undefined,
    )
  ) {
    bad(
      "at least one of commonName, literalSubject, dnsNames, uris, ipAddresses, emailAddresses, otherNames is required",
    );
  }
  for (const uri of spec.uris ?? [])
    if (!/^[a-z][a-z0-9+.-]*:\/\/\S+$/.test(uri)) bad(`spec.uris: ${uri} is not a URI`);
  for (const usage of spec.usages ?? [])
    if (!USAGES.has(usage)) bad(`spec.usages: "${usage}" is not a key usage cert-manager knows`);
  for (const key of ["duration", "renewBefore"])
    if (spec[key] !== undefined && !DURATION.test(String(spec[key])))
      bad(`spec.${key} ${spec[key]} is not a duration (like 24h)`);
  if (spec.duration && spec.renewBefore && durationMs(spec.renewBefore) >= durationMs(spec.duration))
    bad("spec.renewBefore must be shorter than spec.duration");
  if (spec.duration && durationMs(spec.duration) < 3_600_000)
    bad("spec.duration must be at least 1h (cert-manager's minimum)");
  const key = spec.privateKey;
  if (key !== undefined) {
    if (key.algorithm !== undefined && !(key.algorithm in KEY_SIZES))
      bad(`spec.privateKey.algorithm ${key.algorithm} is not RSA, ECDSA or Ed25519`);
    else if (key.algorithm && key.size !== undefined && !KEY_SIZES[key.algorithm].includes(key.size))
      bad(`spec.privateKey.size ${key.size} is not a size of ${key.algorithm}`);
    if (key.rotationPolicy !== undefined && !["Always", "Never"].includes(key.rotationPolicy))
      bad("spec.privateKey.rotationPolicy must be Always or Never");
    for (const k of Object.keys(key))
      if (!["algorithm", "size", "encoding", "rotationPolicy"].includes(k))
        bad(`spec.privateKey.${k} is not a field of privateKey`);
  }
  return out;
}

// ---------------------------------------------------------------- helpers

/** A container's settings: its env values over the ConfigMaps it reads, over the schema defaults. */
export function settingsOf(container, configMaps) {
  const settings = new Map(Object.entries(DEFAULTS));
  for (const source of container.envFrom ?? []) {
    for (const [k, v] of Object.entries(configMaps.get(source.configMapRef?.name)?.data ?? {}))
      settings.set(k, String(v));
  }
  for (const e of container.env ?? []) if (e.value !== undefined) settings.set(e.name, String(e.value));
  return settings;
}

function selectorMatches(selector, labels = {}) {
  if (!selector) return true;
  for (const [k, v] of Object.entries(selector.matchLabels ?? {})) if (labels[k] !== v) return false;
  for (const { key, operator, values = [] } of selector.matchExpressions ?? []) {
    const has = Object.hasOwn(labels, key);
    if (operator === "In" && !(has && values.includes(labels[key]))) return false;
    if (operator === "NotIn" && has && values.includes(labels[key])) return false;
    if (operator === "Exists" && !has) return false;
    if (operator === "DoesNotExist" && has) return false;
  }
  return true;
}

const isEmptySelector = (s) =>
  !s || (Object.keys(s.matchLabels ?? {}).length === 0 && (s.matchExpressions ?? []).length === 0);

function ipv4(ip) {
  const parts = String(ip).split(".").map(Number);
  return parts.length === 4 && parts.every((p) => Number.isInteger(p) && p >= 0 && p < 256)
    ? parts.reduce((a, p) => a * 256 + p, 0)
    : undefined;
}

function inCidr(ip, cidr) {
  const [base, bits] = String(cidr).split("/");
  const a = ipv4(ip);
  const b = ipv4(base);
  if (a === undefined || b === undefined) return false; // IPv6 blocks: the checks ask IPv4 addresses only
  const size = 2 ** (32 - Number(bits));
  return Math.floor(a / size) === Math.floor(b / size);
}

// ---------------------------------------------------------------- NetworkPolicy evaluation

/**
 * An endpoint is one of: { kind: "pod", name, labels, namespace, ports } (a pod of the
 * rendering, ports: [{ name, containerPort, protocol }]), { kind: "pod", namespace, labels }
 * elsewhere, or { kind: "ip", ip }.
 */
function peerMatches(peer, endpoint, policyNamespace) {
  if (peer.ipBlock) {
    if (endpoint.kind !== "ip") return false;
    return inCidr(endpoint.ip, peer.ipBlock.cidr) && !(peer.ipBlock.except ?? []).some((c) => inCidr(endpoint.ip, c));
  }
  if (endpoint.kind !== "pod") return false;
  if (peer.namespaceSelector) {
    if (!selectorMatches(peer.namespaceSelector, { "kubernetes.io/metadata.name": endpoint.namespace })) return false;
  } else if (endpoint.namespace !== policyNamespace) {
    return false;
  }
  return selectorMatches(peer.podSelector, endpoint.labels);
}

function portMatches(rulePorts, port, protocol, destination) {
  if (!rulePorts || rulePorts.length === 0) return true;
  return rulePorts.some((p) => {
    if ((p.protocol ?? "TCP") !== protocol) return false;
    if (p.port === undefined) return true;
    if (typeof p.port === "string")
      return (destination.ports ?? []).some(
        (c) => c.name === p.port && c.containerPort === port && (c.protocol ?? "TCP") === protocol,
      );
    return p.endPort !== undefined ? port >= p.port && port <= p.endPort : p.port === port;
  });
}

function directionAllows(policies, direction, subject, peer, port, protocol, destination) {
  const field = direction === "Ingress" ? "ingress" : "egress";
  const side = direction === "Ingress" ? "from" : "to";
  const selecting = policies.filter(
    (p) => policyTypes(p).includes(direction) && selectorMatches(p.spec.podSelector, subject.labels),
  );
  if (selecting.length === 0) return true;
  return selecting.some((p) =>
    (p.spec[field] ?? []).some((rule) => {
      const peers = rule[side] ?? [];
      return (
        (peers.length === 0 || peers.some((x) => peerMatches(x, peer, p.metadata.namespace ?? BASE_NAMESPACE))) &&
        portMatches(rule.ports, port, protocol, destination)
      );
    }),
  );
}

function policyTypes(policy) {
  return policy.spec.policyTypes ?? ["Ingress", ...(policy.spec.egress ? ["Egress"] : [])];
}

/** Whether a connection from source to destination:port is allowed (each side checked where it is one of ours). */
function allowed(policies, source, destination, port, protocol = "TCP") {
  const ours = (e) => e.kind === "pod" && e.name !== undefined;
  if (ours(source) && !directionAllows(policies, "Egress", source, destination, port, protocol, destination))
    return false;
  if (ours(destination) && !directionAllows(policies, "Ingress", destination, source, port, protocol, destination))
    return false;
  return true;
}

/** Whether some egress rule of the pod lets it reach port on anything outside its namespace (an ipBlock, another namespace, or everything). */
function egressOutside(policies, pod, port, protocol = "TCP", namespace) {
  const selecting = policies.filter(
    (p) => policyTypes(p).includes("Egress") && selectorMatches(p.spec.podSelector, pod.labels),
  );
  if (selecting.length === 0) return true;
  return selecting.some((p) =>
    (p.spec.egress ?? []).some((rule) => {
      if (!portMatches(rule.ports, port, protocol, {})) return false;
      const peers = rule.to ?? [];
      if (peers.length === 0) return true;
      return peers.some((x) => {
        if (namespace !== undefined)
          return (
            x.namespaceSelector !== undefined &&
            selectorMatches(x.namespaceSelector, { "kubernetes.io/metadata.name": namespace })
          );
        return (
          x.ipBlock !== undefined ||
          (x.namespaceSelector !== undefined &&
            !selectorMatches(x.namespaceSelector, {
              "kubernetes.io/metadata.name": p.metadata.namespace ?? BASE_NAMESPACE,
            }))
        );
      });
    }),
  );
}

/** Ports of a URL list ("rediss://:pw@host:6380", "nats://a:4222,nats://b:4222"), with each scheme's default. */
function urlPorts(value) {
  const defaults = {
    postgres: 5432,
    postgresql: 5432,
    redis: 6379,
    rediss: 6379,
    nats: 4222,
    tls: 4222,
    http: 80,
    https: 443,
  };
  const ports = new Set();
  for (const part of String(value ?? "")
    .replace(/^REPLACE_ME_/, "")
    .split(",")) {
    try {
      const url = new URL(part.trim());
      const scheme = url.protocol.replace(/:$/, "");
      const port = url.port ? Number(url.port) : defaults[scheme];
      if (port) ports.add(port);
    } catch {
      // not a URL (a placeholder's prose): nothing to learn
    }
  }
  return ports;
}

// ---------------------------------------------------------------- the checks

/**
 * ctx: { procs, configMaps, secretTemplates, containersOf, processOfCommand }.
 * Returns the problems of the mesh identities and of the NetworkPolicies of one rendering.
 */
export function meshProblems(objects, name, ctx) {
  const out = [];
  const byKind = (kind) => objects.filter((o) => o.kind === kind);
  const certificates = byKind("Certificate");
  const issuers = [...byKind("Issuer"), ...byKind("ClusterIssuer")];
  const templates = new Map(ctx.secretTemplates.map((s) => [s.metadata.name, s]));
  const certSecrets = new Set(certificates.map((c) => c.spec?.secretName));

  for (const issuer of issuers) {
    const secret = issuer.spec?.ca?.secretName;
    if (secret === undefined) continue;
    const template = templates.get(secret);
    if (!template)
      out.push(
        `${name}: ${issuer.kind}/${issuer.metadata.name}: its CA Secret ${secret} has no template in deploy/k8s/secrets`,
      );
    else if (
      template.type !== "kubernetes.io/tls" ||
      !("tls.crt" in (template.stringData ?? {})) ||
      !("tls.key" in (template.stringData ?? {}))
    ) {
      out.push(
        `${name}: ${issuer.kind}/${issuer.metadata.name}: the template of ${secret} must be a kubernetes.io/tls Secret with tls.crt and tls.key`,
      );
    }
  }
  for (const cert of certificates) {
    const ref = cert.spec?.issuerRef ?? {};
    const kind = ref.kind ?? "Issuer";
    if (!issuers.some((i) => i.kind === kind && i.metadata.name === ref.name))
      out.push(`${name}: Certificate/${cert.metadata.name}: issuer ${kind}/${ref.name} is not in the kustomization`);
  }

  // One mesh identity per process.
  const pods = [];
  for (const d of byKind("Deployment")) {
    const pod = d.spec.template.spec;
    const labels = d.spec.template.metadata?.labels ?? {};
    for (const c of pod.containers ?? []) {
      const proc = ctx.processOfCommand(c.command, ctx.procs);
      if (!proc) continue;
      const where = `${name}: Deployment/${d.metadata.name} container ${c.name}`;
      const settings = settingsOf(c, ctx.configMaps);
      pods.push({
        kind: "pod",
        name: proc.name,
        proc,
        labels,
        namespace: d.metadata.namespace ?? BASE_NAMESPACE,
        ports: c.ports ?? [],
        settings,
        secrets: (c.envFrom ?? []).map((s) => s.secretRef?.name).filter(Boolean),
      });
      const spiffe = `spiffe://${settings.get("MESH_TRUST_DOMAIN")}/${proc.name}`;
      const mine = certificates.filter((cert) => (cert.spec?.uris ?? []).includes(spiffe));
      if (mine.length !== 1) {
        out.push(`${where}: needs exactly one cert-manager Certificate with the URI ${spiffe}, found ${mine.length}`);
      } else {
        const [cert] = mine;
        const cwhere = `${name}: Certificate/${cert.metadata.name}`;
        if (cert.spec.uris.length !== 1)
          out.push(`${cwhere}: names ${cert.spec.uris.join(", ")}; a mesh certificate carries one SPIFFE ID`);
        for (const usage of ["server auth", "client auth"])
          if (!(cert.spec.usages ?? []).includes(usage))
            out.push(
              `${cwhere}: usages must include "${usage}" (every process is a mesh client, and services are servers)`,
            );
        if (cert.spec.privateKey?.algorithm !== "ECDSA" || cert.spec.privateKey?.size !== 256)
          out.push(`${cwhere}: the mesh key is ECDSA P-256 (privateKey.algorithm ECDSA, size 256)`);
        if (!cert.spec.duration || durationMs(cert.spec.duration) > 7 * 24 * 3_600_000)
          out.push(`${cwhere}: set a short duration (24h) so rotation is routine`);
        if (!cert.spec.renewBefore)
          out.push(`${cwhere}: set renewBefore so a certificate is renewed well before it ends`);
        const volume = (pod.volumes ?? []).find((v) => v.secret?.secretName === cert.spec.secretName);
        if (!volume) out.push(`${where}: the pod does not mount Secret ${cert.spec.secretName} (its Certificate's)`);
        else {
          const mounts = (c.volumeMounts ?? []).filter((m) => m.name === volume.name);
          if (mounts.length === 0)
            out.push(
              `${where}: volume ${volume.name} (Secret ${cert.spec.secretName}) is not mounted in the container`,
            );
          for (const mount of mounts) {
            if (mount.subPath || mount.subPathExpr)
              out.push(
                `${where}: ${volume.name} is mounted with subPath, which never receives the renewed certificate; mount the directory`,
              );
            if (mount.readOnly !== true) out.push(`${where}: mount ${volume.name} read-only`);
          }
          const dir = mounts.find((m) => !m.subPath && !m.subPathExpr)?.mountPath;
          for (const [setting, file] of Object.entries(MESH_FILES)) {
            const value = settings.get(setting);
            if (value === undefined)
              out.push(`${where}: ${setting} is not set; production has no development CA to fall back on`);
            else if (dir && value !== posix.join(dir, file))
              out.push(`${where}: ${setting}=${value}, but the certificate's ${file} is at ${posix.join(dir, file)}`);
          }
        }
      }
      if (settings.get("MESH_IDENTITY") !== proc.name)
        out.push(
          `${where}: MESH_IDENTITY must be "${proc.name}" (the last segment of ${spiffe}), got ${JSON.stringify(settings.get("MESH_IDENTITY"))}`,
        );
    }
    for (const volume of pod.volumes ?? []) {
      const secret = volume.secret?.secretName;
      if (secret && !certSecrets.has(secret) && !templates.has(secret))
        out.push(
          `${name}: Deployment/${d.metadata.name}: volume ${volume.name} mounts Secret ${secret}, which neither a Certificate nor a template in deploy/k8s/secrets provides`,
        );
    }
  }
  for (const cert of certificates) {
    const uris = cert.spec?.uris ?? [];
    if (!uris.some((u) => pods.some((p) => u === `spiffe://${p.settings.get("MESH_TRUST_DOMAIN")}/${p.name}`)))
      out.push(
        `${name}: Certificate/${cert.metadata.name}: its URIs (${uris.join(", ")}) name no process of the build`,
      );
  }

  out.push(...networkPolicyProblems(byKind("NetworkPolicy"), pods, name, ctx));
  return out;
}

function networkPolicyProblems(policies, pods, name, ctx) {
  const out = [];
  if (
    !policies.some(
      (p) =>
        isEmptySelector(p.spec.podSelector) &&
        ["Ingress", "Egress"].every((t) => (p.spec.policyTypes ?? []).includes(t)) &&
        !(p.spec.ingress ?? []).length &&
        !(p.spec.egress ?? []).length,
    )
  ) {
    out.push(`${name}: no default-deny NetworkPolicy (podSelector {}, policyTypes Ingress and Egress, no rules)`);
  }
  const byName = new Map(pods.map((p) => [p.name, p]));
  const gateway = pods.find((p) => p.proc.name === "gateway");
  const port = (pod, setting) => Number(pod.settings.get(setting));
  const elsewhere = (peer) => ({ kind: "pod", namespace: peer.namespace, labels: peer.labels });

  // The mesh: exactly the calls the code makes, plus the gateway to every service.
  const calls = new Map(); // "a→b" → the setting that makes the call
  for (const a of pods) {
    for (const upstream of a.proc.upstreams) {
      const callee = upstream.replace(/_GRPC_URL$/, "").toLowerCase();
      if (byName.has(callee) && callee !== a.name) calls.set(`${a.name}→${callee}`, upstream);
    }
  }
  for (const a of pods) {
    for (const b of pods) {
      if (a === b || b === gateway) continue;
      const mesh = port(b, "MESH_PORT");
      const open = allowed(policies, a, b, mesh);
      const why = calls.get(`${a.name}→${b.name}`);
      if (!open && why)
        out.push(
          `${name}: NetworkPolicies do not let ${a.name} reach ${b.name}'s mesh port ${mesh} (${a.name} calls it: ${why})`,
        );
      if (open && !why)
        out.push(
          `${name}: NetworkPolicies let ${a.name} reach ${b.name}'s mesh port ${mesh}, but ${a.name} makes no call to ${b.name} (no ${b.name.toUpperCase()}_GRPC_URL among its settings): allow exactly the callers graph`,
        );
    }
  }
  for (const b of pods) {
    for (const source of [OUTSIDE, elsewhere(PROMETHEUS), ...pods.filter((a) => a !== b)]) {
      const what = source.what ?? (source.name ? source.name : `pods in namespace ${source.namespace}`);
      const grpc = port(b, "GRPC_PORT");
      if (allowed(policies, source, b, grpc))
        out.push(`${name}: NetworkPolicies let ${what} reach ${b.name}'s public gRPC port ${grpc}; it is pod-local`);
    }
    if (b !== gateway && allowed(policies, OUTSIDE, b, port(b, "MESH_PORT")))
      out.push(`${name}: NetworkPolicies let ${OUTSIDE.what} reach ${b.name}'s mesh port`);
    const admin = port(b, "METRICS_PORT");
    if (!allowed(policies, elsewhere(PROMETHEUS), b, admin))
      out.push(
        `${name}: NetworkPolicies do not let Prometheus (namespace ${PROMETHEUS.namespace}, ${Object.entries(
          PROMETHEUS.labels,
        )
          .map(([k, v]) => `${k}=${v}`)
          .join(",")}) reach ${b.name}'s admin port ${admin}`,
      );
    if (allowed(policies, OUTSIDE, b, admin))
      out.push(
        `${name}: NetworkPolicies let ${OUTSIDE.what} reach ${b.name}'s admin port ${admin} (/metrics, /health/detailed): Prometheus only`,
      );
  }
  if (gateway && !allowed(policies, OUTSIDE, gateway, port(gateway, "PORT")))
    out.push(
      `${name}: NetworkPolicies do not let the load balancer (anywhere) reach the gateway's port ${port(gateway, "PORT")}`,
    );

  // Ways out.
  const common = ctx.secretTemplates.find((s) => s.metadata.name === "weelo-common")?.stringData ?? {};
  const dataPorts = (key, fallback) => new Set([fallback, ...urlPorts(common[key])]);
  // Each service's database URL is in a Secret of its own (weelo-db-<service>), to PgBouncer.
  const templates = new Map(ctx.secretTemplates.map((s) => [s.metadata.name, s]));
  const databasePorts = (pod) => {
    const urls = pod.secrets.map((s) => templates.get(s)?.stringData?.DATABASE_URL).filter(Boolean);
    return new Set(urls.length > 0 ? urls.flatMap((u) => [...urlPorts(u)]) : [PGBOUNCER_PORT]);
  };
  const allDatabasePorts = new Set([5432, PGBOUNCER_PORT, ...pods.flatMap((p) => [...databasePorts(p)])]);
  for (const pod of pods) {
    for (const protocol of ["UDP", "TCP"]) {
      if (!allowed(policies, pod, elsewhere(KUBE_DNS), 53, protocol))
        out.push(`${name}: NetworkPolicies do not let ${pod.name} reach kube-dns on ${protocol} 53`);
    }
    const needs = [
      ["REDIS_URL", dataPorts("REDIS_URL", 6379)],
      ["NATS_URL", dataPorts("NATS_URL", 4222)],
      ...(pod === gateway ? [] : [["DATABASE_URL", databasePorts(pod)]]),
    ];
    for (const [key, ports] of needs) {
      for (const p of ports)
        if (!egressOutside(policies, pod, p))
          out.push(`${name}: NetworkPolicies do not let ${pod.name} reach port ${p} (${key}) outside the namespace`);
    }
    if (pod === gateway)
      for (const p of allDatabasePorts)
        if (egressOutside(policies, pod, p))
          out.push(
            `${name}: NetworkPolicies let the gateway reach port ${p} (Postgres, PgBouncer); it has no database`,
          );
    // Nothing of the namespace reaches Postgres itself: PgBouncer does, from its own namespace.
    if (egressOutside(policies, pod, 5432))
      out.push(`${name}: NetworkPolicies let ${pod.name} reach Postgres (5432) directly; only PgBouncer (6432) may`);
    const sends = INTERNET_SENDERS.has(pod.name);
    if (allowed(policies, pod, { kind: "ip", ip: PUBLIC_IP }, 443) !== sends) {
      out.push(
        sends
          ? `${name}: NetworkPolicies do not let ${pod.name} reach HTTPS (443) on the internet (its SMS/push providers)`
          : `${name}: NetworkPolicies let ${pod.name} reach the internet (HTTPS); only ${[...INTERNET_SENDERS].join(" and ")} send to providers there`,
      );
    }
    if (allowed(policies, pod, { kind: "ip", ip: PUBLIC_IP }, 80))
      out.push(`${name}: NetworkPolicies let ${pod.name} reach port 80 on the internet`);
    if (
      allowed(policies, pod, { kind: "ip", ip: "169.254.169.254" }, 80) ||
      allowed(policies, pod, { kind: "ip", ip: "169.254.169.254" }, 443)
    )
      out.push(`${name}: NetworkPolicies let ${pod.name} reach the cloud metadata endpoint 169.254.169.254`);
    const otlp = pod.settings.get("OTEL_EXPORTER_OTLP_ENDPOINT");
    if (otlp) {
      const url = new URL(otlp);
      const p = url.port ? Number(url.port) : url.protocol === "https:" ? 443 : 80;
      const labels = url.hostname.split(".");
      const namespace = labels.length >= 3 && labels[2] === "svc" ? labels[1] : undefined;
      if (!egressOutside(policies, pod, p, "TCP", namespace))
        out.push(
          `${name}: NetworkPolicies do not let ${pod.name} reach the trace collector ${otlp}${namespace ? ` (namespace ${namespace})` : ""} on port ${p}`,
        );
    }
  }
  return out;
}
