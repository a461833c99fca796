/**
 * Screenshots of the web app's main pages for the README, written to docs/screenshots/*.png.
 * Starts its own server and fake upstream, sends the same traffic as the browser tests, and photographs
 * each page in Debian's Chromium. Run: `node_modules/.bin/node test/e2e/screenshots.ts`
 * (`--only calls,annotate` for some of them).
 */
import fs from "node:fs";
import path from "node:path";
import type { Page } from "playwright-core";
import { evaluateRules } from "../../packages/server/src/alerts/index.ts";
import { eventually, startFakeUpstream } from "../../packages/server/src/testing/index.ts";
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

async function shot(
  name: string,
  page: Page,
  url: string,
  ready: string,
  fullPage = false,
  then?: () => Promise<void>,
): Promise<void> {
  if (only && !only.has(name)) return;
  await page.goto(server.url + url);
  try {
    await page.waitForSelector(ready, { timeout: 10_000 });
    await then?.();
  } catch {
    missing.push(`${name} (${url}: "${ready}" never appeared)`);
    return;
  }
  await page.evaluate(() => document.fonts.ready);
  const file = path.join(OUT, `${name}.png`);
  await page.screenshot({ path: file, fullPage });
  written.push(path.relative(process.cwd(), file));
}

/**
 * Fourteen days of ticket-title calls (ingested with their past times), rated; two datasets over them; and an
 * evaluation of another model on the newer half, waited for. The fake judge's markers ([[GOOD]], [[SCORE:n]])
 * make its verdicts vary.
 */
async function seedHistory(): Promise<{ evalId: string | null; evalError?: string }> {
  const day = 86_400_000;
  const now = Date.now();
  const subjects = [
    "printer on floor 3 is jammed again",
    "cannot log in after the password reset",
    "invoice 4471 shows the wrong VAT rate",
    "mobile app crashes when uploading a photo",
    "request for a second monitor",
    "VPN disconnects every ten minutes",
  ];
  const calls: unknown[] = [];
  const rewards: unknown[] = [];
  let n = 0;
  for (let d = 13; d >= 0; d--) {
    const v2 = d < 7;
    for (let k = 0; k < 6; k++, n++) {
      const startedAt = now - d * day - (k + 1) * 3_600_000;
      const model = k % 3 === 2 ? "gpt-4.1-mini" : "gpt-4o-mini";
      const subject = subjects[(n + d) % subjects.length] as string;
      const marker = `${n % 3 === 0 ? " [[GOOD]]" : ""} [[SCORE:${1 + (n % 5)}]]`;
      const answer = `${v2 ? "Ticket: " : ""}${subject.charAt(0).toUpperCase()}${subject.slice(1)}${n % 3 === 1 ? " [[GOOD]]" : ""} [[SCORE:3]]`;
      const id = `chatcmpl-history-${n}`;
      calls.push({
        startedAt,
        endedAt: startedAt + (v2 ? 1300 : 700) + ((n * 137) % 500),
        upstream: "default",
        tags: ["ticket-titles", v2 ? "prompt-v2" : "prompt-v1"],
        metadata: { promptVersion: v2 ? "v2" : "v1" },
        request: {
          model,
          messages: [
            { role: "system", content: "Write a short title for the support ticket." },
            { role: "user", content: `Ticket #${1000 + n}: ${subject}${marker}` },
          ],
        },
        response: {
          id,
          object: "chat.completion",
          model,
          choices: [{ index: 0, message: { role: "assistant", content: answer }, finish_reason: "stop" }],
          usage: { prompt_tokens: 60 + (n % 7) * 5, completion_tokens: 12 + (n % 4), total_tokens: 80 },
        },
      });
      if (n % 4 !== 3)
        rewards.push({
          annotationKey: id,
          numericReward: v2 ? [1, 0, 0.5][n % 3] : [1, 1, 0.5, 1, 0][n % 5],
          source: "human",
          annotatorId: "ana",
        });
    }
  }
  await server.api("/api/calls", { body: calls });
  await server.api("/api/annotations", { body: rewards });
  await server.api("/api/datasets", {
    body: {
      name: "ticket-titles",
      description: "Titles written for support tickets",
      filter: { tag: "ticket-titles" },
    },
  });
  await server.api("/api/datasets", {
    body: { name: "ticket-titles-v2", description: "Since the v2 prompt", filter: { tag: "prompt-v2" } },
  });
  await server.api("/api/datasets", {
    body: { name: "thumbs-up", filter: { tag: "ticket-titles", where: "reward >= 1" } },
  });
  const created = await server.api<{ id?: string; error?: { message: string } }>("/api/evals", {
    body: {
      dataset: "ticket-titles-v2",
      candidate: { model: "gpt-4.1-mini", headers: { "x-fake-delay-ms": "40" } },
      checks: [
        { type: "regex", name: "short-title", pattern: "^.{0,72}$" },
        "latencyMs <= 2000",
        "tokens.completion <= 40",
        { type: "judge", mode: "absolute", model: "fake-judge", name: "quality" },
      ],
      judge: { mode: "pairwise", model: "fake-judge" },
      seed: 7,
    },
  });
  if (!created.body.id) return { evalId: null, evalError: created.body.error?.message ?? "not created" };
  const id = created.body.id;
  for (let i = 0; i < 300; i++) {
    const r = await server.api<{ run: { status: string } }>(`/api/evals/${id}`);
    if (!["queued", "running"].includes(r.body.run.status)) return { evalId: id };
    await new Promise((res) => setTimeout(res, 100));
  }
  return { evalId: null, evalError: "the evaluation did not finish in 30 s" };
}

