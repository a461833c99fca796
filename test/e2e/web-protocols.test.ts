/**
 * Calls of other protocols in a real browser (issue 19): the calls list marks a Responses or Messages call with
 * its protocol (a chat call stays unmarked); a call's page names its protocol, shows the conversation in the chat
 * shape and, collapsed below it, the original request and response; a call that could not be converted says why.
 */
// biome-ignore-all lint/performance/useDomNodeTextContent: Playwright's Locator.innerText (rendered text, with line breaks), not the DOM property
import assert from "node:assert/strict";
import { before, it } from "node:test";
import type { Page } from "playwright-core";
import type { TestServer } from "../../packages/server/src/testing/index.ts";
import { browserSuite, browserWorld, waitForCount } from "./web-support.ts";

const now = Date.now();

const responsesRequest = { model: "gpt-4.1", instructions: "Be brief.", input: "Capital of France?" };
const responsesResponse = {
  id: "resp_web",
  object: "response",
  created_at: Math.floor(now / 1000),
  status: "completed",
  model: "gpt-4.1",
  output: [
    {
      type: "message",
      id: "msg_out",
      role: "assistant",
      status: "completed",
      content: [{ type: "output_text", text: "Paris.", annotations: [] }],
    },
  ],
  usage: { input_tokens: 12, output_tokens: 2, total_tokens: 14 },
};

const calls = [
  {
    id: "web-chat",
    startedAt: now - 4000,
    endedAt: now - 3900,
    request: { model: "gpt-4o-mini", messages: [{ role: "user", content: "Capital of Spain?" }] },
    response: {
      id: "chatcmpl-web",
      object: "chat.completion",
      model: "gpt-4o-mini",
      choices: [{ index: 0, message: { role: "assistant", content: "Madrid." }, finish_reason: "stop" }],
    },
  },
  {
    id: "web-responses",
    startedAt: now - 3000,
    endedAt: now - 2900,
    protocol: "responses",
    path: "/v1/responses",
    originalRequest: responsesRequest,
    originalResponse: responsesResponse,
  },
  {
    id: "web-messages",
    startedAt: now - 2000,
    endedAt: now - 1900,
    protocol: "messages",
    path: "/v1/messages",
    originalRequest: {
      model: "claude-sonnet-4-5",
      max_tokens: 64,
      messages: [{ role: "user", content: "Capital of Italy?" }],
    },
    originalResponse: {
      id: "msg_web",
      type: "message",
      role: "assistant",
      model: "claude-sonnet-4-5",
      content: [{ type: "text", text: "Rome." }],
      stop_reason: "end_turn",
      stop_sequence: null,
      usage: { input_tokens: 10, output_tokens: 2 },
    },
  },
  {
    id: "web-unconvertible",
    startedAt: now - 1000,
    endedAt: now - 900,
    protocol: "responses",
    path: "/v1/responses",
    originalRequest: { model: "gpt-4.1", input: [{ type: "item_reference", id: "x" }] },
    originalResponse: responsesResponse,
  },
];

browserSuite("web app: calls of other protocols", () => {
  const world = browserWorld();
  let server: TestServer;
  let page: Page;

  before(async () => {
    ({ server, page } = world);
    const r = await server.api("/api/calls", { body: calls });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    await server.ctx.recorder.flush();
  });

  it("marks Responses and Messages calls in the calls list, and leaves chat calls unmarked", async () => {
    await page.goto(`${server.url}/`);
    await waitForCount(page, "[data-testid=calls-table] tbody tr", 4);
    const badgeOf = async (id: string) => {
      const badge = page.locator(`tr[data-call-id="${id}"] [data-protocol]`);
      return (await badge.count())
        ? [await badge.getAttribute("data-protocol"), await badge.innerText()]
        : null;
    };
    assert.deepEqual(await badgeOf("web-responses"), ["responses", "Responses"]);
    assert.deepEqual(await badgeOf("web-messages"), ["messages", "Messages"]);
    assert.deepEqual(await badgeOf("web-unconvertible"), ["responses", "Responses"]);
    assert.equal(await badgeOf("web-chat"), null, "chat is the default: no badge");
  });

  it("shows a Responses call's protocol, its conversation in the chat shape and, collapsed, its originals", async () => {
    await page.goto(`${server.url}/calls/web-responses`);
    const facts = page.getByTestId("facts");
    await facts.waitFor();
    assert.match(await facts.innerText(), /Protocol\s+Responses/);
    assert.match(await page.locator(".call-page").innerText(), /Capital of France\?[\s\S]*Paris\./);

    const originals = page.getByTestId("original-bodies");
    assert.match(await originals.locator("summary").innerText(), /Original \(Responses API\)/);
    const request = originals.locator("pre.original-request");
    assert.equal(await request.isVisible(), false, "collapsed until asked for");
    await originals.locator("summary").click();
    await request.waitFor({ state: "visible" });
    assert.deepEqual(JSON.parse(await request.innerText()), responsesRequest);
    assert.deepEqual(
      JSON.parse(await originals.locator("pre.original-response").innerText()),
      responsesResponse,
    );
    assert.equal(await page.getByTestId("conversion-error").count(), 0);
  });

  it("names a Messages call's original as Anthropic Messages; a chat call has no originals", async () => {
    await page.goto(`${server.url}/calls/web-messages`);
    await page.getByTestId("original-bodies").waitFor();
    assert.match(
      await page.getByTestId("original-bodies").locator("summary").innerText(),
      /Original \(Anthropic Messages\)/,
    );
    await page.goto(`${server.url}/calls/web-chat`);
    await page.getByTestId("facts").waitFor();
    assert.match(await page.getByTestId("facts").innerText(), /Protocol\s+Chat/);
    assert.equal(await page.getByTestId("original-bodies").count(), 0);
  });

  it("says why a call could not be converted, with its originals open", async () => {
    await page.goto(`${server.url}/calls/web-unconvertible`);
    const why = page.getByTestId("conversion-error");
    await why.waitFor();
    assert.match(await why.innerText(), /^Not converted to chat: .*item_reference/);
    const request = page.locator("pre.original-request");
    assert.equal(await request.isVisible(), true, "open: the originals are all there is");
    assert.deepEqual(JSON.parse(await request.innerText()), calls[3]?.originalRequest);
  });
});
