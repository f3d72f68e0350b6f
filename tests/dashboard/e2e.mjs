// The dashboard in a real browser: Playwright drives Debian's Chromium against `proxctl serve`
// in front of the simulator (started by crates/server/tests/dashboard_browser.rs, which passes
// addresses and tokens in the environment, never in argv). Each step checks what a user would
// see; every page is screenshotted into $PROXCTL_DASH_OUT and checked with axe-core, and any
// serious or critical violation fails the run. Prints one JSON summary line at the end.
import { chromium, request } from "playwright-core";
import { readFileSync, mkdirSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";

const env = (k) => {
  const v = process.env[k];
  if (!v) throw new Error(`${k} is not set`);
  return v;
};
const base = env("PROXCTL_DASH_URL");
const out = env("PROXCTL_DASH_OUT");
mkdirSync(out, { recursive: true });
const axeSource = readFileSync(createRequire(import.meta.url).resolve("axe-core/axe.min.js"), "utf8");

function check(cond, msg) {
  if (!cond) throw new Error(`check failed: ${msg}`);
}

const violations = [];
const shots = [];
async function look(page, name) {
  await page.screenshot({ path: join(out, `${name}.png`), fullPage: true });
  shots.push(name);
  await page.addScriptTag({ content: axeSource });
  const r = await page.evaluate(async () => await window.axe.run(document, { resultTypes: ["violations"] }));
  for (const v of r.violations.filter((v) => v.impact === "serious" || v.impact === "critical")) {
    violations.push({ page: name, id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.slice(0, 3).map((n) => n.target.join(" ")) });
  }
}

async function signIn(browser, token, opts = {}) {
  const context = await browser.newContext({ ignoreHTTPSErrors: true, bypassCSP: true, timezoneId: "Europe/Berlin", ...opts });
  const page = await context.newPage();
  await page.goto(`${base}/`);
  check(page.url().includes("/login"), `an anonymous visit is sent to sign in, not ${page.url()}`);
  await page.fill("#token", token);
  await go(page, "button[type=submit]");
  return { context, page };
}

// Click what submits a form or follows a link, and wait for the page it leads to.
async function go(page, selector) {
  await Promise.all([page.waitForEvent("framenavigated"), page.click(selector)]);
  await page.waitForLoadState("domcontentloaded");
}

async function operationEnds(page, what) {
  check(page.url().includes("/operations/"), `${what} leads to its operation, not ${page.url()}`);
  const el = await page.waitForSelector('[data-state="succeeded"], [data-state="failed"]', { timeout: 60000 });
  const state = await el.getAttribute("data-state");
  check(state === "succeeded", `${what} ${state}: ${await page.textContent("#operation")}`);
}

const browser = await chromium.launch({
  executablePath: process.env.PROXCTL_CHROMIUM || "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
try {
  // Sign in as an admin; the overview is the first page.
  const { context, page } = await signIn(browser, env("PROXCTL_DASH_ADMIN"));
  check(await page.isVisible("h1:has-text('Overview')"), "the overview opens after sign-in");
  await look(page, "overview");

  // Keyboard: the first Tab reaches the skip link.
  await page.keyboard.press("Tab");
  check(await page.evaluate(() => document.activeElement.classList.contains("skip")), "Tab first reaches 'Skip to content'");

  // Find guests by a tag expression.
  await page.goto(`${base}/guests`);
  await page.fill("#q", "web & !db");
  await go(page, "form[role=search] button[type=submit]");
  const names = await page.$$eval("tbody td:nth-child(3) a", (as) => as.map((a) => a.textContent.trim()));
  check(names.includes("web-1") && names.includes("web-2") && !names.includes("db-1"), `guests by tag: ${names}`);
  await look(page, "guests");

  // Bulk-snapshot both with a TTL: review names them, confirm starts it, progress is live.
  await page.check('input[name=guest][value="pve/100"]');
  await page.check('input[name=guest][value="pve/101"]');
  await page.selectOption("#action", "snapshot");
  await page.fill("#snapshot", "before-upgrade");
  await page.fill("#ttl", "4h");
  await go(page, "text=Review…");
  const review = await page.textContent("main");
  check(review.includes("web-1") && review.includes("web-2") && review.includes("deleted after 4h"), `the review names the guests and the TTL: ${review}`);
  await look(page, "bulk-confirm");
  await go(page, "main button[type=submit]");
  await operationEnds(page, "the bulk snapshot");
  await look(page, "operation");

  // Open a guest and see its snapshot with its countdown.
  await page.goto(`${base}/guests/pve/100`);
  const snaps = await page.textContent("main");
  check(snaps.includes("before-upgrade") && /in [34]h/.test(snaps), `the snapshot and its TTL show: ${snaps}`);
  await look(page, "guest");

  // Start and stop the VM; stopping asks first.
  await go(page, "button:has-text('Start')");
  await operationEnds(page, "start");
  await page.goto(`${base}/guests/pve/100`);
  check((await page.textContent("h1")).includes("running"), "the guest runs");
  await go(page, "button:has-text('Stop')");
  check((await page.textContent("main")).includes("stop guest 100"), "stopping asks and names the guest");
  await look(page, "confirm-stop");
  await go(page, "main button.danger");
  await operationEnds(page, "stop");
  await page.goto(`${base}/guests/pve/100`);
  check((await page.textContent("h1")).includes("stopped"), "the guest stopped");

  // Apply a manifest and watch its progress.
  const manifest = "apiVersion: proxctl.io/v1\nkind: VirtualMachine\nmetadata: {name: app-1}\nspec: {template: tpl, cores: 1}\n";
  await page.goto(`${base}/plans`);
  await page.fill("#manifests", manifest);
  await go(page, "button[value=plan]");
  check((await page.textContent("main")).includes("1 to create"), "the plan shows one VM to create");
  await look(page, "plan");
  await go(page, "text=Apply this plan");
  await operationEnds(page, "the apply");
  const progress = await page.$$eval("ol.progress li", (li) => li.length);
  check(progress > 0, "the apply reported progress");

  // Change the VM behind proxctl's back, straight in PVE: drift shows it.
  const pve = await request.newContext({
    ignoreHTTPSErrors: true,
    extraHTTPHeaders: { Authorization: `PVEAPIToken=${env("PROXCTL_SIM_TOKEN")}` },
  });
  const sim = env("PROXCTL_SIM_URL");
  const res = await (await pve.get(`${sim}/api2/json/cluster/resources?type=vm`)).json();
  const vm = res.data.find((r) => r.name === "app-1");
  check(vm, "the applied VM is in PVE");
  const put = await pve.put(`${sim}/api2/json/nodes/${vm.node}/qemu/${vm.vmid}/config`, { form: { cores: "4" } });
  check(put.ok(), `the out-of-band change: ${put.status()}`);
  await page.goto(`${base}/plans`);
  await page.fill("#manifests", manifest);
  await go(page, "button[value=drift]");
  const drift = await page.textContent("main");
  check(drift.includes("1 to update") && drift.includes("cores"), `drift shows the change: ${drift}`);
  await look(page, "drift");

  // The task list follows the server's event stream: a VM started in another tab shows up
  // without a reload, sooner than the 15 s fallback poll would bring it.
  const tasksPage = await context.newPage();
  await tasksPage.goto(`${base}/tasks`);
  await page.goto(`${base}/guests/pve/101`);
  await go(page, "button:has-text('Start')");
  await tasksPage.waitForSelector("#tasks tr:has(td:text-is('qmstart')):has(td:text-is('101'))", { timeout: 10000 });
  await tasksPage.close();
  await operationEnds(page, "starting 101");

  // Every other page renders and passes axe.
  for (const [path, name] of [["/tasks", "tasks"], ["/operations", "operations"], ["/templates", "templates"],
    ["/backups", "backups"], ["/jobs", "jobs"], ["/notifications", "notifications"], ["/audit", "audit"], ["/tokens", "tokens"]]) {
    await page.goto(`${base}${path}`);
    check(page.url() === `${base}${path}`, `${path} opens`);
    await look(page, name);
  }
  // A task's log opens from the list.
  await page.goto(`${base}/tasks`);
  await go(page, "#tasks a:has-text('log')");
  await look(page, "task-log");

  // The theme switch flips light and dark and remembers it.
  await page.click("[data-theme-toggle]");
  const theme = await page.evaluate(() => document.documentElement.dataset.theme);
  check(theme === "dark" || theme === "light", `the theme switch sets a theme (${theme})`);
  await page.evaluate(() => localStorage.removeItem("proxctl-theme"));

  // Dark theme, and a phone's width without sideways scrolling of the page itself.
  await page.emulateMedia({ colorScheme: "dark" });
  await page.goto(`${base}/`);
  await look(page, "overview-dark");
  await page.setViewportSize({ width: 390, height: 844 });
  await page.goto(`${base}/guests`);
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  check(overflow <= 1, `the guests page fits a phone's width (${overflow}px too wide)`);
  await look(page, "guests-phone");

  // Sign out: back at sign-in, and the old session is gone.
  await page.setViewportSize({ width: 1280, height: 720 });
  await go(page, "text=Sign out");
  await page.goto(`${base}/guests`);
  check(page.url().includes("/login"), "after signing out, pages ask to sign in");
  await look(page, "login");
  await context.close();

  // A viewer sees no action controls.
  const viewer = await signIn(browser, env("PROXCTL_DASH_VIEWER"));
  for (const path of ["/guests", "/guests/pve/100", "/backups", "/plans", "/jobs", "/templates"]) {
    await viewer.page.goto(`${base}${path}`);
    const forms = await viewer.page.$$eval("form[method=post]", (fs) => fs.map((f) => f.getAttribute("action")));
    check(forms.every((a) => a === "/logout"), `a viewer sees action forms on ${path}: ${forms}`);
  }
  await viewer.page.goto(`${base}/guests`);
  await look(viewer.page, "guests-viewer");
  await viewer.context.close();
} finally {
  await browser.close();
}
console.log(JSON.stringify({ screenshots: shots, violations }));
if (violations.length > 0) {
  console.error(JSON.stringify(violations, null, 2));
  process.exit(1);
}
