/**
 * The web app's experiments pages in a real browser: the list with its split, an experiment's report (the
 * server's when it has the route, and a fixed report held to the wire schema, so the verdict, the sample-ratio
 * warning and both plots are seen whatever the data), a weight change, a promotion with the approver's name, and
 * its rollback, each seen in the status and the history.
 */
// biome-ignore-all lint/performance/useDomNodeTextContent: Playwright's Locator.innerText (rendered text, with line breaks), not the DOM property
import assert from "node:assert/strict";
import { before, it } from "node:test";
import type { Page } from "playwright-core";
import { assignVariant } from "../../packages/sdk/src/experiments/index.ts";
import type { Experiment, ExperimentDetail } from "../../packages/server/src/api-types.ts";
import {
  type ExperimentReport,
  experimentReportSchema,
} from "../../packages/server/src/experiments/responses.ts";
import type { TestServer } from "../../packages/server/src/testing/index.ts";
import { browserSuite, browserWorld, waitForCount } from "./web-support.ts";

const NAME = "titles";
const DAY = 86_400_000;

/**
 * A report as the route would answer it: the treatment better on the primary reward, its band leaving zero on
 * the last days, and a split that does not match the configuration. Parsed by the wire schema, so it cannot drift
 * from the contract the page reads.
 */
function fixtureReport(now: number): ExperimentReport {
  const iv = (n: number, estimate: number, half: number) => ({
    n,
    estimate,
    low: estimate - half,
    high: estimate + half,
  });
  return experimentReportSchema.parse({
    experiment: NAME,
    version: 1,
    status: "running",
    control: "control",
    unit: "userId",
    generatedAt: now,
    alpha: 0.05,
    method: "fixture: mixture sequential probability ratio (Howard et al. 2021)",
    variants: [
      {
        name: "control",
        control: true,
        share: 0.5,
        units: 412,
        calls: 903,
        shadowCalls: 0,
        errorRate: iv(903, 0.02, 0.01),
        costUsd: { total: 1.8, perCall: 0.002 },
        latencyMs: { p50: 640, p95: 1510 },
        rewards: [{ name: "thumbs", ...iv(380, 0.61, 0.05) }],
        checks: [{ name: "short-title", ...iv(903, 0.9, 0.03) }],
        pairwise: [],
        vsControl: [],
      },
      {
        name: "short",
        control: false,
        share: 0.5,
        units: 358,
        calls: 797,
        shadowCalls: 120,
        errorRate: iv(797, 0.03, 0.012),
        costUsd: { total: 1.2, perCall: 0.0015 },
        latencyMs: { p50: 520, p95: 1210 },
        rewards: [{ name: "thumbs", ...iv(341, 0.74, 0.05) }],
        checks: [{ name: "short-title", ...iv(797, 0.97, 0.02) }],
        pairwise: [{ judge: "fake-judge", wins: 70, ties: 20, losses: 30, ...iv(120, 0.667, 0.09) }],
        vsControl: [
          {
            metric: "reward:thumbs",
            verdict: "better",
            higherIsBetter: true,
            moreUnits: null,
            ...iv(721, 0.13, 0.07),
          },
          {
            metric: "errorRate",
            verdict: "not yet known",
            higherIsBetter: false,
            moreUnits: 5400,
            ...iv(1700, 0.01, 0.02),
          },
        ],
      },
    ],
    sampleRatio: {
      expected: { control: 0.5, short: 0.5 },
      observed: { control: 412, short: 358 },
      pValue: 0.00005,
      mismatch: true,
    },
    verdict: {
      line: "short is better than control on reward thumbs: +0.13 [0.06, 0.20].",
      metric: "reward:thumbs",
    },
    sequence: Array.from({ length: 7 }, (_, d) => ({
      at: now - (6 - d) * DAY,
      variant: "short",
      metric: "reward:thumbs",
      ...iv(100 * (d + 1), 0.13, 0.4 / Math.sqrt(d + 1)),
    })),
  });
}

