/**
 * Screenshots of the web app's main pages for the README, written to docs/screenshots/*.png.
 * Starts its own server and fake upstream, sends the same traffic as the browser tests, and photographs
 * each page in Debian's Chromium. Run: `node_modules/.bin/node test/e2e/screenshots.ts`
 * (`--only calls,annotate` for some of them).
 */
import fs from "node:fs";
import path from "node:path";
import type { Page } from "playwright-core";
import { startFakeUpstream } from "../../packages/server/src/testing/index.ts";
import { browserSkipReason, launchBrowser, seedTraffic, startWebServer } from "./web-support.ts";

const OUT = path.resolve(import.meta.dirname, "../../docs/screenshots");
const onlyArg = process.argv.indexOf("--only");
const only = onlyArg > 0 ? new Set((process.argv[onlyArg + 1] ?? "").split(",")) : null;

const skip = browserSkipReason();
if (skip) {
  console.error(`cannot take screenshots: ${skip}`);
  process.exit(1);
}
fs.mkdirSync(OUT, { recursive: true });

const fake = await startFakeUpstream({ keepRequests: false });
const server = await startWebServer(fake.url);
const browser = await launchBrowser();
const laptop = await browser.newContext({ viewport: { width: 1280, height: 860 }, colorScheme: "light" });
const phone = await browser.newContext({
  viewport: { width: 375, height: 812 },
  deviceScaleFactor: 2,
  isMobile: true,
  hasTouch: true,
  colorScheme: "light",
});
const written: string[] = [];
const missing: string[] = [];

async function shot(name: string, page: Page, url: string, ready: string, fullPage = false): Promise<void> {
  if (only && !only.has(name)) return;
  await page.goto(server.url + url);
  try {
    await page.waitForSelector(ready, { timeout: 10_000 });
  } catch {
    missing.push(`${name} (${url}: "${ready}" never appeared)`);
    return;
  }
  await page.evaluate(() => document.fonts.ready);
  const file = path.join(OUT, `${name}.png`);
  await page.screenshot({ path: file, fullPage });
  written.push(path.relative(process.cwd(), file));
}

try {
  const page = await laptop.newPage();
  await shot("empty-state", page, "/", "[data-testid=onboarding]");

  const s = await seedTraffic(server);
  // A second judgement on the JSON call so the list shows both kinds of rating.
  await server.api("/api/annotations", {
    body: {
      annotationKey: s.json.completionId,
      numericReward: 0,
      source: "judge",
      comment: "wrong field name",
    },
  });

  // A notification, so the inbox and the annotate page have something to show.
  const n = await server.api<{ url?: string }>("/api/notifications", {
    body: {
      completionId: s.plain.completionId,
      sendNotificationTo: "ana",
      message: "Was this password-reset answer right?",
    },
  });
  await server.api("/api/notifications", {
    body: {
      completionId: s.json.completionId,
      sendNotificationTo: "ana",
      message: "Check the extracted order",
    },
  });
  const annotatePath = n.body.url ? new URL(n.body.url).pathname : null;

  await shot("calls", page, "/", "[data-testid=calls-table] tbody tr");
  await shot("call-detail", page, `/calls/${s.plain.id}`, ".annotation", true);
  await shot("call-tool-stream", page, `/calls/${s.tool.id}`, ".tool-call", true);
  await shot("sessions", page, "/sessions", "[data-testid=sessions-table] tbody tr");
  await shot("session", page, "/sessions/sess-weather", ".session-call", true);
  await shot(
    "compare",
    page,
    `/compare?a=${s.plain.completionId}&b=${s.other.completionId}`,
    "[data-testid=compare-form]",
  );
  await page.evaluate(() => localStorage.setItem("intersebd.recipient", "ana"));
  await shot("inbox", page, "/inbox?recipient=ana", "[data-testid=inbox-list]");
  await shot("review", page, "/review", "[data-testid=review-list]");
  await shot("rubrics", page, "/rubrics/default", "[data-testid=rubric-editor]");
  await shot("settings", page, "/settings", "[data-testid=upstreams]");
  if (annotatePath) {
    await shot("annotate", page, annotatePath, "[data-testid=annotate-form]", true);
    await shot("annotate-phone", await phone.newPage(), annotatePath, "[data-testid=annotate-form]", true);
  } else {
    missing.push("annotate, annotate-phone (POST /api/notifications gave no url)");
  }
} finally {
  await browser.close();
  await server.stop();
  await fake.close();
}
for (const f of written) console.log(`wrote ${f}`);
for (const m of missing) console.error(`not taken: ${m}`);
