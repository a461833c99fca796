/**
 * The proxy end to end: the official `openai` client → intersebd → a fake OpenAI-compatible upstream.
 * Every case runs on SQLite and PostgreSQL.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import OpenAI from "openai";
import {
  DIALECTS,
  type FakeUpstream,
  postgresAvailable,
  RECORDED_STREAMS_DIR,
  startFakeUpstream,
  startTestServer,
  type TestServer,
} from "../../packages/server/src/testing/index.ts";

const SECRET = "sk-proj-verysecretkey1234567890abcdef";

// biome-ignore lint/suspicious/noExplicitAny: response bodies are read loosely in assertions
type CallBody = Record<string, any>;

for (const dialect of DIALECTS) {
  describe(`proxy on ${dialect}`, async () => {
    const skip = dialect === "postgres" && !(await postgresAvailable()) ? "PostgreSQL unreachable" : false;
    let fake: FakeUpstream;
    let server: TestServer;
    let client: OpenAI;

    /** Waits for the write-behind queue, then reads a call by id or completion id. */
    async function stored(id: string): Promise<CallBody> {
      await server.ctx.recorder.flush();
      const r = await server.api<CallBody>(`/api/calls/${encodeURIComponent(id)}`);
      assert.equal(r.status, 200, `call ${id} should be stored`);
      return r.body;
    }

    before(async () => {
      if (skip) return;
      fake = await startFakeUpstream({ fixturesDir: RECORDED_STREAMS_DIR });
      const named = await startFakeUpstream({ fixturesDir: RECORDED_STREAMS_DIR });
      server = await startTestServer(dialect, {
        upstream: fake.url,
        env: {
          INTERSEBD_UPSTREAMS: `other=${named.url}`,
          INTERSEBD_UPSTREAM_KEY_OTHER: "sk-injected-key-for-other",
          INTERSEBD_UPSTREAM_TIMEOUT_MS: "300",
          INTERSEBD_MAX_BODY_BYTES: "200000",
        },
      });
      (server as unknown as { named: FakeUpstream }).named = named;
      client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: SECRET, maxRetries: 0 });
    });
    after(async () => {
      if (skip) return;
      await server.stop();
      await fake.close();
      await (server as unknown as { named: FakeUpstream }).named.close();
    });

    it("returns the upstream's answer unchanged and stores the call with usage and cost", {
      skip,
    }, async () => {
      const r = await client.chat.completions
        .create({
          model: "gpt-4o-mini",
          messages: [{ role: "user", content: "hello" }],
          user: "end-user-7",
          metadata: { feature: "titles" },
        })
        .withResponse();
      assert.equal(r.data.choices[0]?.message.content, "echo: hello");
      const callId = r.response.headers.get("x-intersebd-call-id");
      assert.match(callId ?? "", /^call_/);
      assert.equal(
        r.response.headers.get("x-request-id"),
        `req_${r.data.id}`,
        "upstream headers pass through",
      );
      const call = await stored(r.data.id);
      assert.equal(call.id, callId);
      assert.equal(call.completionId, r.data.id);
      assert.equal(call.outcome, "ok");
      assert.equal(call.status, 200);
      assert.equal(call.requestedModel, "gpt-4o-mini");
      assert.equal(call.servedModel, "gpt-4o-mini");
      assert.equal(call.stream, false);
      assert.deepEqual(call.response, r.data, "the stored response is the upstream's body");
      assert.equal(call.usage.promptTokens, r.data.usage?.prompt_tokens);
      const expectedCost =
        ((r.data.usage?.prompt_tokens ?? 0) * 0.15 + (r.data.usage?.completion_tokens ?? 0) * 0.6) / 1e6;
      assert.ok(Math.abs(call.costUsd - expectedCost) < 1e-12, `cost ${call.costUsd} vs ${expectedCost}`);
      assert.equal(call.userId, "end-user-7", "the body's user field is the call's user");
      assert.equal(call.metadata.feature, "titles", "the body's metadata is kept");
    });

    it("reads x-intersebd headers, never forwards them, and never stores the Authorization header", {
      skip,
    }, async () => {
      const r = await client.chat.completions.create(
        { model: "unknown-model-x", messages: [{ role: "user", content: "tagged" }] },
        {
          headers: {
            "x-intersebd-session-id": "sess-1",
            "x-intersebd-user-id": "u-1",
            "x-intersebd-tags": "exp-a, variant-b",
            "x-intersebd-metadata": JSON.stringify({ promptVersion: "v3" }),
          },
        },
      );
      const seen = fake.requests.at(-1);
      assert.ok(seen);
      assert.equal(seen.headers.authorization, `Bearer ${SECRET}`, "Authorization is forwarded");
      assert.ok(
        !Object.keys(seen.headers).some((h) => h.startsWith("x-intersebd-")),
        "our headers are dropped",
      );
      const call = await stored(r.id);
      assert.equal(call.sessionId, "sess-1");
      assert.equal(call.userId, "u-1");
      assert.deepEqual(call.tags, ["exp-a", "variant-b"]);
      assert.equal(call.metadata.promptVersion, "v3");
      assert.equal(call.costUsd, null, "unknown model: no cost, never a guess");
      const byTag = await server.api<{ data: CallBody[] }>("/api/calls?tag=variant-b");
      assert.deepEqual(
        byTag.body.data.map((c) => c.completionId),
        [r.id],
      );
      await server.ctx.recorder.flush();
      const rows = await server.ctx.store.db.selectFrom("calls").selectAll().execute();
      assert.ok(rows.length > 0);
      assert.ok(!JSON.stringify(rows).includes(SECRET), "the API key appears nowhere in the store");
    });

    it("streams chunk by chunk and stores the reassembled completion with usage", { skip }, async () => {
      const stream = await client.chat.completions.create({
        model: "gpt-4o",
        stream: true,
        stream_options: { include_usage: true },
        n: 2,
        messages: [{ role: "user", content: "one two three" }],
      });
      let chunks = 0;
      let text = "";
      let id = "";
      for await (const chunk of stream) {
        chunks++;
        id = chunk.id;
        if (chunk.choices[0]?.index === 0) text += chunk.choices[0]?.delta?.content ?? "";
      }
      assert.ok(chunks > 5, "the client saw separate chunks");
      assert.equal(text, "echo: one two three");
      const call = await stored(id);
      assert.equal(call.stream, true);
      assert.equal(call.response.object, "chat.completion");
      assert.equal(call.response.choices.length, 2, "n = 2 gives two choices");
      assert.equal(call.response.choices[1].message.content, "echo: one two three");
      assert.equal(call.response.choices[0].finish_reason, "stop");
      assert.ok(call.usage.totalTokens > 0, "usage from the final chunk");
      assert.ok(typeof call.ttftMs === "number" && call.ttftMs >= 0);
    });

    it("stores tool calls with their arguments concatenated, streamed or not", { skip }, async () => {
      const tools = [
        {
          type: "function" as const,
          function: {
            name: "get_weather",
            parameters: { type: "object", properties: { city: { type: "string" } } },
          },
        },
      ];
      const messages = [{ role: "user" as const, content: "weather in Paris?" }];
      const plain = await client.chat.completions.create({ model: "gpt-4.1", tools, messages });
      const streamed = await client.chat.completions
        .stream({ model: "gpt-4.1", tools, messages })
        .finalChatCompletion();
      for (const r of [plain, streamed]) {
        const call = await stored(r.id);
        const tc = call.response.choices[0].message.tool_calls[0];
        assert.equal(tc.function.name, "get_weather");
        assert.deepEqual(JSON.parse(tc.function.arguments), { city: "Paris", unit: "c" });
        assert.equal(call.response.choices[0].finish_reason, "tool_calls");
      }
    });

    it("replays every recorded OpenAI stream byte for byte and stores what the openai client assembles", {
      skip,
    }, async () => {
      const files = fs.readdirSync(RECORDED_STREAMS_DIR).filter((f) => f.endsWith(".sse"));
      assert.ok(files.length >= 12);
      for (const file of files) {
        const name = file.replace(/\.sse$/, "");
        const raw = await fetch(`${server.url}/v1/chat/completions`, {
          method: "POST",
          headers: { "content-type": "application/json", "x-fake-fixture": name },
          body: JSON.stringify({
            model: "gpt-4o",
            stream: true,
            messages: [{ role: "user", content: name }],
          }),
        });
        const bytes = Buffer.from(await raw.arrayBuffer());
        assert.ok(
          bytes.equals(fs.readFileSync(path.join(RECORDED_STREAMS_DIR, file))),
          `${file}: bytes unchanged through the proxy`,
        );

        const expected = await client.chat.completions
          .stream(
            { model: "gpt-4o", messages: [{ role: "user", content: name }] },
            { headers: { "x-fake-fixture": name } },
          )
          .finalChatCompletion();
        const call = await stored(raw.headers.get("x-intersebd-call-id") as string);
        const got = call.response;
        assert.equal(got.id, expected.id, file);
        assert.equal(got.model, expected.model, file);
        assert.deepEqual(got.usage, expected.usage, `${file}: usage`);
        assert.equal(got.choices.length, expected.choices.length, `${file}: choices`);
        for (const [i, want] of expected.choices.entries()) {
          const have = got.choices[i];
          assert.equal(have.finish_reason, want.finish_reason, `${file}: finish_reason`);
          assert.equal(have.message.content ?? null, want.message.content ?? null, `${file}: content`);
          assert.equal(have.message.refusal ?? null, want.message.refusal ?? null, `${file}: refusal`);
          assert.deepEqual(
            (have.message.tool_calls ?? []).map((t: CallBody) => [
              t.id,
              t.function.name,
              t.function.arguments,
            ]),
            (want.message.tool_calls ?? []).map((t) => [
              t.id,
              t.type === "function" ? t.function.name : "",
              t.type === "function" ? t.function.arguments : "",
            ]),
            `${file}: tool calls`,
          );
          assert.deepEqual(
            have.logprobs?.content ?? null,
            want.logprobs?.content ?? null,
            `${file}: logprobs`,
          );
        }
      }
    });

    it("passes upstream errors through with status, retry-after and body, and records the outcome", {
      skip,
    }, async () => {
      const res = await fetch(`${server.url}/v1/chat/completions`, {
        method: "POST",
        headers: { "content-type": "application/json", "x-fake-status": "429", "x-fake-retry-after": "7" },
        body: JSON.stringify({ model: "gpt-4o", messages: [{ role: "user", content: "limited" }] }),
      });
      assert.equal(res.status, 429);
      assert.equal(res.headers.get("retry-after"), "7");
      const body = (await res.json()) as CallBody;
      assert.equal(body.error.message, "fake upstream error 429");
      const call = await stored(res.headers.get("x-intersebd-call-id") as string);
      assert.equal(call.outcome, "upstream_error");
      assert.equal(call.status, 429);
      await assert.rejects(
        client.chat.completions.create(
          { model: "gpt-4o", messages: [{ role: "user", content: "x" }] },
          { headers: { "x-fake-status": "500" } },
        ),
        (err: unknown) => err instanceof OpenAI.InternalServerError,
      );
    });

    it("answers 502 when the upstream is unreachable and 504 when it is too slow, recording each", {
      skip,
    }, async () => {
      const down = await startTestServer(dialect, { upstream: "http://127.0.0.1:9/v1" });
      try {
        const r = await down.api<CallBody>("/v1/chat/completions", {
          body: { model: "m", messages: [{ role: "user", content: "x" }] },
        });
        assert.equal(r.status, 502);
        assert.match(r.body.error.message, /unreachable/);
        await down.ctx.recorder.flush();
        const list = await down.api<{ data: CallBody[] }>("/api/calls?outcome=network_error");
        assert.equal(list.body.data.length, 1);
      } finally {
        await down.stop();
      }
      const slow = await server.api<CallBody>("/v1/chat/completions", {
        body: { model: "m", messages: [{ role: "user", content: "slow" }] },
        headers: { "x-fake-delay-ms": "1500" },
      });
      assert.equal(slow.status, 504);
      assert.match(slow.body.error.message, /no response within 300 ms/);
      const call = await stored(slow.headers.get("x-intersebd-call-id") as string);
      assert.equal(call.outcome, "timeout");
    });

    it("cancels the upstream request when the client disconnects mid-stream, keeping what arrived", {
      skip,
    }, async () => {
      const abortedBefore = fake.aborted;
      const controller = new AbortController();
      const res = await fetch(`${server.url}/v1/chat/completions`, {
        method: "POST",
        signal: controller.signal,
        headers: { "content-type": "application/json", "x-fake-chunk-delay-ms": "30" },
        body: JSON.stringify({
          model: "gpt-4o",
          stream: true,
          messages: [{ role: "user", content: "a b c d e f g h i j k l m n o p" }],
        }),
      });
      const callId = res.headers.get("x-intersebd-call-id") as string;
      const reader = res.body?.getReader();
      let seen = "";
      while (!seen.includes("echo")) seen += new TextDecoder().decode((await reader?.read())?.value);
      controller.abort();
      await reader?.cancel().catch(() => {});
      const { eventually } = await import("../../packages/server/src/testing/index.ts");
      await eventually(() => fake.aborted > abortedBefore, 5000, "the upstream request to be cancelled");
      const call = await eventually(async () => {
        await server.ctx.recorder.flush();
        const r = await server.api<CallBody>(`/api/calls/${callId}`);
        return r.status === 200 ? r.body : undefined;
      });
      assert.ok(call);
      assert.equal(call.outcome, "client_aborted");
      assert.ok(call.response.choices[0].message.content.startsWith("echo:"), "the partial answer is kept");
    });

    it("forwards other /v1 paths without storing them, and routes named upstreams with their own key", {
      skip,
    }, async () => {
      const before = (await server.api<{ data: CallBody[] }>("/api/calls?limit=1000")).body.data.length;
      const models = await client.models.list();
      assert.equal(models.data[0]?.id, "fake-model");
      const emb = await client.embeddings.create({ model: "e", input: "x" });
      assert.equal(emb.data[0]?.embedding.length, 3);
      await server.ctx.recorder.flush();
      const afterCount = (await server.api<{ data: CallBody[] }>("/api/calls?limit=1000")).body.data.length;
      assert.equal(afterCount, before, "only chat completions are stored");

      const named = (server as unknown as { named: FakeUpstream }).named;
      const noKey = new OpenAI({ baseURL: `${server.url}/other/v1`, apiKey: "placeholder", maxRetries: 0 });
      const r = await fetch(`${server.url}/other/v1/chat/completions?x=1`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ model: "m", messages: [{ role: "user", content: "named" }] }),
      });
      assert.equal(r.status, 200);
      assert.equal(
        named.requests.at(-1)?.headers.authorization,
        "Bearer sk-injected-key-for-other",
        "key injected when the client sends none",
      );
      assert.equal(named.requests.at(-1)?.url, "/v1/chat/completions?x=1", "path and query kept");
      await noKey.chat.completions.create({ model: "m", messages: [{ role: "user", content: "own key" }] });
      assert.equal(
        named.requests.at(-1)?.headers.authorization,
        "Bearer placeholder",
        "the client's own key wins",
      );
      const call = await stored(r.headers.get("x-intersebd-call-id") as string);
      assert.equal(call.upstream, "other");

      const metrics = await fetch(`${server.url}/metrics`).then((m) => m.text());
      assert.match(
        metrics,
        /intersebd_proxied_requests_total\{upstream="default",kind="other",status="200"\} [1-9]/,
      );
      assert.match(metrics, /intersebd_upstream_latency_seconds_bucket/);
      assert.match(metrics, /intersebd_queue_depth/);
      assert.match(metrics, /intersebd_tokens_total\{/);
    });

    it("rejects bad proxy input with a clear 4xx and keeps serving", { skip }, async () => {
      const unknown = await server.api<CallBody>("/nope/v1/chat/completions", { body: { model: "m" } });
      assert.equal(unknown.status, 404);
      assert.match(unknown.body.error.message, /unknown upstream "nope".*\/other\/v1/);
      const badMeta = await server.api<CallBody>("/v1/chat/completions", {
        body: { model: "m", messages: [] },
        headers: { "x-intersebd-metadata": "{not json" },
      });
      assert.equal(badMeta.status, 400);
      assert.equal(badMeta.body.error.field, "x-intersebd-metadata");
      const arrayMeta = await server.api<CallBody>("/v1/chat/completions", {
        body: { model: "m", messages: [] },
        headers: { "x-intersebd-metadata": "[1,2]" },
      });
      assert.equal(arrayMeta.status, 400);
      const huge = await server.api<CallBody>("/v1/chat/completions", {
        body: { model: "m", messages: [{ role: "user", content: "x".repeat(300_000) }] },
      });
      assert.equal(huge.status, 413);
      assert.match(huge.body.error.message, /INTERSEBD_MAX_BODY_BYTES/);
      const malformed = await server.api<CallBody>("/v1/chat/completions", { body: "{oops" });
      assert.equal(malformed.status, 400, "the upstream's own answer to malformed JSON passes through");
      const ok = await client.chat.completions.create({
        model: "m",
        messages: [{ role: "user", content: "still alive" }],
      });
      assert.equal(ok.choices[0]?.message.content, "echo: still alive");
    });
  });
}
