/**
 * Rate limits in process, through the proxy's socket: requests per minute per key, per user id and per upstream,
 * tokens per minute charged from the upstream's usage (refused at the next request), the 429 as OpenAI answers it
 * (retry-after, x-ratelimit-*, an error body of type requests or tokens), and the official client retrying it.
 */
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { describe, it } from "node:test";
import OpenAI from "openai";
import { DIALECTS, fakeUpstreamSuite, type TestServer } from "../testing/index.ts";

const RULES = "key:3rpm, key:100tpm, user:2rpm, upstream:named=2rpm, upstream:fast=1rps";

interface Sent {
  status: number;
  headers: Headers;
  body: { error?: { message: string; type: string; code: string; param: null } };
}

async function chat(
  s: TestServer,
  opts: { key?: string; user?: string; path?: string; content?: string } = {},
): Promise<Sent> {
  const headers: Record<string, string> = { "content-type": "application/json" };
  headers["x-intersebd-key"] = opts.key ?? randomUUID();
  if (opts.user) headers["x-intersebd-user-id"] = opts.user;
  const res = await fetch(`${s.url}${opts.path ?? "/v1"}/chat/completions`, {
    method: "POST",
    headers,
    body: JSON.stringify({ model: "m", messages: [{ role: "user", content: opts.content ?? "hi" }] }),
  });
  return { status: res.status, headers: res.headers, body: (await res.json()) as Sent["body"] };
}

for (const dialect of DIALECTS) {
  describe(`rate limits in process (${dialect})`, async () => {
    const suite = await fakeUpstreamSuite(dialect, {
      env: (fake) => ({ INTERSEBD_RATE_LIMITS: RULES, INTERSEBD_UPSTREAMS: `named=${fake},fast=${fake}` }),
    });
    const { server } = suite;

    it("refuses a key's 4th request in a minute with OpenAI's 429, and never forwards it", async (t) => {
      const srv = server(t);
      if (!srv) return;
      const key = randomUUID();
      for (let i = 0; i < 3; i++) assert.equal((await chat(srv, { key })).status, 200, `request ${i + 1}`);
      const seen = suite.fake.requests.length;
      const refused = await chat(srv, { key });
      assert.equal(refused.status, 429);
      assert.equal(suite.fake.requests.length, seen, "a refused request never reaches the upstream");
      assert.deepEqual(
        { type: refused.body.error?.type, code: refused.body.error?.code, param: refused.body.error?.param },
        { type: "requests", code: "rate_limit_exceeded", param: null },
      );
      assert.match(refused.body.error?.message ?? "", /this API key on requests per minute \(RPM\): Limit 3/);
      // 3 per minute refill one every 20 s: the wait is at most that.
      const retryAfter = Number(refused.headers.get("retry-after"));
      assert.ok(retryAfter >= 1 && retryAfter <= 20, `retry-after ${retryAfter}`);
      const retryMs = Number(refused.headers.get("retry-after-ms"));
      assert.ok(retryMs > 0 && retryMs <= 20_000, `retry-after-ms ${retryMs}`);
      assert.equal(refused.headers.get("x-ratelimit-limit-requests"), "3");
      assert.equal(refused.headers.get("x-ratelimit-remaining-requests"), "0");
      assert.match(refused.headers.get("x-ratelimit-reset-requests") ?? "", /^(\d+m)?[\d.]+s$/);
      assert.equal(refused.headers.get("x-ratelimit-limit-tokens"), "100");
      // Another key has its own budget.
      assert.equal((await chat(srv)).status, 200);
    });

    it("limits each user id on its own, never naming it, and leaves calls without one to the other rules", async (t) => {
      const srv = server(t);
      if (!srv) return;
      const user = `user-${randomUUID()}`;
      assert.equal((await chat(srv, { user })).status, 200);
      assert.equal((await chat(srv, { user })).status, 200);
      const refused = await chat(srv, { user });
      assert.equal(refused.status, 429);
      assert.match(refused.body.error?.message ?? "", /this user id on requests per minute/);
      assert.ok(!JSON.stringify(refused.body).includes(user), "the answer does not carry the user id");
      assert.equal((await chat(srv, { user: `other-${randomUUID()}` })).status, 200);
      assert.equal((await chat(srv)).status, 200);
    });

    it("limits an upstream across keys, and only that upstream", async (t) => {
      const srv = server(t);
      if (!srv) return;
      assert.equal((await chat(srv, { path: "/named/v1" })).status, 200);
      assert.equal((await chat(srv, { path: "/named/v1" })).status, 200);
      const refused = await chat(srv, { path: "/named/v1" });
      assert.equal(refused.status, 429);
      assert.match(refused.body.error?.message ?? "", /upstream "named" on requests per minute/);
      assert.equal((await chat(srv, { path: "/v1" })).status, 200);
    });

    it("charges the upstream's usage to the key and refuses its next request once over the token budget", async (t) => {
      const srv = server(t);
      if (!srv) return;
      const key = randomUUID();
      // The fake upstream counts a token per 4 characters of the messages and of its echo: about 160 of 100.
      const first = await chat(srv, { key, content: "x".repeat(300) });
      assert.equal(first.status, 200);
      const used = (first.body as { usage?: { total_tokens: number } }).usage?.total_tokens ?? 0;
      assert.ok(used > 100, `the call used ${used} tokens`);
      const refused = await chat(srv, { key });
      assert.equal(refused.status, 429);
      assert.equal(refused.body.error?.type, "tokens");
      assert.match(
        refused.body.error?.message ?? "",
        new RegExp(`tokens per minute \\(TPM\\): Limit 100, Used ${used}\\.`),
      );
      assert.equal(refused.headers.get("x-ratelimit-remaining-tokens"), "0");
      // Overdrawn by used - 100 tokens at 100 a minute: that long to wait (less what refilled meanwhile).
      const owed = ((used - 100) * 60_000) / 100;
      const retryMs = Number(refused.headers.get("retry-after-ms"));
      assert.ok(retryMs <= owed + 1 && retryMs > owed - 5000, `retry-after-ms ${retryMs}, owed ${owed}`);
      assert.equal(refused.headers.get("retry-after"), String(Math.ceil(retryMs / 1000)));
    });

    it("is retried by the official openai client after the window it names", async (t) => {
      const srv = server(t);
      if (!srv) return;
      const statuses: number[] = [];
      const client = new OpenAI({
        apiKey: "sk-test",
        baseURL: `${srv.url}/fast/v1`,
        maxRetries: 2,
        defaultHeaders: { "x-intersebd-key": randomUUID() },
        fetch: async (url, init) => {
          const res = await fetch(url, init);
          statuses.push(res.status);
          return res;
        },
      });
      const ask = () =>
        client.chat.completions.create({ model: "m", messages: [{ role: "user", content: "hi" }] });
      const a = await ask();
      const t0 = Date.now();
      const b = await ask();
      assert.match(a.choices[0]?.message.content ?? "", /echo: hi/);
      assert.match(b.choices[0]?.message.content ?? "", /echo: hi/);
      assert.deepEqual(statuses, [200, 429, 200], "the second call was refused once, then retried");
      // It waited for the bucket (one a second) rather than giving up: not a timing assertion, a lower bound.
      assert.ok(Date.now() - t0 >= 500, "the client waited before retrying");
    });
  });
}
