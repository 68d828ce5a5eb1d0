// The processes production starts, by their TypeScript main: `npm run build` (scripts/build.mjs)
// bundles each into dist/, and the deploy checks (check-lib.mjs) accept a container command only
// if it runs one of these builds. Edit this list when a main moves or a process is added.
export const ENTRY_POINTS = [
  "system/src/all-in-one.ts",
  "system/src/migrate.ts",
  "gateway/src/cluster.ts",
  "gateway/src/main.ts",
  "services/booking/src/main.ts",
  "services/dispatch/src/main.ts",
  "services/fleet/src/main.ts",
  "services/identity/src/main.ts",
  "services/notification/src/main.ts",
  "services/ops/src/main.ts",
  "services/pricing/src/main.ts",
  "services/tracking/src/main.ts",
];

/** Where a main's JavaScript lands: "<workspace>/src/<name>.ts" → "dist/<workspace>/<name>.js". */
export function builtPath(source, outdir = "dist") {
  const match = /^(.+)\/src\/(.+)\.ts$/.exec(source);
  if (!match) throw new Error(`${source}: a main is <workspace>/src/<name>.ts`);
  return `${outdir}/${match[1]}/${match[2]}.js`;
}
