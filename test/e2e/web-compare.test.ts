/**
 * Pairwise judgements in a real browser: two calls side by side, a choice made with the keyboard, stored as a
 * comparison both calls can be found by; picking the second call when the link names only one; and the
 * session page reading a session's calls as one conversation.
 */
// biome-ignore-all lint/performance/useDomNodeTextContent: Playwright's Locator.innerText (rendered text, with line breaks), not the DOM property
import assert from "node:assert/strict";
import { before, it } from "node:test";
import type { Page } from "playwright-core";
import type { FakeUpstream, TestServer } from "../../packages/server/src/testing/index.ts";
import { browserSuite, browserWorld, type Seeded, seedTraffic, waitForCount } from "./web-support.ts";

// biome-ignore lint/suspicious/noExplicitAny: API bodies are read loosely in assertions
type Body = Record<string, any>;

browserSuite("web app: compare, sessions, rubrics, settings", () => {
  const world = browserWorld();
  let fake: FakeUpstream;
  let server: TestServer;
  let page: Page;
  let seeded: Seeded;

  before(async () => {
    ({ fake, server, page } = world);
    seeded = await seedTraffic(server);
  });

  it("stores the choice made with the keyboard (b, Enter) and a reason, for both calls", async () => {
    const a = seeded.plain.completionId;
    const b = seeded.other.completionId;
    await page.goto(`${server.url}/compare?a=${a}&b=${b}`);
    await page.locator("[data-testid=compare-form]").waitFor();
    assert.match(await page.locator("[data-side=a]").innerText(), /gpt-4o-mini/);
    assert.match(await page.locator("[data-side=b]").innerText(), /gpt-4\.1-nano/);

    await page.fill("[data-testid=compare-form] textarea[name=reason]", "B is shorter");
    await page.fill("[data-testid=compare-form] input[name=annotatorId]", "rev-1");
    await page.locator("h1").click(); // leave the text fields: plain keys are shortcuts again
    await page.keyboard.press("b");
    await page.waitForSelector("button[data-choice=b][aria-pressed=true]");
    await page.keyboard.press("Enter");
    await page.locator("[data-testid=comparison-saved]").waitFor();
    assert.match(await page.locator("[data-testid=comparison-saved]").innerText(), /B is better/);

    for (const id of [seeded.plain.id, seeded.other.id]) {
      const r = await server.api<Body>(`/api/calls/${id}`);
      assert.equal(r.status, 200);
      const c = (r.body.comparisons as Body[]).find((x) => x.a === a && x.b === b);
      assert.ok(c, `the comparison is found from call ${id}`);
      assert.equal(c.choice, "b");
      assert.equal(c.reason, "B is shorter");
      assert.equal(c.annotatorId, "rev-1");
      assert.equal(c.source, "human");
    }

    await page.goto(`${server.url}/calls/${seeded.other.id}`);
    const row = page.locator(".comparisons li[data-choice=b]");
    await row.waitFor();
    assert.match(await row.innerText(), /won/, "B's page says it won");
  });

  it("offers the calls with the same input when the link names only A, and stores a tie with t", async () => {
    await page.goto(`${server.url}/calls/${seeded.other.id}`);
    await page.click("button:has-text('Compare with…')");
    await page.waitForURL(/\/compare\?a=/);
    const picker = page.locator("[data-testid=picker-b]");
    await picker.locator("button:has(.badge:text('same input'))").first().click();
    await page.waitForURL(/[?&]b=/);
    const url = new URL(page.url());
    assert.equal(url.searchParams.get("a"), seeded.other.completionId);
    assert.equal(
      url.searchParams.get("b"),
      seeded.plain.completionId,
      "the other call with the same question",
    );
    await page.locator("[data-testid=compare-form]").waitFor();
    await page.keyboard.press("t");
    await page.waitForSelector("button[data-choice=tie][aria-pressed=true]");
    await page.keyboard.press("Enter");
    await page.locator("[data-testid=comparison-saved]").waitFor();
    const r = await server.api<Body>(`/api/calls/${seeded.plain.id}`);
    const tie = (r.body.comparisons as Body[]).find((x) => x.choice === "tie");
    assert.ok(tie, "the tie is stored");
    assert.equal(tie.a, seeded.other.completionId);
  });

  it("reads a session's calls in order as one conversation, each message once", async () => {
    await page.goto(`${server.url}/sessions/sess-weather`);
    await waitForCount(page, ".session-call", 2);
    const ids = await page.$$eval(".session-call", (els) => els.map((e) => e.getAttribute("data-call-id")));
    assert.deepEqual(ids, [seeded.tool.id, seeded.followUp.id], "oldest first");
    const text = await page.locator("main").innerText();
    assert.equal(text.match(/What is the weather in Paris today\?/g)?.length, 1, "the first question once");
    assert.match(text, /So do I need an umbrella\?/);
    assert.equal(
      await page.locator(".session-call").nth(1).locator(".msg-tool").count(),
      1,
      "the tool result",
    );
  });

  it("edits a rubric in the app and saves it with PUT", async () => {
    await page.goto(`${server.url}/rubrics/new`);
    const editor = page.locator("[data-testid=rubric-editor]");
    await editor.waitFor();
    await editor.locator("input[name=name]").fill("tone");
    await editor.locator("input[name=description]").fill("How does it sound?");
    const first = editor.locator("tbody tr").first();
    await first.locator("input[aria-label='field name']").fill("friendliness");
    await first.locator("input[aria-label=labels]").fill("cold, neutral, warm");
    await first.locator("input[aria-label=max]").fill("3");
    await editor.locator("button[type=submit]").click();
    await page.waitForURL((u) => u.pathname === "/rubrics/tone");
    await page.locator("[data-testid=rubric-list] a", { hasText: "tone" }).waitFor();
    const r = await server.api<Body>("/api/rubrics/tone");
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.description, "How does it sound?");
    assert.deepEqual(r.body.fields[0], {
      name: "friendliness",
      type: "scale",
      label: "How good is the answer?",
      min: 1,
      max: 3,
      labels: ["cold", "neutral", "warm"],
    });
    assert.equal(r.body.fields[1].name, "comment");
  });

  it("shows the server's error when a rubric is refused", async () => {
    await page.goto(`${server.url}/rubrics/tone`);
    const editor = page.locator("[data-testid=rubric-editor]");
    await editor.waitFor();
    await editor.locator("tbody tr").first().locator("input[aria-label=max]").fill("1");
    await editor.locator("button[type=submit]").click();
    await editor.locator(".error-box").waitFor();
    assert.match(await editor.locator(".error-box").innerText(), /max must be greater than min/);
  });

  it("shows the upstreams, the capture mode and the webhook state on the settings page", async () => {
    await page.goto(`${server.url}/settings`);
    const ups = page.locator("[data-testid=upstreams]");
    await ups.waitFor();
    assert.match(await ups.innerText(), new RegExp(fake.url.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")));
    assert.match(await page.locator("main").innerText(), /Capture mode\s+full/);
    assert.match(await page.locator("[data-testid=webhook]").innerText(), /No webhook/);
  });
});
