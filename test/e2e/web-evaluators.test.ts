/**
 * The web app's live evaluators pages in a real browser: the list reached from the nav, with each rule's filter,
 * what it runs and its jobs' counters as the server reports them; a rule's page; pause and resume through
 * `POST /api/evaluators/:id { enabled }`, seen on the page and in the server.
 */
// biome-ignore-all lint/performance/useDomNodeTextContent: Playwright's Locator.innerText (rendered text, with line breaks), not the DOM property
import assert from "node:assert/strict";
import { before, it } from "node:test";
import type { Page } from "playwright-core";
import type { Evaluator } from "../../packages/server/src/api-types.ts";
import { eventually, type TestServer } from "../../packages/server/src/testing/index.ts";
import { browserSuite, browserWorld, waitForCount } from "./web-support.ts";

/** A chat call as the SDK sends it to `POST /api/calls`. */
const call = (i: number, tag: string) => ({
  id: `web-ev-${tag}-${i}`,
  request: { model: "gpt-4o-mini", messages: [{ role: "user", content: `question ${i}` }] },
  response: {
    id: `chatcmpl-web-ev-${tag}-${i}`,
    object: "chat.completion",
    model: "gpt-4o-mini",
    choices: [{ index: 0, message: { role: "assistant", content: `answer ${i}` }, finish_reason: "stop" }],
  },
  tags: [tag],
});

browserSuite("web app: live evaluators", () => {
  const world = browserWorld();
  let server: TestServer;
  let page: Page;
  let answers: Evaluator;
  let paused: Evaluator;

  before(async () => {
    ({ server, page } = world);
    const a = await server.api<Evaluator>("/api/evaluators", {
      body: { name: "answers", filter: { tags: ["support"] }, checks: ["regex:^answer", "regex:^never"] },
    });
    assert.equal(a.status, 201, JSON.stringify(a.body));
    answers = a.body;
    const p = await server.api<Evaluator>("/api/evaluators", {
      body: {
        name: "sampled",
        filter: { model: "gpt-4o", metadata: { feature: "titles" } },
        sample: 0.25,
        checks: ["json-schema"],
        dailyCostUsd: 2,
        enabled: false,
      },
    });
    assert.equal(p.status, 201, JSON.stringify(p.body));
    paused = p.body;
    const r = await server.api("/api/calls", {
      body: Array.from({ length: 5 }, (_, i) => call(i, "support")),
    });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    // The page shows what the server counts; the five jobs are done before the page is opened.
    await eventually(async () => {
      const e = await server.api<Evaluator>(`/api/evaluators/${answers.id}`);
      return e.body.counters.done === 5;
    }, 20_000);
  });

  it("lists the rules with their filter, checks and counters, reached from the nav", async () => {
    await page.goto(server.url);
    await page.getByRole("navigation", { name: "main" }).getByRole("link", { name: "Evaluators" }).click();
    await waitForCount(page, "[data-evaluator]", 2);
    assert.equal(new URL(page.url()).pathname, "/evaluators");
    const row = page.locator('[data-evaluator="answers"]');
    const counter = (r: typeof row, name: string) => r.locator(`[data-counter="${name}"]`).innerText();
    assert.equal(await counter(row, "done"), "5");
    assert.equal(await counter(row, "queued"), "0");
    assert.equal(await counter(row, "failed"), "0");
    assert.equal(await counter(row, "skippedByCap"), "0");
    assert.equal(await row.locator('[data-testid="evaluator-status"]').innerText(), "running");
    const text = await row.innerText();
    assert.match(text, /tag=support/);
    assert.match(text, /regex:\^answer, regex:\^never/);
    assert.match(text, /100%/);
    const other = page.locator('[data-evaluator="sampled"]');
    assert.equal(await other.locator('[data-testid="evaluator-status"]').innerText(), "paused");
    const otherText = await other.innerText();
    assert.match(otherText, /model=gpt-4o/);
    assert.match(otherText, /metadata\.feature=titles/);
    assert.match(otherText, /25%/);
    assert.match(await counter(other, "costTodayUsd"), /\$0\s*\/\s*\$2\.00/);
  });

  it("pauses and resumes a rule from the list, and the server has it so", async () => {
    await page.goto(`${server.url}/evaluators`);
    const row = page.locator('[data-evaluator="answers"]');
    await row.getByRole("button", { name: "Pause" }).click();
    await row.getByRole("button", { name: "Resume" }).waitFor();
    assert.equal(await row.locator('[data-testid="evaluator-status"]').innerText(), "paused");
    assert.equal((await server.api<Evaluator>(`/api/evaluators/${answers.id}`)).body.enabled, false);
    // Reloaded, the page reads the server's state, not its own.
    await page.reload();
    await page.locator('[data-evaluator="answers"]').getByRole("button", { name: "Resume" }).click();
    await row.getByRole("button", { name: "Pause" }).waitFor();
    assert.equal((await server.api<Evaluator>(`/api/evaluators/${answers.id}`)).body.enabled, true);
  });

  it("shows one rule with its counters and definition, and resumes it there", async () => {
    await page.goto(`${server.url}/evaluators`);
    await page.locator('[data-evaluator="sampled"]').getByRole("link", { name: "sampled" }).click();
    await page.getByTestId("evaluator-name").waitFor();
    assert.equal(new URL(page.url()).pathname, `/evaluators/${paused.id}`);
    assert.equal(await page.getByTestId("evaluator-name").innerText(), "sampled");
    const counters = page.getByTestId("evaluator-counters");
    assert.match(await counters.locator('[data-counter="done"]').innerText(), /Done\s+0/);
    assert.match(await counters.locator('[data-counter="costTodayUsd"]').innerText(), /\$0 of \$2\.00/);
    const body = await page.locator("main").innerText();
    assert.match(body, /"feature": "titles"/);
    assert.match(body, /json-schema/);
    assert.equal(await page.getByTestId("evaluator-status").innerText(), "paused");
    await page.getByRole("button", { name: "Resume" }).click();
    await page.getByRole("button", { name: "Pause" }).waitFor();
    assert.equal(await page.getByTestId("evaluator-status").innerText(), "running");
    assert.equal((await server.api<Evaluator>(`/api/evaluators/${paused.id}`)).body.enabled, true);
  });
});
