/**
 * The web app's datasets, exports, evaluations and metrics in a real browser: a calls-list filter saved as a
 * dataset, its size and reward histogram, a JSONL export downloaded with a click and its report, an
 * evaluation started from the app against the fake upstream and read when done, and the metrics plots.
 */
// biome-ignore-all lint/performance/useDomNodeTextContent: Playwright's Locator.innerText (rendered text, with line breaks), not the DOM property
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, it } from "node:test";
import type { Browser, Page } from "playwright-core";
import type { FakeUpstream, TestServer } from "../../packages/server/src/testing/index.ts";
import { browserSuite, browserWorld, openaiFor, startWebServer, waitForCount } from "./web-support.ts";

browserSuite("web app: datasets, exports, evaluations, metrics", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "intersebd-web-datasets-"));
  const checksFile = path.join(dir, "checks.json");
  fs.writeFileSync(
    checksFile,
    JSON.stringify({
      checks: [
        { type: "regex", name: "early-questions", pattern: "question [1-3]$" },
        { type: "regex", name: "echoes", pattern: "^echo" },
      ],
    }),
  );
  const world = browserWorld({
    env: { INTERSEBD_CHECKS_FILE: checksFile },
    context: { acceptDownloads: true },
  });
  let fake: FakeUpstream;
  let server: TestServer;
  let browser: Browser;
  let page: Page;
  /** Completion ids of "question 1" … "question 6", tagged ds-e2e. */
  const questions: string[] = [];

  before(async () => {
    ({ fake, server, browser, page } = world);
    // Six questions in the dataset-to-be, one call outside it.
    const client = openaiFor(server, { "x-intersebd-tags": "ds-e2e", "x-intersebd-session-id": "sess-ds" });
    for (let i = 1; i <= 6; i++) {
      const r = await client.chat.completions.create({
        model: "gpt-4o-mini",
        messages: [{ role: "user", content: `question ${i}` }],
      });
      questions.push(r.id);
    }
    await openaiFor(server).chat.completions.create({
      model: "gpt-4.1-nano",
      messages: [{ role: "user", content: "not in the dataset" }],
    });
    await server.ctx.recorder.flush();
    // Rewards 1, 1, 0 and 0.5 with a correction; questions 5 and 6 are not judged.
    const ann = await server.api("/api/annotations", {
      body: [
        { annotationKey: questions[0], numericReward: 1, source: "human", annotatorId: "ana" },
        { annotationKey: questions[1], numericReward: 1, source: "human", annotatorId: "ana" },
        { annotationKey: questions[2], numericReward: 0, source: "human", annotatorId: "ana" },
        {
          annotationKey: questions[3],
          numericReward: 0.5,
          source: "human",
          annotatorId: "ana",
          correction: { role: "assistant", content: "a better answer" },
        },
      ],
    });
    assert.equal(ann.status, 201, JSON.stringify(ann.body));
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  const text = (selector: string) => page.locator(selector).first().innerText();

  it("tells a new user how to make a dataset, and that an evaluation needs one", async () => {
    await page.goto(`${server.url}/datasets`);
    await page.locator("[data-testid=datasets-empty]").waitFor();
    assert.match(await text("[data-testid=datasets-empty]"), /Save filter as dataset/);
    await page.goto(`${server.url}/evals`);
    await page.locator("[data-testid=evals-no-datasets]").waitFor();
    assert.equal(await page.locator("[data-testid=eval-form]").count(), 0);
  });

  it("saves the calls list's filter as a dataset, with its size, judged counts and reward histogram", async () => {
    await page.goto(`${server.url}/?tag=ds-e2e`);
    await waitForCount(page, "[data-testid=calls-table] tbody tr", 6);
    await page.click("[data-testid=save-dataset]");
    await page.waitForURL(/\/datasets\?create=1&tag=ds-e2e$/);
    const form = page.locator("[data-testid=dataset-form]");
    assert.equal(await form.locator("input[name=tag]").inputValue(), "ds-e2e", "the filter came along");
    await form.locator("input[name=name]").fill("questions");
    await form.locator("input[name=description]").fill("the six test questions");
    await form.locator("button[type=submit]").click();
    await page.waitForURL(/\/datasets\/questions$/);
    await page.locator("[data-testid=dataset-size]").waitFor();
    assert.equal(await text("[data-testid=dataset-size]"), "6");
    assert.equal(await text("[data-testid=dataset-annotated]"), "4");
    assert.equal(await text("[data-testid=dataset-corrections]"), "1");
    assert.equal(await text("[data-testid=dataset-pairwise]"), "0");
    assert.match(await text("[data-testid=filter-summary]"), /tag ds-e2e/);
    await page.locator("[data-testid=histogram-chart] canvas").waitFor();
    const label = (await page.locator("[data-testid=histogram-chart]").getAttribute("aria-label")) ?? "";
    assert.match(label, /(: |, )0: 1(,|$)/, "one call with reward 0");
    assert.match(label, /(: |, )0\.5: 1(,|$)/, "one with 0.5");
    assert.match(label, /(: |, )1: 2(,|$)/, "two with 1");
  });

  it("creates a dataset on the datasets page with an annotation condition, and says why a name is refused", async () => {
    await page.goto(`${server.url}/datasets`);
    await page.locator("tr[data-dataset=questions] [data-testid=dataset-size-cell]").waitFor();
    assert.equal(await text("tr[data-dataset=questions] [data-testid=dataset-size-cell]"), "6");
    await page.click("button:has-text('New dataset')");
    const form = page.locator("[data-testid=dataset-form]");
    await form.locator("input[name=name]").fill("questions");
    await form.locator("input[name=tag]").fill("ds-e2e");
    await form.locator("input[name=where]").fill("reward >= 1");
    await form.locator("button[type=submit]").click();
    await form.locator(".error-box").waitFor();
    assert.match(await form.locator(".error-box").innerText(), /a dataset named "questions" already exists/);
    await form.locator("input[name=name]").fill("thumbs-up");
    await form.locator("button[type=submit]").click();
    await page.waitForURL(/\/datasets\/thumbs-up$/);
    await page.locator("[data-testid=dataset-size]").waitFor();
    assert.equal(await text("[data-testid=dataset-size]"), "2", "questions 1 and 2 have reward 1");
  });

  it("downloads an export with a click: one JSONL row per call, the correction in place of its answer", async () => {
    await page.goto(`${server.url}/datasets/questions`);
    await page.locator("[data-testid=no-snapshots]").waitFor();
    const [download] = await Promise.all([
      page.waitForEvent("download"),
      page.click("[data-testid=download-openai-sft]"),
    ]);
    assert.equal(download.suggestedFilename(), "questions-openai-sft.jsonl");
    const file = path.join(dir, "sft.jsonl");
    await download.saveAs(file);
    const rows = fs
      .readFileSync(file, "utf8")
      .split("\n")
      .filter(Boolean)
      .map((l) => JSON.parse(l) as { messages: Array<{ role: string; content: string }> });
    assert.equal(rows.length, 6);
    const byQuestion = new Map(rows.map((r) => [r.messages[0]?.content, r.messages.at(-1)?.content]));
    assert.equal(byQuestion.get("question 1"), "echo: question 1");
    assert.equal(byQuestion.get("question 4"), "a better answer", "the human correction replaces the answer");
    // The export recorded which calls it used.
    await page.locator("[data-testid=snapshots] tr[data-purpose=export]").waitFor();
    assert.match(await text("[data-testid=snapshots] tr[data-purpose=export]"), /openai-sft/);
  });

  it("downloads an export from a server that wants its API key, sending the key saved in the browser", async () => {
    const locked = await startWebServer(fake.url, { INTERSEBD_API_KEY: "team-key-9" });
    const context = await browser.newContext({ acceptDownloads: true });
    try {
      const key = { "x-intersebd-key": "team-key-9" };
      const ingested = await locked.api("/api/calls", {
        headers: key,
        body: [1, 2, 3].map((i) => ({
          request: { model: "gpt-4o-mini", messages: [{ role: "user", content: `locked ${i}` }] },
          response: {
            id: `chatcmpl-locked-${i}`,
            object: "chat.completion",
            choices: [
              { index: 0, message: { role: "assistant", content: `answer ${i}` }, finish_reason: "stop" },
            ],
          },
        })),
      });
      assert.equal(ingested.status, 201, JSON.stringify(ingested.body));
      const created = await locked.api("/api/datasets", {
        headers: key,
        body: { name: "locked", filter: {} },
      });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      const plain = await fetch(`${locked.url}/api/export?dataset=locked&format=openai-sft`);
      assert.equal(plain.status, 401, "a plain link (no key) is refused");

      await context.addInitScript(() => localStorage.setItem("intersebd.apiKey", "team-key-9"));
      const lockedPage = await context.newPage();
      await lockedPage.goto(`${locked.url}/datasets/locked`);
      await lockedPage.locator("[data-testid=dataset-size]").waitFor();
      assert.equal(await lockedPage.locator("[data-testid=dataset-size]").innerText(), "3");
      const [download] = await Promise.all([
        lockedPage.waitForEvent("download"),
        lockedPage.click("[data-testid=download-openai-sft]"),
      ]);
      assert.equal(download.suggestedFilename(), "locked-openai-sft.jsonl");
      const file = path.join(dir, "locked.jsonl");
      await download.saveAs(file);
      const lines = fs.readFileSync(file, "utf8").split("\n").filter(Boolean);
      assert.equal(lines.length, 3);
      // The three calls were ingested in the same millisecond, so their order is the ids': compare as a set.
      const answers = lines
        .map((l) => JSON.parse(l).messages.at(-1))
        .sort((a, b) => a.content.localeCompare(b.content));
      assert.deepEqual(
        answers,
        [1, 2, 3].map((i) => ({ role: "assistant", content: `answer ${i}` })),
      );
    } finally {
      await context.close();
      await locked.stop();
    }
  });

  it("reports rows written and drops per reason for each format", async () => {
    await page.goto(`${server.url}/datasets/questions`);
    await page.click("[data-testid=report-openai-sft]");
    await page.locator("[data-testid=export-report][data-format=openai-sft]").waitFor();
    assert.equal(await text("[data-testid=rows-written]"), "6");
    assert.match(await text("[data-testid=export-report]"), /Nothing dropped/);

    await page.click("[data-testid=report-trl-kto]");
    await page.locator("[data-testid=export-report][data-format=trl-kto]").waitFor();
    // Four answers labelled by their reward, plus the correction labelled good; 5 and 6 have no reward.
    assert.equal(await text("[data-testid=rows-written]"), "5");
    const drop = page.locator("[data-testid=export-drops] tr[data-reason=no_reward]");
    assert.match(await drop.innerText(), /no numeric reward[\s\S]*\b2$/);
  });

  it("starts an evaluation from the app and reads its report when it is done", async () => {
    await page.goto(`${server.url}/datasets/questions`);
    await page.click("[data-testid=evaluate-dataset]");
    await page.waitForURL(/\/evals\?dataset=questions$/);
    const form = page.locator("[data-testid=eval-form]");
    await form.locator("[data-testid=declared-checks] input[value=echoes]").waitFor();
    assert.equal(await form.locator("select[name=dataset]").inputValue(), "questions");
    assert.ok(await form.locator("input[value=early-questions]").isChecked(), "declared checks are chosen");
    await form.locator("input[name=model]").fill("gpt-4o-mini");
    await form.locator("textarea[name=shorthands]").fill("latencyMs <= 60000");
    await form.locator("select[name=judgeMode]").selectOption("pairwise");
    await form.locator("input[name=judgeModel]").fill("fake-judge");
    await form.locator("button:has-text('Estimate cost')").click();
    await form.locator("[data-testid=estimate]").waitFor();
    assert.match(await form.locator("[data-testid=estimate]").innerText(), /for 6 items/);
    assert.match(await form.locator("[data-testid=estimate]").innerText(), /No known price for fake-judge/);

    await form.locator("button[type=submit]").click();
    await page.waitForURL(/\/evals\/evl_[a-z0-9]+$/);
    await page.locator("[data-testid=eval-report][data-complete=true]").waitFor({ timeout: 60_000 });
    const progress = page.locator("[data-testid=eval-progress]");
    assert.equal(await progress.getAttribute("data-finished"), "6");
    assert.equal(await progress.getAttribute("data-total"), "6");

    const rate = (check: string) =>
      page.locator(`[data-testid=check-row][data-check="${check}"] [data-testid=pass-rate]`).innerText();
    assert.equal(await rate("early-questions"), "50%", "questions 1–3 of 6");
    assert.equal(await rate("echoes"), "100%");
    assert.equal(await rate("latencyMs <= 60000"), "100%");
    assert.match(
      await page.locator("[data-testid=check-row][data-check=early-questions]").innerText(),
      /19–81%/,
      "the Wilson interval of 3/6: [0.188, 0.812]",
    );
    await page.locator("[data-testid=passrate-chart] canvas").waitFor();
    assert.match(await text("[data-testid=judge-pairwise]"), /0 wins, 6 ties, 0 losses/);
    await page.locator("[data-testid=latency-compare-chart] canvas").waitFor();

    // The worst items are the three that failed a check, each linking to the candidate's call.
    await waitForCount(page, "[data-testid=worst-items] > li", 3);
    assert.match(await text("[data-testid=worst-items]"), /early-questions/);
    await page.locator("[data-testid=worst-items] [data-testid=candidate-link]").first().click();
    await page.waitForURL(/\/calls\/call_[a-z0-9]+$/);
    await page.locator(".msg-answer").waitFor();
    assert.match(await text(".msg-answer"), /echo: question [4-6]/);

    await page.goto(`${server.url}/evals`);
    await waitForCount(page, "[data-testid=runs-table] tbody tr", 1);
    assert.match(
      await text("[data-testid=runs-table] tbody tr"),
      /questions[\s\S]*gpt-4o-mini[\s\S]*done[\s\S]*6\/6/,
    );
  });

  it("draws volume and pass rate over time, split by model", async () => {
    const calls = await server.api<{ data: unknown[] }>("/api/calls?limit=1000");
    // 7 sent by the test, 6 replayed by the evaluation, 6 judge calls.
    assert.equal(calls.body.data.length, 19);
    await page.goto(`${server.url}/trends?groupBy=model`);
    await page.locator("[data-testid=chart-volume] canvas").waitFor();
    assert.equal(await text("[data-testid=metric-volume] [data-testid=metric-total]"), "19 calls");
    const legend = await text("[data-testid=chart-volume] .u-legend");
    assert.match(legend, /gpt-4o-mini/);
    assert.match(legend, /gpt-4\.1-nano/);
    assert.match(legend, /fake-judge/);
    await page.locator("[data-testid=chart-passRate] canvas").waitFor();
    // 6 × early-questions (3 pass) + 6 × echoes + 6 × latency bound: 15 of 18.
    assert.match(
      await text("[data-testid=metric-passRate] [data-testid=metric-total]"),
      /^83% of 18 verdicts$/,
    );
    await page.selectOption("select[name=groupBy]", "");
    await page.waitForURL((u) => !u.search.includes("groupBy=model"));
    // One line for all calls now, instead of one per model.
    await page.waitForFunction(() =>
      /\ball\b/.test(document.querySelector("[data-testid=chart-volume] .u-legend")?.textContent ?? ""),
    );
    assert.doesNotMatch(await text("[data-testid=chart-volume] .u-legend"), /gpt-4o-mini/);
  });
});
