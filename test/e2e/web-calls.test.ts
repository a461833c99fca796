/**
 * The web app's calls pages in a real browser: the empty state a new user sees, the list and its filters
 * (kept in the URL), paging, and the call page reading a streamed tool call, a tool result and a JSON answer.
 */
// biome-ignore-all lint/performance/useDomNodeTextContent: Playwright's Locator.innerText (rendered text, with line breaks), not the DOM property
import assert from "node:assert/strict";
import { before, it } from "node:test";
import type { Browser, Page } from "playwright-core";
import type { FakeUpstream, TestServer } from "../../packages/server/src/testing/index.ts";
import {
  browserSuite,
  browserWorld,
  type Seeded,
  seedTraffic,
  startWebServer,
  waitForCount,
} from "./web-support.ts";

browserSuite("web app: calls", () => {
  const world = browserWorld();
  let fake: FakeUpstream;
  let server: TestServer;
  let browser: Browser;
  let page: Page;
  let seeded: Seeded;

  before(() => {
    ({ fake, server, browser, page } = world);
  });

  const rowIds = () =>
    page.$$eval("[data-testid=calls-table] tbody tr", (trs) =>
      trs.map((tr) => tr.getAttribute("data-call-id")),
    );

  it("shows a new user the base URL line to paste when there are no calls yet", async () => {
    await page.goto(`${server.url}/`);
    const line = page.locator("[data-testid=baseurl-line]");
    await line.waitFor();
    assert.match(await line.innerText(), new RegExp(`new OpenAI\\(\\{ baseURL: "${server.url}/v1" \\}\\)`));
    assert.match(
      await page.locator("[data-testid=onboarding]").innerText(),
      /curl .*\/v1\/chat\/completions/,
    );
  });

  it("lists the calls newest first, each with its model, outcome and rating", async () => {
    seeded = await seedTraffic(server);
    await page.goto(`${server.url}/`);
    await waitForCount(page, "[data-testid=calls-table] tbody tr", 6);
    const ids = await rowIds();
    assert.equal(ids[0], seeded.failed.id, "the last call sent comes first");
    assert.equal(ids.at(-1), seeded.plain.id, "the first call sent comes last");
    const failed = page.locator(`tr[data-call-id="${seeded.failed.id}"]`);
    assert.match(await failed.innerText(), /upstream error 429/);
    const plain = page.locator(`tr[data-call-id="${seeded.plain.id}"]`);
    assert.match(await plain.innerText(), /How do I reset my password\?/);
    assert.equal(
      await plain.locator("[data-testid=annotation-badge]").count(),
      1,
      "the judged call has a rating",
    );
    await page.click("button:has-text('Latency chart')");
    await page.locator("[data-testid=latency-chart] canvas").waitFor();
  });

  it("narrows the rows by model, and keeps the filter in a URL that can be shared", async () => {
    await page.goto(`${server.url}/`);
    await waitForCount(page, "[data-testid=calls-table] tbody tr", 6);
    await page.fill("form.filters input[name=model]", "gpt-4o");
    await page.press("form.filters input[name=model]", "Enter");
    await page.waitForURL(/[?&]model=gpt-4o(&|$)/);
    await waitForCount(page, "[data-testid=calls-table] tbody tr", 2);
    assert.deepEqual(new Set(await rowIds()), new Set([seeded.tool.id, seeded.followUp.id]));

    const shared = await (await browser.newContext()).newPage();
    await shared.goto(`${server.url}/?model=gpt-4o-mini&annotated=false`);
    await waitForCount(shared, "[data-testid=calls-table] tbody tr", 2);
    const sharedIds = await shared.$$eval("[data-testid=calls-table] tbody tr", (trs) =>
      trs.map((tr) => tr.getAttribute("data-call-id")),
    );
    assert.deepEqual(new Set(sharedIds), new Set([seeded.json.id, seeded.failed.id]));
    assert.equal(await shared.inputValue("form.filters input[name=model]"), "gpt-4o-mini");
    assert.equal(await shared.inputValue("form.filters select[name=annotated]"), "false");
    await shared.context().close();
  });

  it("narrows the rows to the annotated calls, then to the others", async () => {
    await page.goto(`${server.url}/`);
    await waitForCount(page, "[data-testid=calls-table] tbody tr", 6);
    await page.selectOption("form.filters select[name=annotated]", "true");
    await page.waitForURL(/annotated=true/);
    await waitForCount(page, "[data-testid=calls-table] tbody tr", 1);
    assert.deepEqual(await rowIds(), [seeded.plain.id], "only the call whose reply was judged");
    await page.selectOption("form.filters select[name=annotated]", "false");
    await page.waitForURL(/annotated=false/);
    await waitForCount(page, "[data-testid=calls-table] tbody tr", 5);
    assert.ok(!(await rowIds()).includes(seeded.plain.id));
    await page.fill("form.filters input[name=q]", "umbrella");
    await page.press("form.filters input[name=q]", "Enter");
    await waitForCount(page, "[data-testid=calls-table] tbody tr", 1);
    assert.deepEqual(await rowIds(), [seeded.followUp.id], "text search and annotated=false together");
    await page.click("form.filters button:has-text('Clear')");
    await page.waitForURL((u) => u.search === "");
    await waitForCount(page, "[data-testid=calls-table] tbody tr", 6);
  });

  it("says so when no call matches, instead of the new-user page", async () => {
    await page.goto(`${server.url}/?model=no-such-model`);
    await page.locator("[data-testid=no-match]").waitFor();
    assert.equal(await page.locator("[data-testid=onboarding]").count(), 0);
  });

  it("renders a streamed tool call with its name and pretty-printed arguments", async () => {
    await page.goto(`${server.url}/calls/${seeded.tool.id}`);
    const call = page.locator(".msg-answer .tool-call[data-tool=get_weather]");
    await call.waitFor();
    assert.match(await call.locator(".tool-name").innerText(), /^get_weather$/);
    const args = await call.locator(".tool-args").innerText();
    assert.deepEqual(
      JSON.parse(args),
      { city: "Paris", unit: "c" },
      "the streamed argument chunks, reassembled",
    );
    assert.match(args, /\n {2}"city": "Paris"/, "pretty-printed, one key per line");
    const facts = await page.locator("[data-testid=facts]").innerText();
    assert.match(facts, /Stream\s+yes/);
    assert.match(facts, /Time to first token\s+\d+ ms/);
    assert.match(await page.locator(".tools-offered summary").innerText(), /get_weather/);
  });

  it("renders the tool's result and the streamed answer that follows, by completion id too", async () => {
    await page.goto(`${server.url}/calls/${seeded.followUp.completionId}`);
    await page.locator(".msg-answer").waitFor();
    const tool = page.locator(".msg-tool");
    assert.match(await tool.innerText(), /"temperature": 18/);
    assert.match(await tool.innerText(), /result of call_fake_weather_1/);
    assert.match(await page.locator(".msg-answer").innerText(), /echo: So do I need an umbrella\?/);
    assert.equal(
      await page.locator(".msg-assistant:not(.msg-answer) .tool-call[data-tool=get_weather]").count(),
      1,
      "the earlier tool call, as the request carried it",
    );
  });

  it("pretty-prints a JSON answer and shows the request's parameters", async () => {
    await page.goto(`${server.url}/calls/${seeded.json.id}`);
    const json = page.locator(".msg-answer pre[data-kind=json]");
    await json.waitFor();
    assert.match(await json.innerText(), /^\{\n {2}"echo": "Extract the order number/);
    assert.match(
      await page.locator("[data-testid=parameters]").innerText(),
      /response_format[\s\S]*json_object/,
    );
  });

  it("shows the tag graph with link metadata and the annotation with who gave it and through which chain", async () => {
    await page.goto(`${server.url}/calls/${seeded.plain.id}`);
    await page.locator(".annotation").waitFor();
    const tree = await page.locator(".tag-tree").innerText();
    assert.match(tree, /reply-1/);
    assert.match(tree, /ticket\s+T-1001/);
    const ann = page.locator(".annotation[data-source=user]");
    const text = await ann.innerText();
    assert.match(text, /by user-42/);
    assert.match(text, /solved it/);
    assert.match(text, new RegExp(`via ${seeded.plain.completionId} → reply-1`));
    assert.match(await page.locator("[data-testid=facts]").innerText(), /Session\s+sess-support/);
  });

  it("shows a clear message for a call that does not exist", async () => {
    await page.goto(`${server.url}/calls/call_does_not_exist`);
    await page.locator(".error-box").waitFor();
    assert.match(
      await page.locator(".error-box").innerText(),
      /no call with id, completion id or tag "call_does_not_exist"/,
    );
  });

  it("loads the next page with the cursor when the end of the list scrolls into view", async () => {
    const batch = Array.from({ length: 55 }, (_, i) => ({
      startedAt: Date.now() - 3_600_000 - i * 1000,
      request: { model: "bulk-model", messages: [{ role: "user", content: `bulk question ${i}` }] },
      response: { id: `chatcmpl-bulk-${i}`, object: "chat.completion", choices: [] },
    }));
    const r = await server.api("/api/calls", { body: batch });
    assert.equal(r.status, 201);
    await page.goto(`${server.url}/?model=bulk-model`);
    await waitForCount(page, "[data-testid=calls-table] tbody tr", 50);
    await page.locator("button:has-text('Load more')").scrollIntoViewIfNeeded();
    await waitForCount(page, "[data-testid=calls-table] tbody tr", 55);
    const ids = await rowIds();
    assert.equal(new Set(ids).size, 55, "no row twice");
    assert.equal(await page.locator("button:has-text('Load more')").count(), 0, "no more pages");
  });

  it("asks once for the API key of a server that has one, and sends it as x-intersebd-key", async () => {
    const locked = await startWebServer(fake.url, { INTERSEBD_API_KEY: "team-key-7" });
    const ctx = await browser.newContext();
    try {
      const p = await ctx.newPage();
      const seen: Array<string | null> = [];
      p.on("request", (r) => {
        // Any API request: the first one the app makes (the calls page's, or the navigation's alert count) is
        // the one refused, which asks for the key.
        if (new URL(r.url()).pathname.startsWith("/api/")) seen.push(r.headers()["x-intersebd-key"] ?? null);
      });
      await p.goto(`${locked.url}/`);
      const dialog = p.locator(".modal");
      await dialog.waitFor();
      assert.match(await dialog.innerText(), /API key/);
      await dialog.locator("input[type=password]").fill("team-key-7");
      await dialog.locator("button[type=submit]").click();
      await p.locator("[data-testid=onboarding]").waitFor();
      assert.equal(await p.locator(".modal").count(), 0, "no second prompt");
      assert.equal(seen[0], null, "the first request had no key");
      assert.equal(seen.at(-1), "team-key-7", "after the prompt, the key is sent");
      assert.match(
        await p.locator("[data-testid=baseurl-line]").innerText(),
        /"x-intersebd-key": process\.env\.INTERSEBD_API_KEY/,
        "the line to paste sends the key to the proxy too",
      );
      await p.reload();
      await p.locator("[data-testid=onboarding]").waitFor();
      assert.equal(await p.locator(".modal").count(), 0, "remembered across loads");
    } finally {
      await ctx.close();
      await locked.stop();
    }
  });
});
