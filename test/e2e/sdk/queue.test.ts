/**
 * The SDK's queue against a real running server (SQLite): batching, the timer, `enabled`, drop-oldest,
 * validation errors reaching `onError`, idempotent annotation ids, the API key. Requests are counted by a
 * `fetch` wrapper that still calls the real server.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { eventually, startTestServer, type TestServer } from "@intersebd/server/testing";
import { Intersebd } from "intersebd";
import OpenAI from "openai";
import { type Body, countingFetch, errorSink, uniqueTag } from "./helpers.ts";

describe("Intersebd queue against a real server", () => {
  let server: TestServer;

  const tagDetail = async (tag: string) => {
    const r = await server.api<Body>(`/api/tags/${encodeURIComponent(tag)}`);
    assert.equal(r.status, 200);
    return r.body;
  };

  /** A queue on the test server whose requests are counted and whose errors are kept; `options` over that. */
  const counted = (options: Partial<ConstructorParameters<typeof Intersebd>[0]> = {}) => {
    const counter = countingFetch();
    const { onError, errors } = errorSink();
    const sdk = new Intersebd({ baseURL: server.url, fetch: counter.fetch, onError, ...options });
    return { counter, errors, sdk };
  };

  before(async () => {
    server = await startTestServer("sqlite");
  });
  after(async () => {
    await server.stop();
  });

  it("sends many events in a few batched requests, one JSON array per endpoint", async () => {
    const { counter, errors, sdk } = counted({ flushIntervalMs: 60_000, maxBatchSize: 200 });
    const hub = uniqueTag("hub");
    for (let i = 0; i < 300; i++) {
      sdk.link({ upstreamTag: hub, downstreamTag: `${hub}-leaf-${i}`, metadata: { i } });
      sdk.annotate({ annotationKey: hub, numericReward: i % 2, data: { i } });
    }
    await sdk.flush();

    assert.deepEqual(errors, []);
    assert.deepEqual(sdk.stats(), { queued: 0, sent: 600, dropped: 0, failed: 0 });
    assert.ok(counter.requests.length <= 6, `600 events in ${counter.requests.length} requests`);
    assert.ok(counter.requests.every((r) => Array.isArray(r.body) && r.body.length <= 200));
    const perPath = (p: string) =>
      counter.requests.filter((r) => r.path === p).reduce((n, r) => n + r.body.length, 0);
    assert.equal(perPath("/api/links"), 300);
    assert.equal(perPath("/api/annotations"), 300);

    const detail = await tagDetail(hub);
    assert.equal(detail.downstreamLinks.length, 300);
    assert.equal(detail.annotations.length, 300);
    assert.deepEqual(
      detail.downstreamLinks.find((l: Body) => l.downstreamTag === `${hub}-leaf-7`)?.metadata,
      { i: 7 },
    );
  });

  it("flushes on its own timer without an explicit flush()", async () => {
    const counter = countingFetch();
    const sdk = new Intersebd({ baseURL: server.url, fetch: counter.fetch, flushIntervalMs: 20 });
    const tag = uniqueTag("timer");
    sdk.link({ upstreamTag: tag, downstreamTag: `${tag}-down` });
    assert.equal(counter.requests.length, 0, "link() itself does not send");
    await eventually(
      async () => (await tagDetail(tag)).downstreamLinks.length === 1,
      5000,
      "the timed flush",
    );
    assert.equal(counter.requests.length, 1);
    assert.deepEqual(sdk.stats(), { queued: 0, sent: 1, dropped: 0, failed: 0 });
  });

  it("with enabled = false sends nothing and does not even read its input", async () => {
    const { counter, errors, sdk } = counted({ enabled: false });
    assert.equal(sdk.enabled, false);
    let reads = 0;
    // Every field link(), annotate() and notify() could read is a getter that counts the read.
    const fields = [
      "upstreamTag",
      "downstreamTag",
      "annotationKey",
      "completionId",
      "sendNotificationTo",
    ] as const;
    const trap = Object.defineProperties(
      {},
      Object.fromEntries(
        fields.map((f) => [
          f,
          {
            enumerable: true,
            get: () => {
              reads++;
              return f;
            },
          },
        ]),
      ),
    ) as Record<(typeof fields)[number], string>;
    sdk.link(trap);
    sdk.annotate(trap);
    sdk.notify(trap);
    sdk.link(null as never);
    const openai = sdk.wrapOpenAI(
      new OpenAI({ baseURL: `${server.url}/v1`, apiKey: "sk-test", maxRetries: 0 }),
    );
    await sdk.flush();
    assert.equal(reads, 0, "a disabled call returns before touching its input");
    assert.equal(counter.requests.length, 0);
    assert.deepEqual(errors, []);
    assert.deepEqual(sdk.stats(), { queued: 0, sent: 0, dropped: 0, failed: 0 });
    assert.equal(typeof openai.chat.completions.create, "function");

    sdk.enabled = true;
    const tag = uniqueTag("enabled");
    sdk.link({ upstreamTag: tag, downstreamTag: `${tag}-down` });
    await sdk.flush();
    assert.equal(counter.requests.length, 1, "turned back on, it sends");
    assert.equal((await tagDetail(tag)).downstreamLinks.length, 1);
  });

  it("drops the oldest events when the queue is full, counts them and says so", async () => {
    const { errors, sdk } = counted({ flushIntervalMs: 60_000, maxQueueSize: 5, maxBatchSize: 100 });
    const hub = uniqueTag("full");
    for (let i = 0; i < 8; i++) sdk.link({ upstreamTag: hub, downstreamTag: `${hub}-${i}` });
    assert.deepEqual(sdk.stats(), { queued: 5, sent: 0, dropped: 3, failed: 0 });
    await sdk.flush();
    assert.deepEqual(sdk.stats(), { queued: 0, sent: 5, dropped: 3, failed: 0 });
    const kept = (await tagDetail(hub)).downstreamLinks.map((l: Body) => l.downstreamTag).sort();
    assert.deepEqual(
      kept,
      [3, 4, 5, 6, 7].map((i) => `${hub}-${i}`),
    );
    assert.equal(errors.length, 1);
    assert.equal(errors[0]?.code, "queue_full");
    assert.equal(errors[0]?.count, 3);
  });

  it("gives onError the server's validation error and still stores the rest of the batch", async () => {
    const { counter, errors, sdk } = counted({ flushIntervalMs: 60_000 });
    const key = uniqueTag("validation");
    sdk.annotate({ annotationKey: key, numericReward: 1, comment: "first" });
    sdk.annotate({ annotationKey: key, numericReward: 0, comment: "x".repeat(100_001) });
    sdk.annotate({ annotationKey: key, numericReward: 1, bogus: true } as never);
    sdk.annotate({ annotationKey: key, numericReward: 1, comment: "last" });
    await sdk.flush();

    assert.equal(errors.length, 2, errors.map((e) => e.message).join("; "));
    const [tooLong, unknown] = errors;
    assert.equal(tooLong?.status, 400);
    assert.equal(tooLong?.code, "invalid_request");
    assert.equal(tooLong?.field, "comment");
    assert.equal(tooLong?.kind, "annotation");
    assert.equal((tooLong?.events[0] as Body | undefined)?.numericReward, 0);
    assert.equal(unknown?.status, 400);
    assert.match(unknown?.message ?? "", /bogus/);
    assert.deepEqual(
      counter.statuses.filter((s) => s === 400).length,
      2,
      "each bad item costs one refused request and is not retried",
    );
    assert.deepEqual(sdk.stats(), { queued: 0, sent: 2, dropped: 0, failed: 2 });
    const comments = (await tagDetail(key)).annotations.map((a: Body) => a.comment).sort();
    assert.deepEqual(comments, ["first", "last"]);
  });

  it("refuses invalid input at the call site, never throws, and sends nothing for it", async () => {
    const { counter, errors, sdk } = counted();
    const cyclic: Body = { a: 1 };
    cyclic.self = cyclic;
    assert.doesNotThrow(() => {
      sdk.link(null as never);
      sdk.link({ upstreamTag: "  ", downstreamTag: "x" });
      sdk.link({ upstreamTag: "x", downstreamTag: "y", metadata: [1, 2] as never });
      sdk.annotate({ annotationKey: "k", numericReward: Number.NaN });
      sdk.annotate({ annotationKey: "k", data: cyclic });
      sdk.annotate({ annotationKey: "k", source: "robot" as never });
      sdk.notify({ completionId: "c" } as never);
    });
    await sdk.flush();
    assert.deepEqual(
      errors.map((e) => [e.code, e.kind, e.field]),
      [
        ["invalid_input", "link", "input"],
        ["invalid_input", "link", "upstreamTag"],
        ["invalid_input", "link", "metadata"],
        ["invalid_input", "annotation", "numericReward"],
        ["invalid_input", "annotation", "input"],
        ["invalid_input", "annotation", "source"],
        ["invalid_input", "notification", "sendNotificationTo"],
      ],
    );
    assert.equal(counter.requests.length, 0);
    assert.deepEqual(sdk.stats(), { queued: 0, sent: 0, dropped: 0, failed: 7 });
  });

  it("survives an onError hook that throws", async () => {
    const sdk = new Intersebd({
      baseURL: server.url,
      onError: () => {
        throw new Error("hook bug");
      },
    });
    assert.doesNotThrow(() => sdk.annotate({ annotationKey: "", numericReward: 1 }));
    assert.equal(sdk.stats().failed, 1);
  });

  it("gives each annotation a client id, so a retried annotation is stored once", async () => {
    const counter = countingFetch();
    const sdk = new Intersebd({ baseURL: server.url, fetch: counter.fetch });
    const key = uniqueTag("idem");
    sdk.annotate({ annotationKey: key, numericReward: 1, comment: "generated id" });
    sdk.annotate({ id: `${key}-fixed`, annotationKey: key, numericReward: 1, comment: "fixed id" });
    sdk.annotate({ id: `${key}-fixed`, annotationKey: key, numericReward: 1, comment: "fixed id" });
    await sdk.flush();
    const sent = counter.requests.flatMap((r) => r.body);
    assert.match(
      String(sent[0]?.id),
      /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}-[0-9a-z]+$/,
    );
    const stored = (await tagDetail(key)).annotations.map((a: Body) => a.id).sort();
    assert.deepEqual(stored, [sent[0]?.id, `${key}-fixed`].sort());
  });

  it("sends the API key as x-intersebd-key, and reports a 401 without retrying it", async () => {
    const secured = await startTestServer("sqlite", { env: { INTERSEBD_API_KEY: "sdk-test-key" } });
    try {
      const tag = uniqueTag("auth");
      const denied = errorSink();
      const noKey = countingFetch();
      const anonymous = new Intersebd({
        baseURL: secured.url,
        apiKey: "",
        fetch: noKey.fetch,
        onError: denied.onError,
      });
      anonymous.link({ upstreamTag: tag, downstreamTag: `${tag}-denied` });
      await anonymous.flush();
      assert.equal(noKey.requests.length, 1, "a 401 is not retried");
      assert.equal(denied.errors[0]?.status, 401);
      assert.equal(denied.errors[0]?.code, "unauthorized");
      assert.equal(anonymous.stats().failed, 1);

      const withKey = countingFetch();
      const sdk = new Intersebd({ baseURL: secured.url, apiKey: "sdk-test-key", fetch: withKey.fetch });
      sdk.link({ upstreamTag: tag, downstreamTag: `${tag}-ok` });
      await sdk.flush();
      assert.equal(withKey.requests[0]?.headers["x-intersebd-key"], "sdk-test-key");
      assert.equal(sdk.stats().sent, 1);
      const r = await secured.api<Body>(`/api/tags/${tag}`, {
        headers: { "x-intersebd-key": "sdk-test-key" },
      });
      assert.deepEqual(
        r.body.downstreamLinks.map((l: Body) => l.downstreamTag),
        [`${tag}-ok`],
      );
    } finally {
      await secured.stop();
    }
  });

  it("refuses events after shutdown() and reports them", async () => {
    const { counter, errors, sdk } = counted();
    const tag = uniqueTag("shutdown");
    sdk.link({ upstreamTag: tag, downstreamTag: `${tag}-before` });
    await sdk.shutdown();
    sdk.link({ upstreamTag: tag, downstreamTag: `${tag}-after` });
    await sdk.flush();
    assert.equal(counter.requests.length, 1);
    assert.equal(errors[0]?.code, "shut_down");
    assert.deepEqual(sdk.stats(), { queued: 0, sent: 1, dropped: 0, failed: 1 });
  });

  it("sends notify() to POST /api/notifications with a client id, so a retry makes one task", async () => {
    const { counter, errors, sdk } = counted();
    const recipient = uniqueTag("reviewer");
    const completionId = uniqueTag("completion");
    sdk.notify({ completionId, sendNotificationTo: recipient, message: "judge this" });
    sdk.notify({ id: `${recipient}-fixed`, completionId, sendNotificationTo: recipient, message: "once" });
    sdk.notify({ id: `${recipient}-fixed`, completionId, sendNotificationTo: recipient, message: "once" });
    await sdk.flush();
    assert.deepEqual(errors, []);
    assert.equal(counter.requests.length, 1);
    assert.equal(counter.requests[0]?.path, "/api/notifications");
    const generated = counter.requests[0]?.body[0]?.id;
    assert.equal(typeof generated, "string");
    assert.deepEqual(sdk.stats(), { queued: 0, sent: 3, dropped: 0, failed: 0 });
    const list = await server.api<Body>(`/api/notifications?recipient=${encodeURIComponent(recipient)}`);
    assert.equal(list.status, 200);
    assert.deepEqual(
      list.body.data.map((n: Body) => [n.id, n.message]).sort(),
      [
        [generated, "judge this"],
        [`${recipient}-fixed`, "once"],
      ].sort(),
    );
  });
});
