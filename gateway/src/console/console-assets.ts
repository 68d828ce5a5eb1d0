/**
 * The console's files (@weelo/console: index.html, the script and style bundles, Leaflet's
 * images): from dist/console/ beside the running build (`npm run build` puts them there; the
 * image copies dist/), or, when the gateway runs from TypeScript (tests, `npm run dev`, the
 * simulator's --start), built in memory by the console's esbuild build on first request, so
 * they always match the source. Each file is compressed once.
 */
import { readdir, readFile } from "node:fs/promises";
import { extname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { gzip } from "node:zlib";

export interface ConsoleAsset {
  type: string;
  body: Buffer;
  gzipped: Buffer;
  cacheControl: string;
}

const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".map": "application/json; charset=utf-8",
  ".txt": "text/plain; charset=utf-8",
  ".png": "image/png",
  ".svg": "image/svg+xml",
};

/** Names with esbuild's content hash ("console-72J36HPV.js") never change content: cached for good. */
const HASHED = /-[A-Z0-9]{8}\.[a-z.]+$/;

const gzipAsync = promisify(gzip);

/** Where a build keeps the console: dist/console, one folder up from any bundle of dist/ (dist/gateway, dist/chunks). */
export function builtConsoleDir(moduleUrl: string = import.meta.url): string {
  return fileURLToPath(new URL("../console/", moduleUrl));
}

/** True when this code runs from its TypeScript source rather than from a build. */
const fromSource = import.meta.url.endsWith(".ts");

async function rawFiles(): Promise<Map<string, Uint8Array>> {
  if (fromSource) {
    // Not a literal: the production build must not bundle the console's build (nor esbuild).
    const builder = "@weelo/console/build";
    const { buildConsole } = (await import(builder)) as {
      buildConsole(options?: object): Promise<{ files: Map<string, Uint8Array> }>;
    };
    return (await buildConsole()).files;
  }
  const dir = builtConsoleDir();
  const names = await readdir(dir);
  return new Map(await Promise.all(names.map(async (name) => [name, await readFile(join(dir, name))] as const)));
}

/** Every file of the console by its path under /console/ ("index.html", "console-72J36HPV.js"). */
export async function loadConsoleAssets(): Promise<Map<string, ConsoleAsset>> {
  const files = await rawFiles();
  const entries = await Promise.all(
    [...files].map(async ([name, bytes]): Promise<[string, ConsoleAsset]> => {
      const body = Buffer.from(bytes);
      return [
        name,
        {
          type: TYPES[extname(name)] ?? "application/octet-stream",
          body,
          gzipped: await gzipAsync(body),
          cacheControl: HASHED.test(name) ? "public, max-age=31536000, immutable" : "no-cache",
        },
      ];
    }),
  );
  return new Map(entries);
}
