/**
 * CI's deploy checks (scripts/check-*.mjs) run as CI runs them: the repository's own files
 * pass, and copies with the mistakes they exist to catch fail with a message naming them.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { parse, stringify } from "yaml";

const root = new URL("..", import.meta.url).pathname;
const scratch = mkdtempSync(join(tmpdir(), "weelo-deploy-checks-"));

function run(script: string, ...args: string[]): { code: number; output: string } {
  const result = spawnSync(process.execPath, [join(root, "scripts", script), ...args], {
    encoding: "utf8",
    timeout: 60_000,
  });
  return { code: result.status ?? -1, output: `${result.stdout}${result.stderr}` };
}

function failsWith(result: { code: number; output: string }, ...messages: RegExp[]) {
  assert.equal(result.code, 1, result.output);
  for (const message of messages) assert.match(result.output, message);
}

describe("deploy checks", () => {
  after(() => rmSync(scratch, { recursive: true, force: true }));

  it("pass on the repository's compose file, Dockerfile, manifests and dashboard", () => {
    for (const script of ["check-compose.mjs", "check-k8s.mjs", "check-dashboard.mjs"]) {
      const result = run(script);
      assert.equal(result.code, 0, result.output);
      assert.match(result.output, /: ok \(/);
    }
  });

  it("catch a compose file that forgets a process, misspells a setting or points an upstream at the wrong port", () => {
    const compose = parse(readFileSync(join(root, "docker-compose.yml"), "utf8"), { merge: true });
    delete compose.services.notification;
    delete compose.services.gateway.depends_on.notification;
    compose.services.booking.environment.NATS_ULR = compose.services.booking.environment.NATS_URL;
    compose.services.gateway.environment.BOOKING_GRPC_URL = "booking:50051";
    compose.services.tracking.depends_on.jaeger = { condition: "service_healthy" };
    compose.services.fleet.command = ["node", "dist/services/fleet/mian.js"];
    // Production runs the build with plain node: TypeScript through a loader is refused.
    compose.services.pricing.command = ["node", "--import", "tsx", "services/pricing/src/main.ts"];
    const file = join(scratch, "compose.yml");
    writeFileSync(file, stringify(compose));
    failsWith(
      run("check-compose.mjs", file),
      /no service runs services\/notification\/src\/main\.ts/,
      /"booking": NATS_ULR is not a setting of booking/,
      /"gateway": BOOKING_GRPC_URL uses port 50051, but "booking" serves the mesh on 50052/,
      /"gateway": NOTIFICATION_GRPC_URL names "notification", which is not a Weelo service/,
      /"tracking": waits for "jaeger" to be healthy, but "jaeger" has no healthcheck/,
      /"fleet": dist\/services\/fleet\/mian\.js is not the build of a service's or the gateway's main/,
      /"pricing": command must be \["node", "dist\/<workspace>\/<name>\.js"\]/,
    );
  });

  it("catch a compose file whose networks or published ports open more than the design allows", () => {
    const compose = parse(readFileSync(join(root, "docker-compose.yml"), "utf8"), { merge: true });
    compose.services.gateway.networks.push("data");
    compose.services.gateway.environment.DATABASE_URL = "postgres://weelo:weelo@postgres:5432/weelo";
    compose.services.postgres.ports = ["5432:5432"];
    compose.services.redis.ports = ["127.0.0.1:6379:6379"];
    compose.services.booking.ports = ["127.0.0.1:50051:50051"];
    compose.services.pricing.networks = ["mesh", "data", "telemetry", "egress"];
    delete compose.services.fleet.networks;
    compose.services.tracking.networks = ["mesh", "telemetry"];
    compose.services.dispatch.environment.MESH_IDENTITY = "booking";
    compose.networks.mesh = {};
    const file = join(scratch, "compose-networks.yml");
    writeFileSync(file, stringify(compose));
    const result = run("check-compose.mjs", file);
    failsWith(
      result,
      /"gateway": the gateway must not be on the data network/,
      /"gateway": the gateway must hold no DATABASE_URL at all/,
      /"gateway": shares a network with "postgres" \(Postgres\)/,
      /"postgres": publishes port 5432 on every interface/,
      /"booking": publishes port 50051; services publish no ports/,
      /"pricing": network "egress" is not internal/,
      /"fleet": names no networks, so it joins "default"/,
      /"tracking": must be on the data network/,
      /"tracking": DATABASE_URL names "pgbouncer", which shares no network with it/,
      /"dispatch": MESH_IDENTITY must be "dispatch"/,
      /network "mesh" must be internal: true/,
    );
    assert.doesNotMatch(result.output, /"redis": publishes/);
  });

  it("catch a compose database reached around PgBouncer, as a shared role, by a service that migrates or does not wait for the migrate one-shot", () => {
    const compose = parse(readFileSync(join(root, "docker-compose.yml"), "utf8"), { merge: true });
    compose.services.booking.environment.DATABASE_URL = "postgres://weelo:weelo@postgres:5432/weelo";
    compose.services.fleet.environment.DATABASE_URL = "postgres://weelo_pricing:dev-pricing@pgbouncer:6432/weelo";
    compose.services.tracking.environment.MIGRATE_ON_START = "true";
    delete compose.services.dispatch.depends_on.migrate;
    compose.services.migrate.restart = "on-failure";
    const file = join(scratch, "compose-database.yml");
    writeFileSync(file, stringify(compose));
    failsWith(
      run("check-compose.mjs", file),
      /"booking": DATABASE_URL must point at PgBouncer \(pgbouncer:6432\), not postgres:5432/,
      /"booking": DATABASE_URL must log in as its own role weelo_booking, not "weelo"/,
      /"fleet": DATABASE_URL must log in as its own role weelo_fleet, not "weelo_pricing"/,
      /"(fleet|pricing)": shares its database role with "(fleet|pricing)"/,
      /"tracking": MIGRATE_ON_START must be "false"/,
      /"dispatch": must wait for "migrate" \(condition: service_completed_successfully\)/,
      /"migrate": a one-shot must have restart: "no"/,
    );
  });

  it("catch a Dockerfile that runs as root or starts a missing file, and an ignore file that drops the build script", () => {
    const dockerfile = join(scratch, "Dockerfile");
    writeFileSync(
      dockerfile,
      readFileSync(join(root, "Dockerfile"), "utf8")
        .replace(/^USER node$/m, "USER root")
        .replace(/^CMD .*$/m, 'CMD ["node", "dist/gateway/server.js"]')
        .replace(/^# digest-exception .*$/m, "")
        .replace(
          // biome-ignore lint/suspicious/noTemplateCurlyInString: the Dockerfile's own ${NODE_IMAGE} line, literally
          "FROM ${NODE_IMAGE} AS deps",
          "FROM node:20-slim@sha256:0000000000000000000000000000000000000000000000000000000000000000 AS deps",
        ),
    );
    const ignore = join(scratch, "dockerignore");
    writeFileSync(ignore, `${readFileSync(join(root, ".dockerignore"), "utf8")}\nscripts\n`);
    failsWith(
      run("check-compose.mjs", join(root, "docker-compose.yml"), dockerfile, ignore),
      /Dockerfile: the final image must run as a non-root USER/,
      /Dockerfile CMD: dist\/gateway\/server\.js is not the build of a service's or the gateway's main/,
      /\.dockerignore: "scripts" keeps scripts\/build\.mjs out of the image's build/,
      /Dockerfile: base image node:24-bookworm-slim is not pinned by digest \(@sha256:…\); pin it, or explain how it is pinned in a "# digest-exception NODE_IMAGE: …" comment/,
    );
    assert.doesNotMatch(
      run("check-compose.mjs", join(root, "docker-compose.yml"), dockerfile, ignore).output,
      /node:20-slim@sha256/,
      "a digest is a pin",
    );
  });

  it("catch manifests with a schema error, a missing PDB, a probe on an undeclared port, a real secret or a broken patch", () => {
    const dir = join(scratch, "k8s");
    cpSync(join(root, "deploy/k8s"), dir, { recursive: true });
    const edit = (file: string, change: (text: string) => string) =>
      writeFileSync(join(dir, file), change(readFileSync(join(dir, file), "utf8")));
    edit("base/booking.yaml", (text) =>
      text
        .split("\n---\n")
        .filter((doc) => !doc.includes("kind: PodDisruptionBudget"))
        .join("\n---\n"),
    );
    edit("base/pricing.yaml", (text) => text.replace("averageUtilization: 70", 'averageUtilization: "70"'));
    edit("base/tracking.yaml", (text) =>
      text.replace(
        /readinessProbe:\n(\s+)httpGet:\n\s+path: \/health\/ready\n(\s+)port: metrics/,
        "readinessProbe:\n$1grpc:\n$2port: 50052",
      ),
    );
    edit("base/fleet.yaml", (text) =>
      text.replace(
        /livenessProbe:\n(\s+)httpGet:\n(\s+)path: \/health\n(\s+)port: metrics/,
        "livenessProbe:\n$1httpGet:\n$2path: /health\n$3port: 50052",
      ),
    );
    edit("base/identity.yaml", (text) => text.replace("value: dns:///fleet-grpc:50052", "value: dns:///fleet:50052"));
    edit("secrets/weelo-quotes.example.yaml", (text) =>
      text.replace(/QUOTE_SIGNING_SECRET: .*/, "QUOTE_SIGNING_SECRET: 8a3f0c1d2e4b5a6978c0d1e2f3a4b5c6"),
    );
    edit("overlays/staging/kustomization.yaml", (text) =>
      text.replace("path: /spec/minReplicas", "path: /spec/minReplica"),
    );
    failsWith(
      run("check-k8s.mjs", "--dir", dir),
      /base: Deployment\/booking: needs exactly one PodDisruptionBudget/,
      /base: HorizontalPodAutoscaler\/pricing: schema: .*averageUtilization must be integer/,
      /base: Deployment\/tracking container tracking: readinessProbe must be an httpGet probe \(kubelet's gRPC and TCP probes cannot present a mesh certificate\)/,
      /base: Deployment\/fleet container fleet: livenessProbe asks port 50052; fleet's probes go to its admin port 9464/,
      /Deployment\/identity container identity: FLEET_GRPC_URL resolves fleet by DNS for round robin, but it is not a headless Service/,
      /secrets\/weelo-quotes\.example\.yaml: QUOTE_SIGNING_SECRET must be a REPLACE_ME/,
      /staging: cannot render: .*replace \/spec\/minReplica: nothing there to replace/,
    );
  });

  it("catch a gateway holding a database URL, a service without its own database Secret or around PgBouncer, and a missing migrate Job", () => {
    const dir = join(scratch, "k8s-database");
    cpSync(join(root, "deploy/k8s"), dir, { recursive: true });
    const edit = (file: string, change: (text: string) => string) => {
      const before = readFileSync(join(dir, file), "utf8");
      const after = change(before);
      assert.notEqual(after, before, `the test's edit of ${file} changed nothing`);
      writeFileSync(join(dir, file), after);
    };
    const common = "            - secretRef:\n                name: weelo-common\n";
    edit("base/gateway.yaml", (text) =>
      text.replace(common, `${common}            - secretRef:\n                name: weelo-db-booking\n`),
    );
    edit("base/fleet.yaml", (text) => text.replace("name: weelo-db-fleet", "name: weelo-db-pricing"));
    edit("secrets/weelo-db.example.yaml", (text) =>
      text.replace(
        "weelo_tracking:PASSWORD@pgbouncer.weelo-data.svc:6432",
        "weelo_tracking:PASSWORD@postgres.example.internal:5432",
      ),
    );
    edit("base/kustomization.yaml", (text) => text.replace("  - migrate.yaml\n", ""));
    failsWith(
      run("check-k8s.mjs", "--dir", dir),
      /base: Deployment\/gateway container gateway: the gateway must hold no DATABASE_URL \(found in weelo-db-booking\)/,
      /base: Deployment\/fleet container fleet: DATABASE_URL must come from its own Secret weelo-db-fleet alone \(found in weelo-db-pricing\)/,
      /base: Deployment\/tracking container tracking: weelo-db-tracking's DATABASE_URL must point at PgBouncer \(port 6432\)/,
      /base: needs exactly one Job running the migrate one-shot system\/src\/migrate\.ts, found 0/,
    );
  });

  it("catch a mesh identity that cannot rotate or is missing, and network policies wider or narrower than the callers graph", () => {
    const dir = join(scratch, "k8s-mesh");
    cpSync(join(root, "deploy/k8s"), dir, { recursive: true });
    const edit = (file: string, change: (text: string) => string) => {
      const before = readFileSync(join(dir, file), "utf8");
      const after = change(before);
      assert.notEqual(after, before, `the test's edit of ${file} changed nothing`);
      writeFileSync(join(dir, file), after);
    };
    const policies = "base/network-policies.yaml";
    const docs = () => readFileSync(join(dir, policies), "utf8").split("\n---\n");
    const editPolicy = (name: string, change: (doc: string) => string) =>
      edit(policies, () =>
        docs()
          .map((doc) => (doc.includes(`  name: ${name}\n`) ? change(doc) : doc))
          .join("\n---\n"),
      );
    // Wider: fleet may call booking; pricing may reach the internet; the gateway may reach Postgres.
    editPolicy("fleet-mesh-egress", (doc) =>
      doc.replace(
        "    - to:\n",
        "    - to:\n        - podSelector:\n            matchLabels:\n              app.kubernetes.io/name: booking\n",
      ),
    );
    editPolicy("booking-mesh-ingress", (doc) =>
      doc.replace(
        "    - from:\n",
        "    - from:\n        - podSelector:\n            matchLabels:\n              app.kubernetes.io/name: fleet\n",
      ),
    );
    editPolicy("providers-egress", (doc) =>
      doc.replace("values: [identity, notification]", "values: [identity, notification, pricing]"),
    );
    editPolicy("gateway-data-egress", (doc) => `${doc}\n        - protocol: TCP\n          port: 5432`);
    // Narrower: notification can no longer call identity; no default deny of egress.
    edit(policies, () =>
      docs()
        .filter((doc) => !doc.includes("  name: notification-mesh-egress\n"))
        .join("\n---\n"),
    );
    editPolicy("default-deny", (doc) => doc.replace(/\n {4}- Egress$/, ""));
    // Public port on a Service, an upstream on it; a certificate mounted by subPath, one misnamed, a wrong identity.
    edit("base/pricing.yaml", (text) =>
      text.replace(
        "    - name: mesh\n      port: 50052\n      targetPort: mesh\n",
        "    - name: mesh\n      port: 50052\n      targetPort: mesh\n    - name: grpc\n      port: 50051\n      targetPort: 50051\n",
      ),
    );
    edit("base/fleet.yaml", (text) => text.replace("value: dns:///pricing-grpc:50052", "value: dns:///pricing:50051"));
    edit("base/booking.yaml", (text) =>
      text.replace(
        "              mountPath: /etc/weelo/mesh\n",
        "              mountPath: /etc/weelo/mesh/tls.crt\n              subPath: tls.crt\n",
      ),
    );
    edit("base/mesh-certificates.yaml", (text) =>
      text
        .replace("spiffe://weelo/identity", "spiffe://weelo/identiti")
        .replace("    - client auth\n", "    - client-auth\n"),
    );
    edit("base/tracking.yaml", (text) =>
      text.replace(
        "            - name: MESH_IDENTITY\n              value: tracking",
        "            - name: MESH_IDENTITY\n              value: fleet",
      ),
    );
    edit("base/dispatch.yaml", (text) =>
      text.replace("            secretName: weelo-mesh-dispatch\n", "            secretName: weelo-mesh-dispatcher\n"),
    );
    failsWith(
      run("check-k8s.mjs", "--dir", dir),
      /base: NetworkPolicies let fleet reach booking's mesh port 50052, but fleet makes no call to booking/,
      /base: NetworkPolicies let pricing reach the internet \(HTTPS\)/,
      /base: NetworkPolicies let the gateway reach port 5432 \(Postgres, PgBouncer\)/,
      /base: NetworkPolicies do not let notification reach identity's mesh port 50052 \(notification calls it: IDENTITY_GRPC_URL\)/,
      /base: no default-deny NetworkPolicy/,
      /base: Service\/pricing: port grpc reaches the public gRPC port 50051, which is pod-local/,
      /base: Deployment\/fleet container fleet: PRICING_GRPC_URL uses port 50051 of Service pricing, which is not the mesh port/,
      /base: Deployment\/booking container booking: mesh is mounted with subPath, which never receives the renewed certificate/,
      /base: Deployment\/identity container identity: needs exactly one cert-manager Certificate with the URI spiffe:\/\/weelo\/identity, found 0/,
      /base: Certificate\/weelo-mesh-gateway: cert-manager schema: spec\.usages: "client-auth" is not a key usage/,
      /base: Deployment\/tracking container tracking: MESH_IDENTITY must be "tracking"/,
      /base: Deployment\/dispatch container dispatch: the pod does not mount Secret weelo-mesh-dispatch/,
      /base: Deployment\/dispatch: volume mesh mounts Secret weelo-mesh-dispatcher, which neither a Certificate nor a template/,
    );
  });

  it("render what kustomize renders: the settings' ConfigMap named by the hash of its content, references rewritten, production by default", async () => {
    const lib = "./check-lib.mjs";
    const { configMapHash } = (await import(lib)) as {
      configMapHash: (name: string, data: Record<string, unknown>) => string;
    };
    // kustomize's own vectors (api/hasher/hasher_test.go).
    assert.equal(configMapHash("", {}), "6ct58987ht");
    assert.equal(configMapHash("", { one: "" }), "9g67k2htb6");
    assert.equal(configMapHash("", { two: 2, one: "", three: 3 }), "7757f9kkct");

    const rendered = (...args: string[]) => {
      const result = run("check-k8s.mjs", ...args);
      assert.equal(result.code, 0, result.output);
      return result.output.split(/^---$/m).map((doc) => parse(doc));
    };
    const configOf = (objects: any[]) => {
      const maps = objects.filter((o) => o.kind === "ConfigMap");
      assert.equal(maps.length, 1);
      const [cm] = maps;
      assert.match(cm.metadata.name, /^weelo-config-[a-z0-9]{10}$/);
      assert.equal(cm.metadata.name, `weelo-config-${configMapHash("weelo-config", cm.data)}`);
      assert.equal(cm.metadata.annotations, undefined, "no renderer bookkeeping left");
      for (const d of objects.filter((o) => o.kind === "Deployment")) {
        assert.deepEqual(
          d.spec.template.spec.containers[0].envFrom.map((s: any) => s.configMapRef?.name).filter(Boolean),
          [cm.metadata.name],
          d.metadata.name,
        );
      }
      return cm;
    };
    const production = rendered("--print"); // no argument: production
    assert.ok(production.every((o) => o.metadata.namespace === "weelo"));
    const cm = configOf(production);
    assert.equal(cm.data.NATS_STREAM_REPLICAS, "3");
    assert.equal(cm.data.OTEL_EXPORTER_OTLP_ENDPOINT, "http://otel-collector.observability.svc:4318");
    assert.equal(cm.data.LOG_LEVEL, "info", "the base's settings under the overlay's");
    const staging = rendered("--print", "staging");
    assert.equal(configOf(staging).data.LOG_LEVEL, "debug");
    for (const d of staging.filter((o) => o.kind === "Deployment"))
      assert.equal(d.spec.template.spec.containers[0].imagePullPolicy, "Always", d.metadata.name);
    assert.equal(run("check-k8s.mjs", "--print", "prod").code, 2);

    // An edited setting renders a new name, so every Deployment's pod template changes: the pods roll.
    const dir = join(scratch, "k8s-roll");
    cpSync(join(root, "deploy/k8s"), dir, { recursive: true });
    writeFileSync(
      join(dir, "base/config.env"),
      readFileSync(join(dir, "base/config.env"), "utf8").replace("DB_POOL_MAX=20", "DB_POOL_MAX=30"),
    );
    const edited = configOf(rendered("--dir", dir, "--print", "production"));
    assert.equal(edited.data.DB_POOL_MAX, "30");
    assert.notEqual(edited.metadata.name, cm.metadata.name);
  });

  it("catch settings that do not roll the pods, a mutable tag served from a node's cache, production streams with one copy, a placeholder, a short grace period and a gateway waiting for upstreams", () => {
    const fixed = join(scratch, "k8s-fixed-config");
    cpSync(join(root, "deploy/k8s"), fixed, { recursive: true });
    const env = readFileSync(join(fixed, "base/config.env"), "utf8");
    const data = Object.fromEntries(
      env
        .split("\n")
        .filter((l) => l && !l.startsWith("#"))
        .map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]),
    );
    writeFileSync(
      join(fixed, "base/config.yaml"),
      stringify({ apiVersion: "v1", kind: "ConfigMap", metadata: { name: "weelo-config" }, data }),
    );
    const kustomization = readFileSync(join(fixed, "base/kustomization.yaml"), "utf8");
    writeFileSync(
      join(fixed, "base/kustomization.yaml"),
      kustomization
        .replace("resources:\n", "resources:\n  - config.yaml\n")
        .replace(/\nconfigMapGenerator:[\s\S]*$/, "\n"),
    );
    failsWith(
      run("check-k8s.mjs", "--dir", fixed),
      /base: Deployment\/gateway container gateway: ConfigMap weelo-config has a fixed name, so editing it does not roll the pods; generate it/,
      /production: cannot render: .*configMapGenerator weelo-config \(behavior merge\) has no generated ConfigMap to merge/,
    );

    const dir = join(scratch, "k8s-cluster");
    cpSync(join(root, "deploy/k8s"), dir, { recursive: true });
    const edit = (file: string, change: (text: string) => string) => {
      const before = readFileSync(join(dir, file), "utf8");
      const after = change(before);
      assert.notEqual(after, before, `the test's edit of ${file} changed nothing`);
      writeFileSync(join(dir, file), after);
    };
    edit("overlays/staging/kustomization.yaml", (text) =>
      text.replace(/\n {2}# "staging" is a mutable tag[\s\S]*?value: Always\n/, "\n"),
    );
    edit("overlays/production/kustomization.yaml", (text) =>
      text.replace("NATS_STREAM_REPLICAS=3", "NATS_STREAM_REPLICAS=1"),
    );
    edit("base/config.env", (text) =>
      text.replace("MSG91_BASE_URL=https://control.msg91.com", "MSG91_BASE_URL=https://REPLACE_ME.example"),
    );
    edit("base/booking.yaml", (text) =>
      text.replace("terminationGracePeriodSeconds: 35", "terminationGracePeriodSeconds: 20"),
    );
    edit("base/gateway.yaml", (text) =>
      text.replace(
        "      containers:\n        - name: gateway\n",
        '      initContainers:\n        - name: wait-for-identity\n          image: registry.example.com/busybox:1.36.1\n          command: ["sh", "-c", "until nc -z identity-grpc 50052; do sleep 1; done"]\n      containers:\n        - name: gateway\n',
      ),
    );
    failsWith(
      run("check-k8s.mjs", "--dir", dir),
      /staging: Deployment\/gateway container gateway: image registry\.example\.com\/weelo\/backend:staging is a mutable tag; set imagePullPolicy: Always/,
      /production: Deployment\/dispatch container dispatch: NATS_STREAM_REPLICAS is 1; production streams keep 3 copies/,
      /base: ConfigMap\/weelo-config-[a-z0-9]{10}: MSG91_BASE_URL holds a placeholder, which production refuses to start with/,
      /base: Deployment\/booking container booking: terminationGracePeriodSeconds 20 does not cover the preStop pause \(5 s\) \+ SHUTDOWN_TIMEOUT_MS \(20 s\)/,
      /base: Deployment\/gateway: the gateway must not wait for anything in an init container/,
    );
  });

  it("catch a dashboard query on a metric or a label that does not exist", () => {
    const dashboard = JSON.parse(readFileSync(join(root, "deploy/grafana/weelo-dashboard.json"), "utf8"));
    const text = JSON.stringify(dashboard)
      .replace("weelo_tracking_points_total", "weelo_tracking_point_total")
      .replace(
        "sum by (outcome) (rate(weelo_dispatch_offers_total",
        "sum by (result) (rate(weelo_dispatch_offers_total",
      );
    const file = join(scratch, "dashboard.json");
    writeFileSync(file, text);
    failsWith(
      run("check-dashboard.mjs", file),
      /weelo_tracking_point_total is not a metric the code registers/,
      /label "result" is not a label of weelo_dispatch_offers_total/,
    );
  });
});
