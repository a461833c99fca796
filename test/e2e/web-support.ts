/**
 * Support for the web app's browser tests and the screenshot script: Debian's Chromium driven by
 * playwright-core (never a downloaded browser), and realistic traffic sent with the official `openai` client.
 */
import fs from "node:fs";
import { after, before, describe, it } from "node:test";
import OpenAI from "openai";
import { type Browser, type BrowserContextOptions, chromium, type Page } from "playwright-core";
import {
  type FakeUpstream,
  startFakeUpstream,
  startTestServer,
  type TestServer,
} from "../../packages/server/src/testing/index.ts";
import { WEB_DIST } from "../../packages/server/src/web/static.ts";

export const CHROMIUM = process.env.INTERSEBD_CHROMIUM ?? "/usr/bin/chromium";

/** Why the browser tests cannot run here, or false when they can. Printed loudly by the caller. */
export function browserSkipReason(): string | false {
  if (!fs.existsSync(CHROMIUM)) {
    return `no Chromium at ${CHROMIUM} (apt-get install chromium, or set INTERSEBD_CHROMIUM)`;
  }
  if (!fs.existsSync(`${WEB_DIST}/index.html`)) {
    return `the web app is not built (${WEB_DIST}/index.html missing): run npm run build -w @intersebd/web`;
  }
  return false;
}

/**
 * A suite of browser tests, or, where they cannot run, one skipped test that says why (counted as skipped,
 * and printed loudly on stderr).
 */
export function browserSuite(name: string, fn: () => void): void {
  const reason = browserSkipReason();
  if (reason) {
    process.stderr.write(`\n!!! browser tests "${name}" SKIPPED: ${reason}\n\n`);
    it(name, { skip: reason }, () => {});
    return;
  }
  describe(name, fn);
}

export function launchBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
}

/** A server on a fresh SQLite store, proxying to `upstream`. */
export async function startWebServer(
  upstream: string,
  env: Record<string, string> = {},
): Promise<TestServer> {
  return startTestServer("sqlite", { upstream, env });
}

/** What a browser suite works with: a fake upstream, a server proxying to it, Chromium, and a laptop-sized page. */
export interface BrowserWorld {
  fake: FakeUpstream;
  server: TestServer;
  browser: Browser;
  /** A 1280 × 900 page. */
  page: Page;
}

/**
 * Starts a suite's world before its tests and stops it after them; call it first in the suite, so that the
 * suite's own `before` hooks find the world ready. `env` adds server variables, `context` browser-context options.
 * @example
 * const world = browserWorld();
 * let page: Page;
 * before(async () => ({ page } = world));
 */
export function browserWorld(
  opts: { env?: Record<string, string>; context?: BrowserContextOptions } = {},
): BrowserWorld {
  const world = {} as BrowserWorld;
  before(async () => {
    world.fake = await startFakeUpstream({ keepRequests: false });
    world.server = await startWebServer(world.fake.url, opts.env);
    world.browser = await launchBrowser();
    const laptop = await world.browser.newContext({
      viewport: { width: 1280, height: 900 },
      ...opts.context,
    });
    world.page = await laptop.newPage();
  });
  after(async () => {
    await world.browser?.close();
    await world.server?.stop();
    await world.fake?.close();
  });
  return world;
}

/** Waits until exactly `n` elements match `selector`; fails naming how many there were. */
export async function waitForCount(page: Page, selector: string, n: number, timeout = 10_000): Promise<void> {
  try {
    await page.waitForFunction(
      ([sel, want]) => document.querySelectorAll(sel as string).length === want,
      [selector, n] as const,
      { timeout },
    );
  } catch {
    const got = await page.locator(selector).count();
    throw new Error(`expected ${n} × ${selector} on ${page.url()}, found ${got}`);
  }
}

export function openaiFor(server: TestServer, headers: Record<string, string> = {}): OpenAI {
  return new OpenAI({
    baseURL: `${server.url}/v1`,
    apiKey: "sk-test-not-stored",
    maxRetries: 0,
    defaultHeaders: headers,
  });
}

const weatherTool = {
  type: "function" as const,
  function: {
    name: "get_weather",
    description: "Current weather in a city",
    parameters: {
      type: "object",
      properties: { city: { type: "string" }, unit: { type: "string", enum: ["c", "f"] } },
      required: ["city"],
    },
  },
};

export interface Seeded {
  /** A plain answer (gpt-4o-mini), linked to the service's reply `reply-1` with metadata, judged by a user. */
  plain: { id: string; completionId: string };
  /** A streamed answer that is a tool call (gpt-4o), in session `sess-weather`. */
  tool: { id: string; completionId: string };
  /** The follow-up in the same session with the tool's result, streamed. */
  followUp: { id: string; completionId: string };
  /** A JSON answer (response_format json_object). */
  json: { id: string; completionId: string };
  /** The same question as `plain`, answered by another model, for comparisons. */
  other: { id: string; completionId: string };
  /** An upstream error (429). */
  failed: { id: string };
}

