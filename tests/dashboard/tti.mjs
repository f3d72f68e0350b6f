// Figures for `cargo bench -p proxctl --bench dashboard` (never assertions): sign in, then load
// the guests page (sorted by CPU, so the server orders every guest) several times in Chromium
// and report the median time to first byte, to DOM interactive and to the load event, from the
// browser's own navigation timing. Addresses and the token come in the environment.
import { chromium } from "playwright-core";

const base = process.env.PROXCTL_DASH_URL;
const runs = Number(process.env.PROXCTL_DASH_RUNS || 7);
const browser = await chromium.launch({
  executablePath: process.env.PROXCTL_CHROMIUM || "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
const context = await browser.newContext({ ignoreHTTPSErrors: true });
const page = await context.newPage();
await page.goto(`${base}/login`);
await page.fill("#token", process.env.PROXCTL_DASH_TOKEN);
await Promise.all([page.waitForEvent("framenavigated"), page.click("button[type=submit]")]);
const samples = [];
for (let i = 0; i < runs + 1; i++) {
  await page.goto(`${base}/guests?sort=cpu&dir=desc`, { waitUntil: "load" });
  const t = await page.evaluate(() => {
    const n = performance.getEntriesByType("navigation")[0];
    return { ttfb: n.responseStart, interactive: n.domInteractive, load: n.loadEventEnd, bytes: n.transferSize };
  });
  if (i > 0) samples.push(t); // the first load fills the caches
}
await browser.close();
const median = (k) => samples.map((s) => s[k]).sort((a, b) => a - b)[Math.floor(samples.length / 2)];
console.log(JSON.stringify({ ttfb: median("ttfb"), interactive: median("interactive"), load: median("load"), html_bytes: median("bytes"), runs }));
