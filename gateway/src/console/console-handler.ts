/**
 * The operations console at /console: its page and bundles (console-assets.ts) and
 * /console/config.json (the map's tiles and start, from the gateway's settings). Everything
 * comes from this origin under a Content-Security-Policy that allows nothing else, except the
 * tile server when one is configured; the page calls the API on the same origin.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Http2ServerRequest, Http2ServerResponse } from "node:http2";
import { type ConsoleAsset, loadConsoleAssets } from "./console-assets.js";

type Request = IncomingMessage | Http2ServerRequest;
type Response = ServerResponse | Http2ServerResponse;

export interface ConsoleSettings {
  /** Tile URL template ({s}, {z}, {x}, {y}); unset: the page draws an offline city grid. */
  tileUrl: string | undefined;
  tileAttribution: string;
  centerLat: number;
  centerLng: number;
  zoom: number;
}

/** The settings as the gateway's config names them. */
export function consoleSettingsOf(config: {
  CONSOLE_TILE_URL?: string | undefined;
  CONSOLE_TILE_ATTRIBUTION: string;
  CONSOLE_MAP_CENTER: string;
  CONSOLE_MAP_ZOOM: number;
}): ConsoleSettings {
  const [lat = 0, lng = 0] = config.CONSOLE_MAP_CENTER.split(",").map(Number);
  return {
    tileUrl: config.CONSOLE_TILE_URL,
    tileAttribution: config.CONSOLE_TILE_ATTRIBUTION,
    centerLat: lat,
    centerLng: lng,
    zoom: config.CONSOLE_MAP_ZOOM,
  };
}

/** The tile server's origin for the CSP: "https://*.tile.openstreetmap.org" for a template with {s}. */
export function tileOrigin(tileUrl: string): string | undefined {
  const match = /^(https?:\/\/[^/]+)\//.exec(tileUrl.replaceAll("{s}", "*"));
  return match?.[1];
}

/** Same origin only; images also from the tile server; Leaflet's styles are set from script (allowed). */
export function consoleCsp(tileUrl: string | undefined): string {
  const tiles = tileUrl ? tileOrigin(tileUrl) : undefined;
  return [
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    `img-src 'self' data:${tiles ? ` ${tiles}` : ""}`,
    "connect-src 'self'",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join("; ");
}

/** True for the paths the console serves: /console and everything under it. */
export function isConsolePath(path: string): boolean {
  return path === "/console" || path.startsWith("/console/");
}

/** The handler of /console for these settings; files load on the first request. */
export function consoleHandler(settings: ConsoleSettings) {
  const csp = consoleCsp(settings.tileUrl);
  const configJson = Buffer.from(
    JSON.stringify({
      tileUrl: settings.tileUrl ?? "",
      tileAttribution: settings.tileAttribution,
      center: { lat: settings.centerLat, lng: settings.centerLng },
      zoom: settings.zoom,
    }),
  );
  let assets: Promise<Map<string, ConsoleAsset>> | undefined;
  return async (req: Request, res: Response, path: string): Promise<void> => {
    res.setHeader("content-security-policy", csp);
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.writeHead(405, { allow: "GET, HEAD", "content-type": "text/plain; charset=utf-8" });
      res.end("method not allowed\n");
      return;
    }
    if (path === "/console") {
      res.writeHead(308, { location: "/console/" });
      res.end();
      return;
    }
    if (path === "/console/config.json") {
      res.writeHead(200, {
        "content-type": "application/json; charset=utf-8",
        "content-length": configJson.length,
        "cache-control": "no-cache",
      });
      if (req.method === "HEAD") res.end();
      else res.end(configJson);
      return;
    }
    assets ??= loadConsoleAssets().catch((error: unknown) => {
      assets = undefined; // a later request tries again
      throw error;
    });
    const name = path === "/console/" ? "index.html" : path.slice("/console/".length);
    const asset = (await assets).get(name);
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
  };
}
