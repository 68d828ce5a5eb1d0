/**
 * The API reference at /docs: Swagger UI (swagger-ui-dist, from node_modules) over the
 * committed OpenAPI document at /docs/openapi.json. Everything comes from this origin (no CDN,
 * no validator badge), under a Content-Security-Policy that allows nothing else; "Try it out"
 * calls the same gateway. Files are read and compressed once, off the event loop (the bundle is
 * 1.8 MB), and served gzip-compressed to clients that take it.
 */
import { readFile } from "node:fs/promises";
import { createRequire } from "node:module";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Http2ServerRequest, Http2ServerResponse } from "node:http2";
import { dirname, join } from "node:path";
import { promisify } from "node:util";
import { gzip } from "node:zlib";
// Imported, not read from beside this file: the build bundles it, wherever this code lands in dist/.
import openApiDocument from "./weelo.openapi.json" with { type: "json" };

type Request = IncomingMessage | Http2ServerRequest;
type Response = ServerResponse | Http2ServerResponse;

/** Same origin only; Swagger UI sets inline styles, and shows SVG icons as data: URIs. */
export const DOCS_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data:",
  "font-src 'self' data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join("; ");

const PAGE = `<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8">
    <meta name="viewport" content="width=device-width, initial-scale=1">
    <title>Weelo API reference</title>
    <link rel="stylesheet" href="/docs/swagger-ui.css">
    <link rel="icon" type="image/png" href="/docs/favicon-32x32.png">
  </head>
  <body>
    <div id="swagger-ui"></div>
    <script src="/docs/swagger-ui-bundle.js"></script>
    <script src="/docs/init.js"></script>
  </body>
</html>
`;

// An external script (the CSP allows no inline one). validatorUrl null: no call to validator.swagger.io.
const INIT = `window.ui = SwaggerUIBundle({
  url: "/docs/openapi.json",
  dom_id: "#swagger-ui",
  deepLinking: true,
  validatorUrl: null,
  displayRequestDuration: true,
  filter: true,
  tryItOutEnabled: true,
});
`;

interface Asset {
  type: string;
  body: Buffer;
  gzipped: Buffer;
  cacheControl: string;
}

const gzipAsync = promisify(gzip);
/** Swagger UI's files change only with its version (a deploy). */
const STATIC = "public, max-age=3600";
let assets: Promise<Map<string, Asset>> | undefined;

async function loadAssets(): Promise<Map<string, Asset>> {
  const dist = dirname(createRequire(import.meta.url).resolve("swagger-ui-dist/package.json"));
  const fromDist = (name: string) => () => readFile(join(dist, name));
  const ours = (text: string) => async () => Buffer.from(text);
  const sources: [path: string, type: string, cacheControl: string, load: () => Promise<Buffer>][] = [
    ["/docs/", "text/html; charset=utf-8", "no-cache", ours(PAGE)],
    ["/docs/init.js", "text/javascript; charset=utf-8", "no-cache", ours(INIT)],
    ["/docs/openapi.json", "application/json; charset=utf-8", "no-cache", ours(JSON.stringify(openApiDocument))],
    ["/docs/swagger-ui.css", "text/css; charset=utf-8", STATIC, fromDist("swagger-ui.css")],
    ["/docs/swagger-ui-bundle.js", "text/javascript; charset=utf-8", STATIC, fromDist("swagger-ui-bundle.js")],
    ["/docs/favicon-32x32.png", "image/png", STATIC, fromDist("favicon-32x32.png")],
  ];
  const entries = await Promise.all(
    sources.map(async ([path, type, cacheControl, load]): Promise<[string, Asset]> => {
      const body = await load();
      return [path, { type, body, gzipped: await gzipAsync(body), cacheControl }];
    }),
  );
  return new Map(entries);
}

/** True for the paths this serves: /docs and everything under it. */
export function isDocsPath(path: string): boolean {
  return path === "/docs" || path.startsWith("/docs/");
}

export async function serveDocs(req: Request, res: Response, path: string): Promise<void> {
  res.setHeader("content-security-policy", DOCS_CSP);
  if (req.method !== "GET" && req.method !== "HEAD") {
    res.writeHead(405, { allow: "GET, HEAD", "content-type": "text/plain; charset=utf-8" });
    res.end("method not allowed\n");
    return;
  }
  if (path === "/docs") {
    res.writeHead(308, { location: "/docs/" });
    res.end();
    return;
  }
  assets ??= loadAssets().catch((error: unknown) => {
    assets = undefined; // a later request tries again
    throw error;
  });
  const asset = (await assets).get(path === "/docs/index.html" ? "/docs/" : path);
  if (!asset) {
    res.writeHead(404, { "content-type": "text/plain; charset=utf-8" });
    res.end("not found\n");
    return;
  }
  const gzip = /\bgzip\b/.test(String(req.headers["accept-encoding"] ?? ""));
  const body = gzip ? asset.gzipped : asset.body;
  res.writeHead(200, {
    "content-type": asset.type,
    "content-length": body.length,
    "cache-control": asset.cacheControl,
    vary: "accept-encoding",
    ...(gzip ? { "content-encoding": "gzip" } : {}),
  });
  if (req.method === "HEAD") res.end();
  else res.end(body);
}
