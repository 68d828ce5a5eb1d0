/**
 * The operations console in a real browser (Debian's Chromium driven by playwright-core)
 * against a running system that the city simulator feeds (its short run: transporters, drivers
 * streaming GPS, customers booking): an ops user logs in with the development code, sees the
 * simulated trucks appear on the live map and move, finds a booking on the board, cancels it
 * with a reason (the customer's WatchBooking sees the cancellation), and finds the cancel in the
 * audit trail. The page loads from this origin only and reports no script error or CSP refusal.
 * Run by `npm run test:browser` (.ci/run installs Chromium first); `npm test` leaves it out.
 * Screenshots go to CONSOLE_SCREENSHOTS (default: a folder under the system's temp dir, named
 * in the log); CONSOLE_SCREENSHOT=<file> also saves the map for the README.
 */
import assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { BookingStatus } from "@weelo/contracts/es/weelo/booking/v1/booking_pb";
import { createNodeWeeloClient, type WeeloClient } from "@weelo/client/node";
import { until } from "@weelo/testing";
import { type BrowserContext, chromium, type Page } from "playwright-core";
import { PROFILES } from "../../../sim/profiles.js";
import { type Report, runSimulation } from "../../../sim/simulation.js";
import { address, PUNE, startTestSystem, type TestSystem, uniquePhone } from "./test-support.js";

const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const SHOTS = process.env.CONSOLE_SCREENSHOTS ?? join(tmpdir(), "weelo-console-screenshots");
/** The simulator's timing with --start --short: 4 s waves after a 2 s gather. */
const WAVE_MS = 4000;
const GATHER_MS = 2000;

/** What the page tells of its map (window.weeloConsole.map()). */
interface MapSnapshot {
  trucks: { driverId: string; lat: number; lng: number; state: string }[];
  batches: number;
  framesDrawn: number;
  openBookings: number;
}