/**
 * Fourteen days of an A/B split of the ticket-title prompt (control against a shorter prompt), each user in the
 * variant the shared kernel assigns, rated by the users: the shorter prompt is liked more.
 */
async function seedExperiment(): Promise<void> {
  const { assignVariant } = await import("../../packages/sdk/src/experiments/index.ts");
  const created = await server.api<{ name: string; salt: string; control: string; allocation: [] }>(
    "/api/experiments",
    {
      body: {
        name: "ticket-titles",
        description: "A shorter title prompt, split 50/50 by user",
        unit: "userId",
        variants: [
          { name: "control", weight: 1 },
          {
            name: "short",
            weight: 1,
            systemPrompt: "Write a title of at most six words.",
            promptVersion: "v3",
          },
        ],
        status: "running",
        by: "ana",
      },
    },
  );
  const x = created.body;
  const day = 86_400_000;
  const now = Date.now();
  const calls: unknown[] = [];
  const rewards: unknown[] = [];
  const given = new Map<string, number>();
  for (let d = 13; d >= 0; d--) {
    for (let k = 0; k < 24; k++) {
      const n = (13 - d) * 24 + k;
      const user = `user-${n % 160}`;
      const variant = assignVariant(x, user) ?? x.control;
      const id = `chatcmpl-exp-${n}`;
      const startedAt = now - d * day - (k + 1) * 1_800_000;
      calls.push({
        startedAt,
        endedAt: startedAt + (variant === "short" ? 520 : 640) + ((n * 97) % 400),
        userId: user,
        tags: ["ticket-titles"],
        experiment: x.name,
        variant,
        assignmentUnit: `userId:${user}`,
        request: { model: "gpt-4o-mini", messages: [{ role: "user", content: `Ticket #${2000 + n}` }] },
        response: {
          id,
          object: "chat.completion",
          model: "gpt-4o-mini",
          choices: [
            { index: 0, message: { role: "assistant", content: `Title ${n}` }, finish_reason: "stop" },
          ],
          usage: { prompt_tokens: 50, completion_tokens: variant === "short" ? 7 : 12, total_tokens: 60 },
        },
      });
      // The shorter prompt is liked about 3 times in 4, the control about 1 in 2.
      const liked = variant === "short" ? (n * 7) % 4 !== 0 : (n * 5) % 2 === 0;
      if (n % 3 !== 2) {
        rewards.push({ annotationKey: id, numericReward: liked ? 1 : 0, source: "user", annotatorId: user });
        given.set(id, startedAt + 3_600_000);
      }
    }
  }
  await server.api("/api/calls", { body: calls });
  await server.api("/api/annotations", { body: rewards });
  // The API dates an annotation when it arrives, and the report counts a reward from then: for the plot's two
  // weeks, each is dated an hour after its call, as if given then.
  for (const [key, at] of given)
    await server.ctx.store.db
      .updateTable("annotations")
      .set({ createdAt: at })
      .where("key", "=", key)
      .execute();
}

/**
 * The worked example's quality watch (examples/title-generator/quality.ts), made in this server: two-turn title
 * sessions through the proxy, a conversation evaluation of a second model on them (the example's
 * conversation-eval.json), and two alert rules, one whose episode is open (title-format failing on 5 of 12
 * checked calls) and one that fired and resolved (a canary's error rate, back under 5% after more calls). The
 * rules are evaluated here, not on the server's timer, so the page shows both at once.
 */
