// The dashboard in Firefox: the main journey of e2e.mjs driven through W3C WebDriver
// (geckodriver in front of Debian's firefox-esr; Playwright cannot drive a stock Firefox).
// The WebDriver client is the few HTTP calls below, so nothing but axe-core is needed from
// npm. Started by crates/server/tests/dashboard_browser.rs with addresses and tokens in the
// environment. Each page is screenshotted into $PROXCTL_DASH_OUT as firefox-<name>.png and
// checked with axe-core; prints one JSON summary line at the end.
import { spawn } from "node:child_process";
import { readFileSync, mkdirSync, writeFileSync } from "node:fs";
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
const ELEMENT = "element-6066-11e4-a52e-4f735466cecf";

function check(cond, msg) {
  if (!cond) throw new Error(`check failed: ${msg}`);
}

// geckodriver on a port of its choosing: its first log line says which.
// Times in the dashboard are the reader's: Firefox (started by geckodriver, so with its
// environment) runs in a zone that is not the machine's UTC, to show they are.
const driver = spawn(env("PROXCTL_GECKODRIVER"), ["--port", "0", "--log", "info"], {
  stdio: ["ignore", "pipe", "pipe"],
  env: { ...process.env, TZ: "Europe/Berlin" },
});
const driverUrl = await new Promise((resolve, reject) => {
  let seen = "";
  const look = (chunk) => {
    seen += chunk;
    const m = seen.match(/Listening on (\S+)/);
    if (m) resolve(`http://${m[1]}`);
  };
  driver.stdout.on("data", look);
  driver.stderr.on("data", look);
  driver.on("exit", (code) => reject(new Error(`geckodriver exited (${code}): ${seen}`)));
});

