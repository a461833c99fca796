/**
 * The proxy client alone, against a scripted HTTP server standing in for this server's proxy: what it sends,
 * how it waits out 429s and retries a 5xx, and what it returns.
 */
import assert from "node:assert/strict";
import http from "node:http";
import { after, before, describe, it } from "node:test";
import { type Posted, postThroughProxy, retryAfterMs } from "./proxy-client.ts";

interface Seen {
  url: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** A server answering each request with the next scripted answer (the last one again when they run out). */
function scripted() {
  const answers: Array<{ status: number; headers?: Record<string, string>; body: string }> = [];
  const seen: Seen[] = [];
  const server = http.createServer((req, res) => {
    let body = "";
    req.on("data", (d) => {
      body += d;
    });
    req.on("end", () => {
      seen.push({ url: req.url ?? "", headers: req.headers, body });
      const a = answers[Math.min(seen.length - 1, answers.length - 1)];
      res.writeHead(a?.status ?? 500, { "content-type": "application/json", ...a?.headers });
      res.end(a?.body ?? "");
    });
  });
  return { server, answers, seen };
}

describe("postThroughProxy", () => {
  const s = scripted();
  let base = "";
  before(async () => {
    await new Promise<void>((r) => s.server.listen(0, "127.0.0.1", () => r()));
    base = `http://127.0.0.1:${(s.server.address() as { port: number }).port}`;
  });
  after(() => s.server.close());

  const post = (upstream: string | undefined, waits: number[] = [], apiKey?: string): Promise<Posted> =>
    postThroughProxy(
      { baseUrl: () => base, config: { upstreams: new Map(), apiKey, linkDepth: 10 } },
      upstream,
      { model: "m", messages: [] },
      { "x-intersebd-tags": "eval:r1" },
      { signal: new AbortController().signal, onRateLimited: (ms) => waits.push(ms) },
    );
  const reset = (...answers: typeof s.answers) => {
    s.seen.splice(0);
    s.answers.splice(0, s.answers.length, ...answers);
  };

  it("should wait out a 429 for as long as retry-after says, then succeed", async () => {
    reset(
      {
        status: 429,
        headers: { "retry-after-ms": "30" },
        body: JSON.stringify({ error: { message: "slow" } }),
      },
      {
        status: 200,
        headers: { "x-intersebd-call-id": "call_x" },
        body: JSON.stringify({ object: "chat.completion", choices: [] }),
      },
    );
    const waits: number[] = [];
    const r = await post(undefined, waits, "k");
    assert.equal(r.status, 200);
    assert.equal(r.callId, "call_x");
    assert.deepEqual(r.body, { object: "chat.completion", choices: [] });
    assert.deepEqual(waits, [30]);
    assert.equal(s.seen.length, 2);
  });

  it("should send the body, the caller's headers and the server's key to the named upstream's path", async () => {
    reset({ status: 200, body: "{}" });
    await post("openrouter", [], "secret-key");
    await post("default");
    assert.deepEqual(
      s.seen.map((x) => x.url),
      ["/openrouter/v1/chat/completions", "/v1/chat/completions"],
    );
    assert.equal(s.seen[0]?.headers["x-intersebd-key"], "secret-key");
    assert.equal(s.seen[1]?.headers["x-intersebd-key"], undefined, "no key configured, none sent");
    assert.equal(s.seen[0]?.headers["x-intersebd-tags"], "eval:r1");
    assert.equal(s.seen[0]?.headers["content-type"], "application/json");
    assert.deepEqual(JSON.parse(s.seen[0]?.body ?? ""), { model: "m", messages: [] });
  });

  it("should retry a 5xx and return what comes next", async () => {
    reset({ status: 502, body: "bad gateway" }, { status: 200, body: '{"ok":true}' });
    const r = await post(undefined);
    assert.equal(s.seen.length, 2);
    assert.deepEqual([r.status, r.body], [200, { ok: true }]);
  });

  it("should return a 4xx at once, and a body that is not a JSON object as null", async () => {
    reset({ status: 400, body: "[1, 2]" });
    const r = await post(undefined);
    assert.equal(s.seen.length, 1);
    assert.deepEqual([r.status, r.body, r.callId], [400, null, null]);
  });

  it("should read retry-after in milliseconds, seconds or as a date", () => {
    assert.equal(retryAfterMs(new Headers({ "retry-after-ms": "250" })), 250);
    assert.equal(retryAfterMs(new Headers({ "retry-after": "2" })), 2000);
    const now = Date.parse("2025-05-01T00:00:00Z");
    assert.equal(retryAfterMs(new Headers({ "retry-after": "Thu, 01 May 2025 00:00:05 GMT" }), now), 5000);
    assert.equal(retryAfterMs(new Headers({})), undefined);
  });
});
