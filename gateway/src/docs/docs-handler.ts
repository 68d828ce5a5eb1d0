/**
 * The API reference at /docs: Swagger UI (swagger-ui-dist, from node_modules) over the
 * committed OpenAPI document at /docs/openapi.json. Everything comes from this origin (no CDN,
 * no validator badge), under a Content-Security-Policy that allows nothing else; "Try it out"
 * calls the same gateway. Files are read once, and served gzip-compressed to clients that take it.
 */
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Http2ServerRequest, Http2ServerResponse } from "node:http2";
import { dirname, join } from "node:path";
import { gzipSync } from "node:zlib";
import { OPENAPI_FILE } from "./openapi-file.js";

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

let assets: Map<string, Asset> | undefined;

function loadAssets(): Map<string, Asset> {
  const dist = dirname(createRequire(import.meta.url).resolve("swagger-ui-dist/package.json"));
  const asset = (type: string, body: Buffer, cacheControl = "public, max-age=3600"): Asset => ({
    type,
    body,
    gzipped: gzipSync(body),
    cacheControl,
  });
  return new Map([
    ["/docs/", asset("text/html; charset=utf-8", Buffer.from(PAGE), "no-cache")],
    ["/docs/init.js", asset("text/javascript; charset=utf-8", Buffer.from(INIT), "no-cache")],
    ["/docs/openapi.json", asset("application/json; charset=utf-8", readFileSync(OPENAPI_FILE), "no-cache")],
    ["/docs/swagger-ui.css", asset("text/css; charset=utf-8", readFileSync(join(dist, "swagger-ui.css")))],
    [
      "/docs/swagger-ui-bundle.js",
      asset("text/javascript; charset=utf-8", readFileSync(join(dist, "swagger-ui-bundle.js"))),
    ],
    ["/docs/favicon-32x32.png", asset("image/png", readFileSync(join(dist, "favicon-32x32.png")))],
  ]);
}

/** True for the paths this serves: /docs and everything under it. */
export function isDocsPath(path: string): boolean {
  return path === "/docs" || path.startsWith("/docs/");
}

export function serveDocs(req: Request, res: Response, path: string): void {
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
  assets ??= loadAssets();
  const asset = assets.get(path === "/docs/index.html" ? "/docs/" : path);
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
