/**
 * The API reference in a real browser (Debian's Chromium driven by playwright-core): the page
 * loads from this origin only, lists every operation of the document, and "Try it out" calls
 * the running gateway, with and without the bearer token. Run by `npm run test:browser`
 * (.ci/run installs Chromium first); `npm test` leaves it out, a fresh clone has no browser.
 * API_REFERENCE_SCREENSHOT=<file> also saves a screenshot of the page.
 */
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { chromium, type BrowserContext, type Locator, type Page } from "playwright-core";
import { OPENAPI_FILE } from "@weelo/gateway/docs";
import { startTestSystem, uniquePhone, type TestSystem } from "./test-support.js";

const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const operationCount = Object.values(JSON.parse(readFileSync(OPENAPI_FILE, "utf8")).paths as object[]).reduce(
  (sum: number, item) => sum + Object.keys(item).length,
  0,
);

describe("the API reference in Chromium", () => {
  let system: TestSystem;
  let context: BrowserContext;
  let page: Page;
  let profile: string;
  /** Requests the page tried to make to any other origin (all refused). */
  const foreign: string[] = [];
  /** Script errors and CSP refusals reported by the page. */
  const problems: string[] = [];

  before(async () => {
    assert.ok(existsSync(CHROMIUM), `no Chromium at ${CHROMIUM}: apt-get install chromium (or set CHROMIUM_PATH)`);
    system = await startTestSystem();
    profile = mkdtempSync(join(tmpdir(), "weelo-chromium-"));
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      viewport: { width: 1280, height: 900 },
      args: [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
      ],
    });
    const origin = new URL(system.url).origin;
    await context.route("**/*", (route) => {
      const url = route.request().url();
      if (new URL(url).origin === origin) return route.continue();
      foreign.push(url);
      return route.abort("blockedbyclient");
    });
    page = context.pages()[0] ?? (await context.newPage());
    page.on("pageerror", (error) => problems.push(`page error: ${error.message}`));
    page.on("console", (message) => {
      if (message.type() === "error" && !/Failed to load resource/.test(message.text()))
        problems.push(`console: ${message.text()}`);
    });
  });
  after(async () => {
    await context?.close();
    if (profile) rmSync(profile, { recursive: true, force: true });
    await system?.stop();
  });

  it("loads from this origin only and lists every operation of the document", async () => {
    const answer = await page.goto(`${system.url}/docs`, { waitUntil: "load" });
    assert.equal(answer?.status(), 200);
    assert.equal(page.url(), `${system.url}/docs/`);
    await page.locator(".opblock").first().waitFor({ timeout: 60_000 });
    assert.equal(
      await page
        .locator(".info .title")
        .first()
        .textContent()
        .then((t) => t?.includes("Weelo API")),
      true,
    );
    assert.equal(await page.locator(".opblock").count(), operationCount);
    assert.equal(await page.locator('.opblock-summary-path[data-path="/api/v1/auth/send-otp"]').count(), 1);
    assert.equal(
      await page.locator('.opblock-summary-path[data-path="/weelo.booking.v1.BookingService/CreateBooking"]').count(),
      1,
    );
    // Locked operations show the lock; the token-free login does not.
    assert.equal(await operation(page, "post", "/api/v1/bookings").locator(".authorization__btn").count(), 1);
    assert.equal(await operation(page, "post", "/api/v1/auth/send-otp").locator(".authorization__btn").count(), 0);

    const screenshot = process.env.API_REFERENCE_SCREENSHOT;
    if (screenshot) await page.screenshot({ path: screenshot });
    assert.deepEqual(foreign, [], "the page reached for another origin");
    assert.deepEqual(problems, []);
  });

  it("tries SendOtp through the page against the running gateway", async () => {
    const phone = uniquePhone();
    const block = operation(page, "post", "/api/v1/auth/send-otp");
    await block.locator(".opblock-summary").click();
    const body = block.locator("textarea.body-param__text");
    await body.waitFor();
    await body.fill(JSON.stringify({ phone, role: "ROLE_CUSTOMER" }));
    const { status, body: shown } = await execute(block);
    assert.equal(status, "200");
    const envelope = shown as { success: boolean; data: { devOtp: string; resendAfterSeconds: number } };
    assert.equal(envelope.success, true);
    assert.match(envelope.data.devOtp, /^\d{6}$/);
    assert.ok(envelope.data.resendAfterSeconds > 0);
    assert.deepEqual(foreign, []);
  });

  it("shows the refusal of a locked operation, then authorizes with a bearer token and tries it", async () => {
    const block = operation(page, "get", "/api/v1/bookings");
    await block.locator(".opblock-summary").click();
    assert.deepEqual(await execute(block), {
      status: "401",
      body: { success: false, error: { code: "UNAUTHENTICATED", message: "a valid access token is required" } },
    });

    const customer = await system.login("customer");
    await page.locator(".scheme-container button.authorize").click();
    const dialog = page.locator(".dialog-ux .modal-ux");
    await dialog.locator("input").first().fill(customer.accessToken);
    await dialog.locator("button.authorize").click();
    await dialog.locator("button.btn-done").click();
    // A new customer has no bookings yet (protobuf JSON leaves the empty list out).
    assert.deepEqual(await execute(block), { status: "200", body: { success: true, data: {} } });
    assert.deepEqual(foreign, []);
    assert.deepEqual(problems, []);
  });
});

/** Clicks Execute and reads the status and JSON body the page shows for this call. */
async function execute(block: Locator): Promise<{ status: string; body: unknown }> {
  // Clear the last answer first: the one read below is this call's.
  const clear = block.locator("button.btn-clear");
  if (await clear.isVisible()) await clear.click();
  await block.locator(".live-responses-table").waitFor({ state: "detached" });
  await block.locator("button.execute").click();
  const status = block.locator(".live-responses-table .response .response-col_status").first();
  await status.waitFor({ timeout: 30_000 });
  const shown =
    (await block.locator(".live-responses-table .response-col_description pre").first().textContent()) ?? "";
  return { status: ((await status.textContent()) ?? "").trim(), body: JSON.parse(shown) };
}

/** The operation block of a method and path. */
function operation(page: Page, method: string, path: string) {
  return page.locator(`.opblock.opblock-${method}`, {
    has: page.locator(`.opblock-summary-path[data-path="${path}"]`),
  });
}