/** Sends a small, varied set of calls through the proxy, links and annotates some, and waits until stored. */
export async function seedTraffic(server: TestServer): Promise<Seeded> {
  const support = openaiFor(server, {
    "x-intersebd-session-id": "sess-support",
    "x-intersebd-user-id": "user-42",
    "x-intersebd-tags": "support,v2",
  });
  const plainRes = await support.chat.completions
    .create({
      model: "gpt-4o-mini",
      temperature: 0.2,
      messages: [
        { role: "system", content: "You are a helpful support agent for Acme." },
        { role: "user", content: "How do I reset my password?" },
      ],
    })
    .withResponse();
  const plain = {
    id: plainRes.response.headers.get("x-intersebd-call-id") ?? "",
    completionId: plainRes.data.id,
  };

  const otherRes = await openaiFor(server)
    .chat.completions.create({
      model: "gpt-4.1-nano",
      messages: [
        { role: "system", content: "You are a helpful support agent for Acme." },
        { role: "user", content: "How do I reset my password?" },
      ],
    })
    .withResponse();
  const other = {
    id: otherRes.response.headers.get("x-intersebd-call-id") ?? "",
    completionId: otherRes.data.id,
  };

  const weather = openaiFor(server, {
    "x-intersebd-session-id": "sess-weather",
    "x-intersebd-user-id": "user-7",
  });
  const messages: OpenAI.Chat.ChatCompletionMessageParam[] = [
    { role: "system", content: "Answer with the tools you have." },
    { role: "user", content: "What is the weather in Paris today?" },
  ];
  const stream = await weather.chat.completions
    .create({
      model: "gpt-4o",
      stream: true,
      stream_options: { include_usage: true },
      tools: [weatherTool],
      messages,
    })
    .withResponse();
  let toolCompletionId = "";
  let args = "";
  let toolCallId = "";
  for await (const chunk of stream.data) {
    toolCompletionId ||= chunk.id;
    const tc = chunk.choices[0]?.delta.tool_calls?.[0];
    if (tc?.id) toolCallId = tc.id;
    args += tc?.function?.arguments ?? "";
  }
  const tool = {
    id: stream.response.headers.get("x-intersebd-call-id") ?? "",
    completionId: toolCompletionId,
  };

  messages.push(
    {
      role: "assistant",
      content: null,
      tool_calls: [{ id: toolCallId, type: "function", function: { name: "get_weather", arguments: args } }],
    },
    { role: "tool", tool_call_id: toolCallId, content: JSON.stringify({ temperature: 18, sky: "cloudy" }) },
    { role: "user", content: "So do I need an umbrella?" },
  );
  const follow = await weather.chat.completions
    .create({ model: "gpt-4o", stream: true, tools: [weatherTool], messages })
    .withResponse();
  let followId = "";
  for await (const chunk of follow.data) followId ||= chunk.id;
  const followUp = { id: follow.response.headers.get("x-intersebd-call-id") ?? "", completionId: followId };

  const jsonRes = await openaiFor(server, { "x-intersebd-user-id": "user-42" })
    .chat.completions.create({
      model: "gpt-4o-mini",
      response_format: { type: "json_object" },
      messages: [{ role: "user", content: "Extract the order number from: order 1234 arrived broken" }],
    })
    .withResponse();
  const json = {
    id: jsonRes.response.headers.get("x-intersebd-call-id") ?? "",
    completionId: jsonRes.data.id,
  };

  let failedId = "";
  try {
    await openaiFor(server, { "x-fake-status": "429" }).chat.completions.create({
      model: "gpt-4o-mini",
      messages: [{ role: "user", content: "This one is rate limited" }],
    });
  } catch (err) {
    failedId = (err as { headers?: Headers }).headers?.get?.("x-intersebd-call-id") ?? "";
  }

  await server.ctx.recorder.flush();

  // The service links the call to its own reply, and an end user gives the reply a thumbs up.
  const link = await server.api("/api/links", {
    body: {
      upstreamTag: plain.completionId,
      downstreamTag: "reply-1",
      metadata: { channel: "support-chat", ticket: "T-1001" },
    },
  });
  if (link.status !== 201) throw new Error(`link failed: ${link.status} ${JSON.stringify(link.body)}`);
  const ann = await server.api("/api/annotations", {
    body: {
      annotationKey: "reply-1",
      numericReward: 1,
      source: "user",
      annotatorId: "user-42",
      comment: "solved it",
    },
  });
  if (ann.status !== 201) throw new Error(`annotation failed: ${ann.status} ${JSON.stringify(ann.body)}`);

  return { plain, other, tool, followUp, json, failed: { id: failedId } };
}
