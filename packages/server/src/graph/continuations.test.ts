/**
 * A Responses call with a `previous_response_id` is linked to the call it continues as it is stored (so a reward
 * on a later turn resolves to the earlier ones), and takes the previous call's session where the proxy's memory of
 * the chain missed it: a conversation started before a restart (stood for here by a call ingested through
 * `POST /api/calls`, which the proxy never saw), or continued by an SDK that sends no session.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import OpenAI from "openai";
import { DIALECTS, fakeUpstreamSuite, storedCall, type TestServer } from "../testing/index.ts";

interface Detail {
  id: string;
  sessionId: string | null;
  protocol: string;
  annotations: Array<{ annotationKey: string; numericReward: number | null; depth: number }>;
  links: Array<{ upstreamTag: string; downstreamTag: string; metadata: Record<string, unknown> | null }>;
}

for (const dialect of DIALECTS) {
  describe(`Responses continuations (${dialect})`, async () => {
    const suite = await fakeUpstreamSuite(dialect, { inProcess: true, env: { INTERSEBD_CAPTURE: "full" } });
    const { server } = suite;

    const viaProxy = (server: TestServer, headers: Record<string, string> = {}) =>
      new OpenAI({ baseURL: `${server.url}/v1`, apiKey: "sk-test", maxRetries: 0, defaultHeaders: headers });
    // What a service reaches when intersebd is not in the way (an SDK wrapper then ingests the call itself).
    const direct = () => new OpenAI({ baseURL: suite.fake.url, apiKey: "sk-test", maxRetries: 0 });

    /** The links that end at `tag`: [upstream, downstream, metadata]. */
    async function linksInto(server: TestServer, tag: string) {
      const r = await server.api<{ upstreamLinks: Detail["links"] }>(`/api/tags/${encodeURIComponent(tag)}`);
      assert.equal(r.status, 200, JSON.stringify(r.body));
      return r.body.upstreamLinks.map((l) => [l.upstreamTag, l.downstreamTag, l.metadata]);
    }

    /** Ingests a Responses call as the SDK wrappers do: protocol and the originals. */
    async function ingest(server: TestServer, request: object, response: object, sessionId?: string) {
      const r = await server.api("/api/calls", {
        body: { protocol: "responses", originalRequest: request, originalResponse: response, sessionId },
      });
      assert.equal(r.status, 201, JSON.stringify(r.body));
      await server.ctx.recorder.flush();
    }

    it("links each turn to the one it continues, so a reward on the last turn reaches the first", async (t) => {
      const s = server(t);
      if (!s) return;
      const openai = viaProxy(s);
      const first = await openai.responses.create({ model: "gpt-4.1", input: "one" });
      const second = await openai.responses.create({
        model: "gpt-4.1",
        input: "two",
        previous_response_id: first.id,
      });
      const alone = await openai.responses.create({ model: "gpt-4.1", input: "alone" });
      assert.deepEqual(
        (await storedCall<Detail>(s, first.id)).links.map((l) => [
          l.upstreamTag,
          l.downstreamTag,
          l.metadata,
        ]),
        [[first.id, second.id, { via: "previous_response_id" }]],
        "the first turn's call links to the second",
      );
      assert.deepEqual(await linksInto(s, first.id), [], "a first turn continues nothing");
      assert.deepEqual(await linksInto(s, alone.id), []);

      const a = await s.api("/api/annotations", { body: { annotationKey: second.id, numericReward: 0.25 } });
      assert.equal(a.status, 201, JSON.stringify(a.body));
      const firstCall = await storedCall<Detail>(s, first.id);
      assert.deepEqual(
        firstCall.annotations.map((x) => [x.annotationKey, x.numericReward, x.depth]),
        [[second.id, 0.25, 1]],
        "the reward on the second turn resolves to the first",
      );
      assert.deepEqual((await storedCall<Detail>(s, alone.id)).annotations, []);
    });

    it("puts a chain the proxy's memory missed in the previous call's session, keeping one the client names", async (t) => {
      const s = server(t);
      if (!s) return;
      // A conversation stored before a restart: its turn is in the store, not in the proxy's memory.
      const request = { model: "gpt-4.1", input: "before the restart" };
      const earlier = await direct().responses.create(request);
      await ingest(s, request, earlier, "conv-before-restart");

      const openai = viaProxy(s);
      const next = await openai.responses.create({
        model: "gpt-4.1",
        input: "after",
        previous_response_id: earlier.id,
      });
      // The proxy remembers `next` under the session it guessed (earlier.id): the turn after it is mended too.
      const last = await openai.responses.create({
        model: "gpt-4.1",
        input: "last",
        previous_response_id: next.id,
      });
      assert.equal((await storedCall<Detail>(s, next.id)).sessionId, "conv-before-restart");
      assert.equal((await storedCall<Detail>(s, last.id)).sessionId, "conv-before-restart");
      const sessions = await s.api<{ data: Array<{ id: string }> }>(
        "/api/calls?sessionId=conv-before-restart&limit=10",
      );
      assert.equal(sessions.body.data.length, 3, "the conversation reads as one session");

      const named = await viaProxy(s, { "x-intersebd-session-id": "my-session" }).responses.create({
        model: "gpt-4.1",
        input: "mine",
        previous_response_id: last.id,
      });
      const namedCall = await storedCall<Detail>(s, named.id);
      assert.equal(namedCall.sessionId, "my-session", "a session the client names is kept");
      assert.deepEqual(
        await linksInto(s, named.id),
        [[last.id, named.id, { via: "previous_response_id" }]],
        "and the turn is linked all the same",
      );
      assert.deepEqual(await linksInto(s, next.id), [[earlier.id, next.id, { via: "previous_response_id" }]]);

      // An SDK that names no session: the continuation joins the previous call's.
      const sdkRequest = { model: "gpt-4.1", input: "from the sdk", previous_response_id: last.id };
      const sdk = await direct().responses.create(sdkRequest);
      await ingest(s, sdkRequest, sdk);
      const sdkCall = await storedCall<Detail>(s, sdk.id);
      assert.equal(sdkCall.protocol, "responses");
      assert.equal(sdkCall.sessionId, "conv-before-restart");
      assert.deepEqual(await linksInto(s, sdk.id), [[last.id, sdk.id, { via: "previous_response_id" }]]);
    });

    it("stores a continuation of a response it never saw, unlinked to any call and in no other session", async (t) => {
      const s = server(t);
      if (!s) return;
      const unseen = await direct().responses.create({ model: "gpt-4.1", input: "never captured" });
      const next = await viaProxy(s).responses.create({
        model: "gpt-4.1",
        input: "continues it",
        previous_response_id: unseen.id,
      });
      const call = await storedCall<Detail>(s, next.id);
      assert.equal(call.sessionId, unseen.id, "the proxy's fallback: the previous response's id");
      assert.deepEqual(
        await linksInto(s, next.id),
        [[unseen.id, next.id, { via: "previous_response_id" }]],
        "the link waits for the previous call, should it be ingested later",
      );
    });
  });
}
