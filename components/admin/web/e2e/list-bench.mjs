// How fast the content list draws with 100,000 items, in headless Chromium:
//   FOLIO_URL=... FOLIO_ADMIN_EMAIL=... FOLIO_ADMIN_PASSWORD=... CHROMIUM=... \
//   ITEMS=100000 LOADS=40 node e2e/list-bench.mjs
// Seeds the items through the bulk import (when fewer are there), then times
// (a) cold loads of /admin/content (navigation start to first rows drawn,
// `folio:content-list-rendered`) under rotating sorts and filters, and
// (b) jumps of the scrollbar to a random row (scroll to rows drawn).
// The admin signs in with a password (no MFA) through the API once.
import { chromium } from "playwright-core";

const base = process.env.FOLIO_URL;
const email = process.env.FOLIO_ADMIN_EMAIL;
const password = process.env.FOLIO_ADMIN_PASSWORD;
const items = Number(process.env.ITEMS ?? 100_000);
const loads = Number(process.env.LOADS ?? 40);
if (!base || !email || !password || !process.env.CHROMIUM) {
  throw new Error("set FOLIO_URL, FOLIO_ADMIN_EMAIL, FOLIO_ADMIN_PASSWORD and CHROMIUM");
}

async function http(method, path, token, body, type = "application/json") {
  const response = await fetch(base + path, {
    method,
    headers: {
      ...(token ? { authorization: `Bearer ${token}` } : {}),
      ...(body !== undefined ? { "content-type": type } : {}),
    },
    body,
  });
  return { status: response.status, json: await response.json().catch(() => null) };
}

const login = await http("POST", "/api/v1/auth/login", null, JSON.stringify({ email, password }));
if (!login.json?.accessToken) throw new Error(`login: ${JSON.stringify(login.json)}`);
const token = login.json.accessToken;

const counted = await http("GET", "/api/v1/content?limit=1&total=exact", token);
let have = counted.json.pagination.total;
const seedStarted = Date.now();
const types = ["article", "video", "gallery", "podcast"];
while (have < items) {
  const batch = Math.min(10_000, items - have);
  const lines = [];
  for (let i = 0; i < batch; i++) {
    const n = have + i;
    lines.push(
      JSON.stringify({
        title: `Item ${n} ${["harbour", "lantern", "quay", "tide"][n % 4]}`,
        type: types[n % 4],
        status: n % 5 === 0 ? "draft" : "published",
        body: `<p>Body of item ${n}.</p>`,
        tags: [`t${n % 50}`],
      }),
    );
  }
  const answer = await http(
    "POST",
    "/api/v1/content/import",
    token,
    lines.join("\n"),
    "application/x-ndjson",
  );
  if (answer.status >= 300)
    throw new Error(`import: ${answer.status} ${JSON.stringify(answer.json)}`);
  have += batch;
  console.error(`seeded ${have}`);
}
const seedSeconds = (Date.now() - seedStarted) / 1000;

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM,
  args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"],
});
const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
const page = await context.newPage();
// Signed in as the app keeps it: a refresh token in local storage.
const refresh = login.json.refreshToken;
await page.goto(`${base}/admin/`);
await page.evaluate((t) => localStorage.setItem("folio.refresh", t), refresh);

const views = [
  "",
  "?status=published",
  "?type=video",
  "?sort=title",
  "?sort=-createdAt&status=draft",
  "?sort=-publishedAt",
];
const cold = [];
for (let i = 0; i < loads; i++) {
  await page.goto(`${base}/admin/content${views[i % views.length]}`);
  await page.locator(".spacer .row a").first().waitFor();
  cold.push(
    await page.evaluate(
      () => performance.getEntriesByName("folio:content-list-rendered")[0].startTime,
    ),
  );
}
const total = await page.locator(".count").textContent();

await page.goto(`${base}/admin/content`);
await page.locator(".spacer .row a").first().waitFor();
const jumps = [];
for (let i = 0; i < loads; i++) {
  const row = Math.floor(Math.random() * (items - 100));
  jumps.push(
    await page.evaluate(async (row) => {
      const viewport = document.querySelector(".viewport");
      const started = performance.now();
      viewport.scrollTop = row * 40;
      const wanted = String(row + 2);
      for (;;) {
        await new Promise((r) => requestAnimationFrame(r));
        const drawn = document.querySelector(`.spacer .row[aria-rowindex="${wanted}"] a`);
        if (drawn) return performance.now() - started;
        if (performance.now() - started > 10_000) return Infinity;
      }
    }, row),
  );
}
await browser.close();

const pct = (list, p) => {
  const sorted = [...list].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))].toFixed(1);
};
console.log(
  JSON.stringify({
    items,
    listed: total,
    seedSeconds,
    coldLoadMs: { p50: pct(cold, 50), p95: pct(cold, 95), max: pct(cold, 100), n: cold.length },
    scrollJumpMs: {
      p50: pct(jumps, 50),
      p95: pct(jumps, 95),
      max: pct(jumps, 100),
      n: jumps.length,
    },
  }),
);
