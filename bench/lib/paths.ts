import { fileURLToPath } from "node:url";

/** Absolute path of the repository root (bench/lib/ -> ../..). */
export const REPO_ROOT = fileURLToPath(new URL("../../", import.meta.url));

/** Absolute path of a file under bench/ (e.g. `benchPath("baselines/raw-http-server.ts")`). */
export const benchPath = (relative: string): string => fileURLToPath(new URL(`../${relative}`, import.meta.url));

/**
 * `--import <tsx loader>` for child node processes, so a child is `node` itself
 * (its pid is the server's pid: no npx/tsx wrapper process in between to kill).
 */
export const tsxImportArgs = (): string[] => ["--import", import.meta.resolve("tsx")];
