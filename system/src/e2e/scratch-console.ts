import { chromium } from "playwright-core";
import { startTestSystem } from "./test-support.js";
const system = await startTestSystem();
const browser = await chromium.launch({ executablePath: "/usr/bin/chromium", headless: true, args: ["--no-sandbox", "--disable-gpu"] });
const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
page.on("console", (m) => console.log("console:", m.type(), m.text()));
page.on("pageerror", (e) => console.log("pageerror:", e.message));
const who = await system.login("customer");
await page.goto(`${system.url}/console/`);
await page.evaluate((t) => localStorage.setItem("weelo.console.tokens", JSON.stringify({ accessToken: t.accessToken, refreshToken: t.refreshToken, userId: t.user.id })), who);
await page.goto(`${system.url}/console/#map`);
await page.reload();
await page.waitForTimeout(4000);
await page.screenshot({ path: "/tmp/console-shots/map.png" });
for (const tab of ["bookings", "funnel", "audit", "users"]) {
  await page.goto(`${system.url}/console/#${tab}`);
  await page.waitForTimeout(1500);
  await page.screenshot({ path: `/tmp/console-shots/${tab}.png` });
}
await browser.close();
await system.stop();
