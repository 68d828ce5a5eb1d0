// The database side of deploy/k8s, for scripts/check-k8s.mjs: each service reaches Postgres
// through PgBouncer (port 6432) as a role of its own, from a Secret of its own; the gateway holds
// no database URL anywhere (env, ConfigMap or Secret); the pre-deploy migrate Job exists, runs
// the migrate one-shot with the DDL role's Secret, and the services do not migrate at start.
import { ONE_SHOTS } from "./check-lib.mjs";
import { builtPath } from "./entry-points.mjs";

export const PGBOUNCER_PORT = 6432;

/** The database Secret a service's pods read. */
export const databaseSecretOf = (service) => `weelo-db-${service}`;
export const MIGRATE_SECRET = "weelo-db-migrate";

/** A template's URL without its REPLACE_ME_ prefix, parsed; undefined when it is not a URL. */
export function templateUrl(value) {
  try {
    return new URL(String(value ?? "").replace(/^REPLACE_ME_/, ""));
  } catch {
    return undefined;
  }
}

/**
 * ctx: { procs, configMaps, secretTemplates, processOfCommand }.
 * Returns the problems of one rendering.
 */
export function databaseProblems(objects, name, ctx) {
  const out = [];
  const templates = new Map(ctx.secretTemplates.map((s) => [s.metadata.name, s]));
  const users = new Map();
  for (const d of objects.filter((o) => o.kind === "Deployment")) {
    for (const c of d.spec.template.spec.containers ?? []) {
      const proc = ctx.processOfCommand(c.command, ctx.procs);
      if (!proc) continue;
      const where = `${name}: Deployment/${d.metadata.name} container ${c.name}`;
      const secrets = (c.envFrom ?? []).map((s) => s.secretRef?.name).filter(Boolean);
      const holding = [
        ...secrets.filter((s) => "DATABASE_URL" in (templates.get(s)?.stringData ?? {})),
        ...(c.envFrom ?? [])
          .map((s) => s.configMapRef?.name)
          .filter((m) => m && "DATABASE_URL" in (ctx.configMaps.get(m)?.data ?? {})),
        ...((c.env ?? []).some((e) => e.name === "DATABASE_URL") ? ["its env"] : []),
      ];
      if (proc.name === "gateway") {
        if (holding.length > 0)
          out.push(`${where}: the gateway must hold no DATABASE_URL (found in ${holding.join(", ")})`);
        continue;
      }
      const own = databaseSecretOf(proc.name);
      if (holding.length !== 1 || holding[0] !== own) {
        out.push(
          `${where}: DATABASE_URL must come from its own Secret ${own} alone (found in ${holding.join(", ") || "none"})`,
        );
        continue;
      }
      const template = templates.get(own);
      const url = templateUrl(template?.stringData?.DATABASE_URL);
      if (!url) {
        out.push(`${where}: the template of ${own} has no postgres:// DATABASE_URL`);
        continue;
      }
      if (Number(url.port) !== PGBOUNCER_PORT || !url.hostname.includes("pgbouncer"))
        out.push(`${where}: ${own}'s DATABASE_URL must point at PgBouncer (port ${PGBOUNCER_PORT}), not ${url.host}`);
      if (url.username !== `weelo_${proc.name}`)
        out.push(`${where}: ${own}'s DATABASE_URL must log in as weelo_${proc.name}, not "${url.username}"`);
      if (users.has(url.username)) out.push(`${where}: shares its database role with ${users.get(url.username)}`);
      users.set(url.username, d.metadata.name);
      const migrate = (c.envFrom ?? [])
        .map((s) => ctx.configMaps.get(s.configMapRef?.name)?.data?.MIGRATE_ON_START)
        .find((v) => v !== undefined);
      if (String(migrate) !== "false")
        out.push(`${where}: MIGRATE_ON_START must be false (the weelo-migrate Job migrates; the runtime role cannot)`);
    }
  }

  const jobs = objects.filter((o) => o.kind === "Job");
  const migrateMain = ONE_SHOTS.get("migrate");
  const migrateJobs = jobs.filter((j) =>
    (j.spec.template.spec.containers ?? []).some((c) => c.command?.at(-1) === builtPath(migrateMain)),
  );
  if (migrateJobs.length !== 1)
    out.push(`${name}: needs exactly one Job running the migrate one-shot ${migrateMain}, found ${migrateJobs.length}`);
  for (const job of migrateJobs) {
    const where = `${name}: Job/${job.metadata.name}`;
    const pod = job.spec.template.spec;
    if (pod.restartPolicy !== "Never" && pod.restartPolicy !== "OnFailure")
      out.push(`${where}: restartPolicy must be Never or OnFailure`);
    if (pod.securityContext?.runAsNonRoot !== true) out.push(`${where}: must run as non-root`);
    if (pod.shareProcessNamespace !== true)
      out.push(`${where}: shareProcessNamespace must be true (the pause container is then PID 1 and reaps orphans)`);
    for (const c of pod.containers ?? []) {
      if (!c.resources?.limits?.memory) out.push(`${where} container ${c.name}: no memory limit`);
      const secrets = (c.envFrom ?? []).map((s) => s.secretRef?.name).filter(Boolean);
      if (!secrets.includes(MIGRATE_SECRET)) out.push(`${where} container ${c.name}: must read ${MIGRATE_SECRET}`);
    }
    if (!templateUrl(templates.get(MIGRATE_SECRET)?.stringData?.DATABASE_URL))
      out.push(`${where}: the template of ${MIGRATE_SECRET} has no postgres:// DATABASE_URL`);
  }
  return out;
}