async function wd(method, path, body) {
  const res = await fetch(`${driverUrl}${path}`, {
    method,
    headers: { "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const json = await res.json();
  if (!res.ok) throw new Error(`${method} ${path}: ${json.value?.error}: ${json.value?.message}`);
  return json.value;
}

const session = await wd("POST", "/session", {
  capabilities: {
    alwaysMatch: {
      browserName: "firefox",
      acceptInsecureCerts: true,
      "moz:firefoxOptions": {
        binary: process.env.PROXCTL_FIREFOX || "/usr/bin/firefox-esr",
        args: ["-headless"],
        prefs: { "intl.accept_languages": "en-GB", "browser.shell.checkDefaultBrowser": false },
      },
    },
  },
});
const S = `/session/${session.sessionId}`;

const browserInfo = session.capabilities;
const goto = (path) => wd("POST", `${S}/url`, { url: `${base}${path}` });
const url = () => wd("GET", `${S}/url`);
const js = (script, ...args) => wd("POST", `${S}/execute/sync`, { script, args });
const find = async (css) => (await wd("POST", `${S}/element`, { using: "css selector", value: css }))[ELEMENT];
const byText = async (tag, text) =>
  (await wd("POST", `${S}/element`, { using: "xpath", value: `//${tag}[contains(normalize-space(.), "${text}")]` }))[ELEMENT];
const click = (id) => wd("POST", `${S}/element/${id}/click`, {});
const type = async (css, text) => {
  const id = await find(css);
  await wd("POST", `${S}/element/${id}/clear`, {});
  await wd("POST", `${S}/element/${id}/value`, { text });
};
const text = async (css) => wd("GET", `${S}/element/${await find(css)}/text`);

// Wait for a condition the page reaches by itself (live updates): checked every 100 ms.
async function until(what, cond, ms = 30000) {
  const end = Date.now() + ms;
  for (;;) {
    const v = await cond().catch(() => false);
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const violations = [];
const shots = [];
async function look(name) {
  const png = await wd("GET", `${S}/moz/screenshot/full`);
  writeFileSync(join(out, `firefox-${name}.png`), Buffer.from(png, "base64"));
  shots.push(`firefox-${name}`);
  await js(`${axeSource}; return true;`);
  const found = await wd("POST", `${S}/execute/async`, {
    script: `const done = arguments[arguments.length - 1];
      axe.run(document, { resultTypes: ["violations"] }).then(
        (r) => done(r.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help,
          nodes: v.nodes.slice(0, 3).map((n) => n.target.join(" ")) }))),
        (e) => done([{ id: "axe-error", impact: "critical", help: String(e), nodes: [] }]));`,
    args: [],
  });
  for (const v of found.filter((v) => v.impact === "serious" || v.impact === "critical")) {
    violations.push({ page: name, ...v });
  }
}

async function operationEnds(what) {
  check((await url()).includes("/operations/"), `${what} leads to its operation, not ${await url()}`);
  const state = await until(`${what} to end`, async () => {
    const s = await js(`const el = document.querySelector('[data-state="succeeded"], [data-state="failed"]');
      return el && el.getAttribute("data-state");`);
    return s || false;
  }, 60000);
  check(state === "succeeded", `${what} ${state}: ${await text("#operation")}`);
}

try {
  await wd("POST", `${S}/window/rect`, { width: 1280, height: 720 });
  // Sign in as an admin; the overview is the first page.
  await goto("/");
  check((await url()).includes("/login"), "an anonymous visit is sent to sign in");
  await type("#token", env("PROXCTL_DASH_ADMIN"));
  await click(await find("button[type=submit]"));
  check((await text("h1")).includes("Overview"), "the overview opens after sign-in");
  await look("overview");

  // Times are shown in the reader's zone by our script.
  const zone = await js("return Intl.DateTimeFormat().resolvedOptions().timeZone");
  check(zone === "Europe/Berlin", `Firefox runs in the test's zone (${zone})`);

  // Find guests by a tag expression.
  await goto("/guests");
  await type("#q", "web & !db");
  await click(await find("form[role=search] button[type=submit]"));
  const names = await js(`return [...document.querySelectorAll("tbody td:nth-child(3) a")].map((a) => a.textContent.trim())`);
  check(names.includes("web-1") && names.includes("web-2") && !names.includes("db-1"), `guests by tag: ${names}`);
  await look("guests");

  // Bulk-snapshot both with a TTL: review names them, confirm starts it.
  await click(await find('input[name=guest][value="pve/100"]'));
  await click(await find('input[name=guest][value="pve/101"]'));
  await click(await find('#action option[value="snapshot"]'));
  await type("#snapshot", "ff-before");
  await type("#ttl", "4h");
  await click(await byText("button", "Review"));
  const review = await text("main");
  check(review.includes("web-1") && review.includes("web-2") && review.includes("deleted after 4h"), `the review: ${review}`);
  await look("bulk-confirm");
  await click(await find("main button[type=submit]"));
  await operationEnds("the bulk snapshot");
  await look("operation");

  // The guest shows the snapshot and its countdown.
  await goto("/guests/pve/100");
  const snaps = await text("main");
  check(snaps.includes("ff-before") && /in [34]h/.test(snaps), `the snapshot and its TTL: ${snaps}`);
  await look("guest");

  // Start at once; stop asks first and names the guest.
  await click(await byText("button", "Start"));
  await operationEnds("start");
  await goto("/guests/pve/100");
  check((await text("h1")).includes("running"), "the guest runs");
  await click(await byText("button", "Stop"));
  check((await text("main")).includes("stop guest 100"), "stopping asks and names the guest");
  await look("confirm-stop");
  await click(await find("main button.danger"));
  await operationEnds("stop");

  // Apply a manifest and see its progress.
  const manifest = "apiVersion: proxctl.io/v1\nkind: VirtualMachine\nmetadata: {name: ff-app}\nspec: {template: tpl, cores: 1}\n";
  await goto("/plans");
  await type("#manifests", manifest);
  await click(await find("button[value=plan]"));
  check((await text("main")).includes("1 to create"), "the plan shows one VM to create");
  await look("plan");
  await click(await byText("button", "Apply this plan"));
  await operationEnds("the apply");
  const progress = await js(`return document.querySelectorAll("ol.progress li").length`);
  check(progress > 0, "the apply reported progress");

  // The task list follows the event stream in Firefox too: a start made in another window
  // shows up without a reload.
  const first = await wd("GET", `${S}/window`);
  await goto("/tasks");
  const other = await wd("POST", `${S}/window/new`, { type: "tab" });
  await wd("POST", `${S}/window`, { handle: other.handle });
  await goto("/guests/pve/101");
  await click(await byText("button", "Start"));
  await operationEnds("starting 101");
  await wd("DELETE", `${S}/window`);
  await wd("POST", `${S}/window`, { handle: first });
  await until("the start of 101 in the live task list", () =>
    js(`return [...document.querySelectorAll("#tasks tr")].some((tr) =>
      [...tr.cells].some((c) => c.textContent.trim() === "qmstart") &&
      [...tr.cells].some((c) => c.textContent.trim() === "101"))`), 10000);
  await look("tasks");

  // The other pages render and pass axe.
  for (const [path, name] of [["/templates", "templates"], ["/backups", "backups"], ["/jobs", "jobs"], ["/audit", "audit"]]) {
    await goto(path);
    check((await url()) === `${base}${path}`, `${path} opens`);
    await look(name);
  }

  // The theme switch; a phone's width without sideways scrolling.
  await click(await find("[data-theme-toggle]"));
  const theme = await js("return document.documentElement.dataset.theme");
  check(theme === "dark" || theme === "light", `the theme switch sets a theme (${theme})`);
  await goto("/");
  await look("overview-theme");
  await js(`localStorage.removeItem("proxctl-theme")`);
  await wd("POST", `${S}/window/rect`, { width: 390, height: 844 });
  await goto("/guests");
  const overflow = await js("return document.documentElement.scrollWidth - window.innerWidth");
  check(overflow <= 1, `the guests page fits a phone's width (${overflow}px too wide)`);
  await look("guests-phone");
  await wd("POST", `${S}/window/rect`, { width: 1280, height: 720 });

  // Sign out: pages ask to sign in again.
  await click(await byText("button", "Sign out"));
  await goto("/guests");
  check((await url()).includes("/login"), "after signing out, pages ask to sign in");
  await look("login");
} finally {
  await wd("DELETE", S).catch(() => {});
  driver.kill();
}
console.log(JSON.stringify({ browser: `${browserInfo.browserName} ${browserInfo.browserVersion}`, violations, screenshots: shots }));
