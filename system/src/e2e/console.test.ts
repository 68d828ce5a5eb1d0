/**
 * The operations console as the gateway serves it at /console: the page and its bundles from
 * this origin (built from the console's source here: the gateway runs from TypeScript), under a
 * CSP that allows nothing else but the configured tile server, content-hashed files cached for
 * good, and /console/config.json saying what the gateway's settings say. The page itself is
 * driven in Chromium by console.browser.test.ts.
 */
import assert from "node:assert/strict";
import { gunzipSync } from "node:zlib";
import { after, before, describe, it } from "node:test";
import { startTestSystem, type TestSystem } from "./test-support.js";

const TILES = "https://{s}.tile.example.org/{z}/{x}/{y}.png";

describe("the operations console at /console", () => {
  let system: TestSystem;
  before(async () => {
    system = await startTestSystem({
      CONSOLE_TILE_URL: TILES,
      CONSOLE_TILE_ATTRIBUTION: "© Example tiles",
      CONSOLE_MAP_CENTER: "19.076,72.8777",
      CONSOLE_MAP_ZOOM: "11",
    });
  });
  after(async () => {
    await system?.stop();
  });

  it("redirects /console to the page, which names its script and style on this origin", async () => {
    const redirect = await fetch(`${system.url}/console`, { redirect: "manual" });
    assert.equal(redirect.status, 308);
    assert.equal(redirect.headers.get("location"), "/console/");

    const page = await fetch(`${system.url}/console/`);
    assert.equal(page.status, 200);
    assert.match(page.headers.get("content-type") ?? "", /^text\/html/);
    assert.equal(page.headers.get("cache-control"), "no-cache");
    const html = await page.text();
    const script = /<script type="module" src="(\/console\/console-[A-Z0-9]{8}\.js)"><\/script>/.exec(html)?.[1];
    const style = /<link rel="stylesheet" href="(\/console\/style-[A-Z0-9]{8}\.css)">/.exec(html)?.[1];
    assert.ok(script && style, html);
    assert.doesNotMatch(html, /https?:\/\//, "nothing from another origin");

    for (const [path, type] of [
      [script, /^text\/javascript/],
      [style, /^text\/css/],
    ] as const) {
      const file = await fetch(`${system.url}${path}`, { headers: { "accept-encoding": "gzip" } });
      assert.equal(file.status, 200, path);
      assert.match(file.headers.get("content-type") ?? "", type);
      assert.equal(file.headers.get("cache-control"), "public, max-age=31536000, immutable");
      assert.ok((await file.arrayBuffer()).byteLength > 1000, `${path} has content`);
    }
    // Leaflet and the SDK are in the bundle (no CDN): Leaflet's CSS is in the style.
    const css = await (await fetch(`${system.url}${style}`)).text();
    assert.match(css, /\.leaflet-container/);
  });

  it("sends compressed files to browsers that take them", async () => {
    const page = await fetch(`${system.url}/console/`, { headers: { "accept-encoding": "gzip" } });
    // fetch undoes the encoding itself; the raw bytes come through a plain request.
    assert.equal(page.headers.get("content-encoding"), "gzip");
    const raw = await new Promise<Buffer>((resolve, reject) => {
      import("node:http").then(({ get }) =>
        get(`${system.url}/console/`, { headers: { "accept-encoding": "gzip" } }, (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (c: Buffer) => chunks.push(c));
          res.on("end", () => resolve(Buffer.concat(chunks)));
        }).on("error", reject),
      );
    });
    assert.match(gunzipSync(raw).toString("utf8"), /<title>Weelo operations<\/title>/);
  });

  it("sets a CSP of this origin only, images also from the configured tile server", async () => {
    const page = await fetch(`${system.url}/console/`);
    const csp = (page.headers.get("content-security-policy") ?? "").split("; ");
    assert.ok(csp.includes("default-src 'none'"), csp.join("; "));
    assert.ok(csp.includes("script-src 'self'"));
    assert.ok(csp.includes("style-src 'self'"), "no inline style");
    assert.ok(csp.includes("connect-src 'self'"));
    assert.ok(csp.includes("img-src 'self' data: https://*.tile.example.org"));
    assert.ok(csp.includes("frame-ancestors 'none'"));
    assert.ok(!csp.some((d) => d.includes("unsafe")), "nothing unsafe");
  });

  it("tells the page the map's tiles and start from the gateway's settings", async () => {
    const answer = await fetch(`${system.url}/console/config.json`);
    assert.equal(answer.status, 200);
    assert.deepEqual(await answer.json(), {
      tileUrl: TILES,
      tileAttribution: "© Example tiles",
      center: { lat: 19.076, lng: 72.8777 },
      zoom: 11,
    });
  });

  it("answers 404 for a file it does not have and 405 for anything but GET and HEAD", async () => {
    assert.equal((await fetch(`${system.url}/console/nothing-here.js`)).status, 404);
    // Names are looked up among the console's own files, never joined to a folder.
    const { request } = await import("node:http");
    const traversal = await new Promise<number>((resolve, reject) => {
      request(`${system.url}/console/..%2f..%2fpackage.json`, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      })
        .on("error", reject)
        .end();
    });
    assert.equal(traversal, 404);
    const post = await fetch(`${system.url}/console/`, { method: "POST", body: "{}" });
    assert.equal(post.status, 405);
    assert.equal(post.headers.get("allow"), "GET, HEAD");
  });
});