browserSuite("web app: experiments", () => {
  const world = browserWorld();
  let server: TestServer;
  let page: Page;

  before(async () => {
    ({ server, page } = world);
    const created = await server.api<Experiment>("/api/experiments", {
      body: {
        name: NAME,
        description: "A shorter title prompt",
        unit: "userId",
        variants: [
          { name: "control", weight: 1 },
          {
            name: "short",
            weight: 1,
            systemPrompt: "Write a title of at most six words.",
            promptVersion: "v3-short",
            params: { temperature: 0 },
          },
        ],
        match: { tags: ["ticket-titles"] },
        shadow: { sample: 0.5, concurrency: 2, dailyCostUsd: 1 },
        status: "running",
        by: "ana",
      },
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const x = created.body;

    // Forty calls of twenty users, each recorded under the variant the kernel assigns (as an SDK's variant()
    // would send them); the treatment's answers are liked more.
    const now = Date.now();
    const variantOf = (i: number) => assignVariant(x, `user-${i % 20}`) ?? x.control;
    const calls = Array.from({ length: 40 }, (_, i) => {
      const user = `user-${i % 20}`;
      const startedAt = now - (i % 7) * DAY - 3_600_000;
      return {
        startedAt,
        endedAt: startedAt + 600 + i * 10,
        userId: user,
        tags: ["ticket-titles"],
        experiment: NAME,
        variant: variantOf(i),
        assignmentUnit: `userId:${user}`,
        request: { model: "gpt-4o-mini", messages: [{ role: "user", content: `Ticket ${i}` }] },
        response: {
          id: `chatcmpl-exp-${i}`,
          object: "chat.completion",
          model: "gpt-4o-mini",
          choices: [
            { index: 0, message: { role: "assistant", content: `Title ${i}` }, finish_reason: "stop" },
          ],
          usage: { prompt_tokens: 40, completion_tokens: 8, total_tokens: 48 },
        },
      };
    });
    const ingested = await server.api("/api/calls", { body: calls });
    assert.equal(ingested.status, 201, JSON.stringify(ingested.body));
    const rewards = calls.map((c, i) => ({
      annotationKey: c.response.id,
      name: "thumbs",
      numericReward: variantOf(i) === "short" ? (i % 5 === 0 ? 0 : 1) : i % 2,
      source: "user",
      annotatorId: `user-${i % 20}`,
    }));
    const ann = await server.api("/api/annotations", { body: rewards });
    assert.equal(ann.status, 201, JSON.stringify(ann.body));
  });

  const text = (selector: string) => page.locator(selector).first().innerText();
  const detail = async () => (await server.api<ExperimentDetail>(`/api/experiments/${NAME}`)).body;

  it("lists the experiment with its status, split and unit, from the navigation", async () => {
    await page.goto(`${server.url}/`);
    await page.click("nav >> text=Experiments");
    await page.locator(`[data-testid=experiments-table] tr[data-experiment=${NAME}]`).waitFor();
    const row = `[data-testid=experiments-table] tr[data-experiment=${NAME}]`;
    assert.equal(await page.locator(`${row} [data-status]`).getAttribute("data-status"), "running");
    assert.match(await text(`${row} [data-variant=control]`), /control \(control\)\s*50%/);
    assert.match(await text(`${row} [data-variant=short]`), /short\s*50%/);
    assert.match(await text(row), /userId/);
    assert.match(await text(row), /ana/);
    await page.click(`${row} a`);
    await page.waitForURL(`**/experiments/${NAME}`);
    await page.locator("[data-testid=definition-variants]").waitFor();
  });

  it("shows the server's report, or says there is none yet", async () => {
    await page.goto(`${server.url}/experiments/${NAME}`);
    await page.locator("[data-testid=experiment-report], [data-testid=no-report]").first().waitFor();
    const served = await server.api<ExperimentReport>(`/api/experiments/${NAME}/report`);
    if (served.status === 200) {
      // The route exists: it counts the twenty users, and the page shows its verdict line, its tables, and its
      // plot when it has daily points.
      assert.equal(
        served.body.variants.reduce((n, v) => n + v.units, 0),
        20,
        JSON.stringify(served.body.variants),
      );
      assert.equal(await text("[data-testid=verdict] strong"), served.body.verdict.line);
      if (served.body.sequence.length)
        await page.locator("[data-testid=sequence-chart] canvas").first().waitFor();
      await waitForCount(page, "[data-testid=variants-table] tbody tr", served.body.variants.length);
    } else {
      assert.match(await text("[data-testid=no-report]"), /No report yet/);
    }
  });

  it("shows a report's verdict, sample-ratio warning, plots and tables", async () => {
    const report = fixtureReport(Date.now());
    await page.route(`**/api/experiments/${NAME}/report`, (route) =>
      route.fulfill({ status: 200, contentType: "application/json", body: JSON.stringify(report) }),
    );
    try {
      await page.goto(`${server.url}/experiments/${NAME}`);
      await page.locator("[data-testid=verdict]").waitFor();
      assert.equal(await text("[data-testid=verdict] strong"), report.verdict.line);
      assert.equal(await page.locator("[data-testid=verdict]").getAttribute("class"), "verdict ok");
      assert.match(await text("[data-testid=srm-warning]"), /Sample ratio mismatch.*control 412, short 358/s);
      // Both plots drew: the difference over time in its band, and the rewards' intervals.
      await page.locator("[data-testid=sequence-chart] canvas").first().waitFor();
      await page.locator("[data-testid=reward-chart-thumbs] canvas").first().waitFor();
      await waitForCount(page, "[data-testid=variants-table] tbody tr", 2);
      assert.equal(
        await text("[data-testid=variants-table] tr[data-variant=control] [data-testid=units]"),
        "412",
      );
      const short = await text("[data-testid=variants-table] tr[data-variant=short]");
      assert.match(short, /70 \/ 20 \/ 30/);
      assert.match(short, /\+120 shadow/);
      assert.match(short, /520 ms \/ 1\.21 s/);
      const diff = "[data-testid=differences-table] tr[data-metric='reward:thumbs']";
      assert.equal(await page.locator(`${diff} [data-verdict]`).getAttribute("data-verdict"), "better");
      assert.match(await text(diff), /\+0\.13 \[\+0\.06, \+0\.2\]/);
      assert.match(
        await text("[data-testid=differences-table] tr[data-metric=errorRate]"),
        /not yet known\s*≈ 5,400/,
      );
    } finally {
      await page.unroute(`**/api/experiments/${NAME}/report`);
    }
  });

  it("changes a weight with the changer's name, seen in the split and the history", async () => {
    await page.goto(`${server.url}/experiments/${NAME}`);
    await page.locator("[data-testid=update-form]").waitFor();
    await page.fill("input[name=weight-short]", "3");
    await page.fill("[data-testid=update-form] input[name=by]", "ben");
    await page.click("[data-testid=update-form] button[type=submit]");
    await page.locator("[data-testid=history] tr[data-action=update]").waitFor();
    assert.equal(await text("[data-testid=history] tr[data-action=update] [data-testid=change-by]"), "ben");
    assert.equal(
      await text("[data-testid=definition-variants] tr[data-variant=short] [data-testid=share]"),
      "75%",
    );
    const x = await detail();
    assert.equal(x.variants.find((v) => v.name === "short")?.weight, 3);
    assert.equal(x.changes.at(-1)?.by, "ben");
  });

  it("promotes only with an approver's name, recorded, and rolls back", async () => {
    await page.goto(`${server.url}/experiments/${NAME}`);
    const form = "[data-testid=promote-form]";
    await page.locator(form).waitFor();
    await page.selectOption(`${form} select[name=variant]`, "short");
    // No approver, no promotion.
    assert.equal(await page.locator(`${form} button[type=submit]`).isDisabled(), true);
    await page.fill(`${form} input[name=approvedBy]`, "Carla Ruiz");
    await page.fill(`${form} input[name=comment]`, "better titles, fewer words");
    await page.click(`${form} button[type=submit]`);
    await page.locator("h1 [data-status=promoted]").waitFor();
    assert.equal(await text("[data-testid=approved-by]"), "Carla Ruiz");
    assert.match(await text("[data-testid=promoted]"), /goes to short/);
    await page.locator("[data-testid=history] tr[data-action=promote]").waitFor();
    assert.equal(
      await text("[data-testid=history] tr[data-action=promote] [data-testid=change-by]"),
      "Carla Ruiz",
    );
    const promoted = await detail();
    assert.equal(promoted.status, "promoted");
    assert.deepEqual(
      { variant: promoted.promoted?.variant, approvedBy: promoted.promoted?.approvedBy },
      { variant: "short", approvedBy: "Carla Ruiz" },
    );

    await page.fill("[data-testid=rollback-form] input[name=by]", "dan");
    await page.click("[data-testid=rollback-form] button[type=submit]");
    await page.locator("h1 [data-status=stopped]").waitFor();
    await page.locator("[data-testid=history] tr[data-action=rollback]").waitFor();
    assert.equal(await text("[data-testid=history] tr[data-action=rollback] [data-testid=change-by]"), "dan");
    const rolled = await detail();
    assert.equal(rolled.status, "stopped");
    assert.equal(rolled.promoted, undefined);
    assert.deepEqual(
      rolled.changes.map((c) => c.action),
      ["create", "update", "promote", "rollback"],
    );
  });
});