describe("the operations console in Chromium, the simulated city feeding it", () => {
  let system: TestSystem;
  let context: BrowserContext;
  let page: Page;
  let profile: string;
  let simulation: Promise<Report | Error>;
  const simulationLog: string[] = [];
  const opsPhone = uniquePhone();
  /** Requests the page tried to make to any other origin (all refused). */
  const foreign: string[] = [];
  /** Script errors and CSP refusals reported by the page. */
  const problems: string[] = [];

  const map = () => page.evaluate(() => (globalThis as { weeloConsole?: { map(): unknown } }).weeloConsole?.map());
  const shot = (name: string) => page.screenshot({ path: join(SHOTS, `${name}.png`) });

  before(async () => {
    assert.ok(existsSync(CHROMIUM), `no Chromium at ${CHROMIUM}: apt-get install chromium (or set CHROMIUM_PATH)`);
    mkdirSync(SHOTS, { recursive: true });
    console.log(`console screenshots: ${SHOTS}`);
    system = await startTestSystem({
      OPS_PHONES: opsPhone,
      WAVE_DURATION_MS: String(WAVE_MS),
      ORDER_GATHER_MS: String(GATHER_MS),
      // One machine logs every simulated user in: the per-IP OTP limit is for the open internet.
      OTP_PER_IP_PER_HOUR: "100000",
    });
    // The city runs beside the test; its report is read at the end.
    simulation = runSimulation({
      url: system.url,
      profile: "short",
      config: { ...PROFILES.short },
      broadcastMs: GATHER_MS + 4 * WAVE_MS + 2000,
      progress: (line) => simulationLog.push(line),
    }).catch((error: unknown) => (error instanceof Error ? error : new Error(String(error))));
    profile = mkdtempSync(join(tmpdir(), "weelo-chromium-"));
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      viewport: { width: 1400, height: 860 },
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
    await simulation;
    await system?.stop();
  });

  it("logs an operations user in with the development code filled in", async () => {
    const answer = await page.goto(`${system.url}/console`, { waitUntil: "load" });
    assert.equal(answer?.status(), 200);
    assert.equal(page.url(), `${system.url}/console/`);
    await page.locator("form.login input[name=phone]").fill(opsPhone);
    await page.locator("form.login button[name=send]").click();
    const code = page.locator("form.login input[name=otp]");
    await code.waitFor({ state: "visible", timeout: 30_000 });
    assert.match(await code.inputValue(), /^\d{6}$/, "devOtp filled in");
    await shot("01-login");
    await page.locator("form.login button[name=verify]").click();
    await page.locator(".app-header .brand").waitFor({ timeout: 30_000 });
    assert.equal(await page.locator(".tab.active").textContent(), "Live map");
    assert.deepEqual(problems, []);
  });

  it("shows the simulated trucks coloured by state on the live map, and they move", async () => {
    let first: MapSnapshot | undefined;
    await until(
      "trucks on the map",
      async () => {
        first = (await map()) as MapSnapshot | undefined;
        return (first?.trucks.length ?? 0) > 0;
      },
      120_000,
      500,
    );
    // The legend counts them by state (it is redrawn a moment after the trucks arrive).
    const legendCount = () =>
      page
        .locator(".legend li[data-state] .count")
        .allTextContents()
        .then((counts) => counts.reduce((sum, n) => sum + Number(n), 0));
    await until("the legend to count the trucks", async () => (await legendCount()) > 0, 30_000, 250);
    // A truck's marker moves: some driver is somewhere else a little later.
    const start = new Map(first!.trucks.map((t) => [t.driverId, `${t.lat},${t.lng}`]));
    let moved = "";
    await until(
      "a truck to move",
      async () => {
        const now = (await map()) as MapSnapshot;
        moved = now.trucks.find((t) => start.has(t.driverId) && start.get(t.driverId) !== `${t.lat},${t.lng}`)
          ?.driverId as string;
        return Boolean(moved);
      },
      120_000,
      500,
    );
    const snapshot = (await map()) as MapSnapshot;
    assert.ok(snapshot.framesDrawn > 0, "the truck canvas drew");
    await page.locator("button.fit").click();
    await page.waitForTimeout(1500);
    await shot("02-map");
    if (process.env.CONSOLE_SCREENSHOT) await page.screenshot({ path: process.env.CONSOLE_SCREENSHOT });
    assert.deepEqual(foreign, [], "the page reached for another origin");
    assert.deepEqual(problems, []);
  });

  it("finds a booking on the board and cancels it; the customer's WatchBooking sees the cancellation", async () => {
    // A customer of the test's own (not the simulator's, whose ledger expects only its own
    // changes) books a trip for three hours ahead: it waits, PENDING, for its broadcast.
    const customer: WeeloClient = createNodeWeeloClient({ baseUrl: system.url });
    const customerPhone = uniquePhone();
    await customer.login("customer", customerPhone);
    const scheduledAt = timestampFromDate(new Date(Date.now() + 3 * 3600_000));
    const drop = { lat: PUNE.lat + 0.02, lng: PUNE.lng + 0.01 };
    const { quoteToken } = await customer.pricing.getQuote({
      pickup: PUNE,
      drop,
      vehicleType: "lcv_14ft",
      vehicleCount: 1,
      scheduledAt,
    });
    const { order } = await customer.bookings.createBooking({
      quoteToken,
      vehicleType: "lcv_14ft",
      vehicleCount: 1,
      goodsType: "furniture",
      weightKg: 500,
      scheduledAt,
      pickup: address(PUNE),
      drop: address(drop, "Kavita Rao"),
    });
    const bookingId = order!.bookings[0]!.id;
    const seen: BookingStatus[] = [];
    const watching = (async () => {
      for await (const message of customer.watchBooking(bookingId)) {
        const status = message.booking?.status ?? message.change?.to;
        if (status !== undefined) seen.push(status);
      }
    })();

    await page.locator('.tab[data-tab="bookings"]').click();
    const board = page.locator(".bookings-view form.filters");
    await board.locator("input[name=phone]").fill(customerPhone);
    await board.locator("button[type=submit]").click();
    const row = page.locator(`tr.row[data-booking="${bookingId}"]`);
    await row.waitFor({ timeout: 30_000 });
    // The board's first, unfiltered search (run when the tab opened) may have answered before the
    // submit, listing this booking among the city's: wait for the filtered answer to replace it.
    await until(
      "the board to list only the customer's one booking",
      async () => (await page.locator("tr.row").count()) === 1,
      30_000,
    );
    assert.equal(await page.locator("tr.row").count(), 1, "the customer's one booking");
    await row.click();
    const detail = page.locator(".booking-detail");
    await detail.locator(`header .status[data-status="pending"]`).waitFor({ timeout: 30_000 });
    await shot("03-booking");

    await detail.locator("button.action-cancel").click();
    const dialog = page.locator("dialog.intervention-dialog");
    await dialog.locator("textarea[name=reason]").fill("Customer called: the consignment is not ready");
    await shot("04-cancel-dialog");
    await dialog.locator("button[type=submit]").click();
    await dialog.waitFor({ state: "detached", timeout: 30_000 });
    await detail.locator(`header .status[data-status="cancelled"]`).waitFor({ timeout: 30_000 });
    await until("the customer's WatchBooking to see CANCELLED", () => seen.includes(BookingStatus.CANCELLED), 30_000);
    await watching; // the stream ends with the final status
    assert.equal(seen.at(-1), BookingStatus.CANCELLED);
    // The history says who: operations, with the reason.
    assert.match(
      (await detail.locator("table.history").textContent()) ?? "",
      /ops.*Customer called: the consignment is not ready/s,
    );
    await shot("05-cancelled");
    assert.deepEqual(problems, []);

    // The audit trail shows the action.
    await page.locator('.tab[data-tab="audit"]').click();
    // The audit tab's own table (the booking detail, now hidden, lists the same entry).
    const entry = page.locator(".audit-view table.audit tbody tr", {
      hasText: "Customer called: the consignment is not ready",
    });
    await entry.first().waitFor({ timeout: 30_000 });
    const text = (await entry.first().textContent()) ?? "";
    assert.match(text, /cancel booking/);
    assert.match(text, /succeeded/);
    assert.ok(text.includes(bookingId.slice(-8)), text);
    await shot("06-audit");
    assert.deepEqual(foreign, []);
    assert.deepEqual(problems, []);
  });

  it("the simulated city ran its course with every invariant holding while the console watched", async () => {
    const report = await simulation;
    assert.ok(!(report instanceof Error), `the simulation failed: ${String(report)}\n${simulationLog.join("\n")}`);
    assert.ok(report.counts.orders! > 0, JSON.stringify(report.counts));
    assert.deepEqual(report.invariants.violations, [], simulationLog.join("\n"));
  });
});
