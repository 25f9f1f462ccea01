// Drives the status page in headless Chromium (playwright-core), under Node:
// node status-page-browser.mjs URL SCREENSHOT ADDRESSES_JSON. Prints one JSON
// line per step: {step: "listed", ...} once every address shows as up, then
// reads commands from stdin: "lost ADDRESS" waits until that row says lost,
// "shot" saves the screenshot, "quit" ends.
import { chromium } from "playwright-core";
import { createInterface } from "node:readline";

const [url, shot, addressesJson] = process.argv.slice(2);
const addresses = JSON.parse(addressesJson);
const say = (o) => process.stdout.write(JSON.stringify(o) + "\n");
const browser = await chromium.launch({ executablePath: process.env.GFS_CHROMIUM ?? "/usr/bin/chromium", args: ["--no-sandbox", "--disable-gpu"] });
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  const errors = [];
  page.on("pageerror", (e) => errors.push(e.message));
  page.on("requestfailed", (r) => { if (!r.url().startsWith(url)) errors.push(`fetched from elsewhere: ${r.url()}`); });
  await page.goto(url);
  for (const a of addresses) await page.waitForSelector(`tr[data-address="${a}"][data-state="up"]`, { timeout: 20_000 });
  say({ step: "listed", title: await page.title(), health: await page.textContent("#health"), rows: await page.locator("#servers tr").count(), errors });
  for await (const line of createInterface({ input: process.stdin })) {
    const [cmd, arg] = line.trim().split(" ");
    if (cmd === "lost") {
      const t0 = Date.now();
      await page.waitForSelector(`tr[data-address="${arg}"][data-state="lost"]`, { timeout: 30_000 });
      say({ step: "lost", address: arg, ms: Date.now() - t0, text: await page.textContent(`tr[data-address="${arg}"]`), errors });
    } else if (cmd === "shot") {
      await page.screenshot({ path: shot, fullPage: true });
      say({ step: "shot", path: shot });
    } else if (cmd === "quit") break;
  }
} finally {
  await browser.close();
}