async function seedQuality(): Promise<{ convId: string | null; convError?: string }> {
  const chat = async (session: string, messages: unknown[], headers: Record<string, string> = {}) => {
    const r = await fetch(`${server.url}/v1/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json", "x-intersebd-session-id": session, ...headers },
      body: JSON.stringify({ model: "gpt-4o-mini", messages }),
    });
    const body = (await r.json()) as { id?: string; choices?: Array<{ message: { content: string } }> };
    return { id: body.id ?? "", text: body.choices?.[0]?.message.content ?? "" };
  };
  const system = { role: "system", content: "Write one short, specific title for the document." };
  const sessions: string[] = [];
  const completions: string[] = [];
  for (let k = 1; k <= 6; k++) {
    const doc = { role: "user", content: `Meeting notes ${k}: the roadmap` };
    const first = await chat(`doc-${k}`, [system, doc]);
    const second = await chat(`doc-${k}`, [
      system,
      doc,
      { role: "assistant", content: first.text },
      { role: "user", content: "Shorter, please." },
    ]);
    sessions.push(`doc-${k}`);
    completions.push(first.id, second.id);
  }
  const spec = JSON.parse(
    fs.readFileSync(
      path.resolve(import.meta.dirname, "../../examples/title-generator/conversation-eval.json"),
      "utf8",
    ),
  );
  // The proxy records behind the answer: the sessions exist once their calls are written.
  const created = await eventually(
    async () => {
      const r = await server.api<{ id?: string }>("/api/conversations/evals", {
        body: { ...spec, sessions },
      });
      return r.body.id ? r.body.id : undefined;
    },
    10_000,
    "the conversation evaluation to be created",
  ).catch((err: Error) => err);
  if (created instanceof Error) return { convId: null, convError: created.message };

  // The example's rule, with fewer calls needed: this session has 12.
  await server.api("/api/alerts/rules", {
    body: {
      ...JSON.parse(
        fs.readFileSync(
          path.resolve(import.meta.dirname, "../../examples/title-generator/alert-rule.json"),
          "utf8",
        ),
      ),
      minCalls: 10,
    },
  });
  await server.api("/api/annotations", {
    body: completions.map((id, i) => ({
      annotationKey: id,
      name: "check:title-format",
      numericReward: i % 5 === 2 || i === 11 ? 0 : 1,
      source: "code",
      data: { evaluator: "title-quality" },
    })),
  });
  await server.api("/api/alerts/rules", {
    body: {
      name: "canary-errors",
      condition: { kind: "error-rate", above: 0.05 },
      window: "15m",
      filter: { tags: ["canary"] },
    },
  });
  const canary = (n: number, status?: string) =>
    Promise.all(
      Array.from({ length: n }, (_, i) =>
        chat(`canary-${status ?? "ok"}-${i}`, [{ role: "user", content: `ping ${i}` }], {
          "x-intersebd-tags": "canary",
          ...(status ? { "x-fake-status": status } : {}),
        }),
      ),
    );
  await canary(2);
  await canary(1, "500");
  const deps = { store: server.ctx.store };
  const alertsNow = async () => {
    await evaluateRules(deps);
    return (await server.api<{ alerts: Array<{ rule: string; status: string }> }>("/api/alerts")).body.alerts;
  };
  // Annotations resolve to their calls behind the API's answer: evaluate until both rules have fired.
  await eventually(
    async () => ((await alertsNow()).filter((a) => a.status === "open").length === 2 ? true : undefined),
    10_000,
    "both rules to fire",
  );
  await canary(30);
  await eventually(
    async () =>
      (await alertsNow()).some((a) => a.rule === "canary-errors" && a.status === "resolved")
        ? true
        : undefined,
    10_000,
    "canary-errors to resolve",
  );
  return { convId: created };
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
  // localStorage needs a page of the app open (with --only, no shot may have opened one yet).
  if (!page.url().startsWith(server.url)) await page.goto(`${server.url}/settings`);
  await page.evaluate(() => localStorage.setItem("intersebd.recipient", "ana"));
  await shot("inbox", page, "/inbox?recipient=ana", "[data-testid=inbox-list]");
  await shot("review", page, "/review", "[data-testid=review-list]");
  await shot("rubrics", page, "/rubrics/default", "[data-testid=rubric-editor]");
  await shot("settings", page, "/settings", "[data-testid=upstreams]");
  // Two weeks of history for the datasets, evaluation and metrics pages: a prompt change (v1 → v2) a week
  // ago made the answers slower and less liked.
  const history = await seedHistory();
  await shot("datasets", page, "/datasets", "[data-testid=datasets-table] [data-testid=dataset-size-cell]");
  await shot(
    "dataset",
    page,
    "/datasets/ticket-titles",
    "[data-testid=histogram-chart] canvas",
    true,
    async () => {
      await page.click("[data-testid=report-trl-kto]");
      await page.waitForSelector("[data-testid=export-report]");
    },
  );
  if (history.evalId) {
    await shot("evals", page, "/evals?dataset=ticket-titles-v2", "[data-testid=runs-table] tbody tr");
    await shot(
      "eval-report",
      page,
      `/evals/${history.evalId}`,
      "[data-testid=eval-report][data-complete=true] [data-testid=latency-compare-chart] canvas",
      true,
    );
  } else {
    missing.push(`evals, eval-report (${history.evalError})`);
  }
  await seedExperiment();
  await shot("experiment", page, "/experiments/ticket-titles", "[data-testid=sequence-chart] canvas", true);
  if (!only || only.has("conversation-eval") || only.has("alerts")) {
    const quality = await seedQuality();
    if (quality.convId) {
      const report = `/conversations/evals/${quality.convId}`;
      await eventually(
        async () => {
          const r = await server.api<{ status: string }>(`/api/${report.slice(1)}`);
          return r.body.status === "done" ? true : undefined;
        },
        30_000,
        "the conversation evaluation to finish",
      );
      await shot("conversation-eval", page, report, "[data-testid=results-judge]", true);
    } else missing.push(`conversation-eval (${quality.convError})`);
    await shot("alerts", page, "/alerts", "[data-testid=alerts-table] tbody tr");
  }
  await shot(
    "metrics",
    page,
    "/trends?range=30d&groupBy=promptVersion",
    "[data-testid=chart-latency] canvas",
    true,
  );

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
