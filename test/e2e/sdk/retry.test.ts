/**
 * Delivery when the server is away or busy: a restart on the same port and database, 429/503 answers with
 * `retry-after`, and giving up after `maxRetries`.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { eventually, freshDatabase, startTestServer, type TestServer } from "@intersebd/server/testing";
import { Intersebd } from "intersebd";
import { type Body, countingFetch, errorSink, uniqueTag } from "./helpers.ts";

describe("Intersebd retries", () => {
  it("keeps events through a server restart and delivers them to the new server on the same port", async () => {
    const fresh = await freshDatabase("sqlite");
    let server: TestServer | undefined = await startTestServer("sqlite", {
      db: fresh.db,
      dataDir: fresh.dataDir,
    });
    try {
      const port = new URL(server.url).port;
      const counter = countingFetch();
      const { onError, errors } = errorSink();
      const sdk = new Intersebd({ baseURL: server.url, fetch: counter.fetch, onError, flushIntervalMs: 10 });
      const tag = uniqueTag("restart");
      sdk.link({ upstreamTag: tag, downstreamTag: `${tag}-before` });
      await sdk.flush();
      assert.equal(sdk.stats().sent, 1);

      await server.stop();
      server = undefined;
      sdk.link({ upstreamTag: tag, downstreamTag: `${tag}-during` });
      sdk.annotate({ annotationKey: `${tag}-during`, numericReward: 1 });
      await eventually(() => counter.networkErrors >= 1, 10_000, "a failed attempt while the server is down");
      assert.equal(sdk.stats().queued, 2, "the events wait for the server");

      server = await startTestServer("sqlite", {
        db: fresh.db,
        dataDir: fresh.dataDir,
        env: { INTERSEBD_PORT: port },
      });
      await sdk.flush();
      assert.deepEqual(errors, []);
      assert.deepEqual(sdk.stats(), { queued: 0, sent: 3, dropped: 0, failed: 0 });
      const r = await server.api<Body>(`/api/tags/${tag}`);
      assert.deepEqual(r.body.downstreamLinks.map((l: Body) => l.downstreamTag).sort(), [
        `${tag}-before`,
        `${tag}-during`,
      ]);
      assert.equal(r.body.annotations.length, 1);
      assert.equal(r.body.annotations[0].numericReward, 1);
    } finally {
      await server?.stop();
      await fresh.drop();
    }
  });

  it("retries 429 and 503 (honouring retry-after) and does not retry a 4xx", async () => {
    const server = await startTestServer("sqlite");
    try {
      const counter = countingFetch((n) => {
        if (n === 0) return new Response("{}", { status: 429, headers: { "retry-after": "0" } });
        if (n === 1) return new Response("upstream down", { status: 503 });
        return undefined;
      });
      const { onError, errors } = errorSink();
      const sdk = new Intersebd({ baseURL: server.url, fetch: counter.fetch, onError });
      const tag = uniqueTag("busy");
      sdk.link({ upstreamTag: tag, downstreamTag: `${tag}-down` });
      await sdk.flush();
      assert.deepEqual(counter.statuses, [429, 503, 201]);
      assert.deepEqual(errors, []);
      assert.deepEqual(sdk.stats(), { queued: 0, sent: 1, dropped: 0, failed: 0 });
      assert.equal(counter.requests[2]?.body[0]?.downstreamTag, `${tag}-down`, "the same batch, sent again");

      const refused = countingFetch(() => new Response('{"error":{"message":"nope"}}', { status: 422 }));
      const other = errorSink();
      const sdk2 = new Intersebd({ baseURL: server.url, fetch: refused.fetch, onError: other.onError });
      sdk2.link({ upstreamTag: tag, downstreamTag: `${tag}-refused` });
      await sdk2.flush();
      assert.equal(refused.requests.length, 1);
      assert.equal(other.errors[0]?.message, "nope");
      assert.equal(other.errors[0]?.status, 422);
    } finally {
      await server.stop();
    }
  });

  it("gives up after maxRetries and hands the events to onError", async () => {
    const gone = await startTestServer("sqlite");
    const url = gone.url;
    await gone.stop();
    const counter = countingFetch();
    const { onError, errors } = errorSink();
    const sdk = new Intersebd({ baseURL: url, fetch: counter.fetch, onError, maxRetries: 2 });
    sdk.annotate({ annotationKey: "lost", numericReward: 1, comment: "keep me" });
    await sdk.flush();
    assert.equal(counter.requests.length, 3, "one attempt and two retries");
    assert.equal(errors.length, 1);
    assert.equal(errors[0]?.code, "network_error");
    assert.equal(errors[0]?.kind, "annotation");
    assert.equal((errors[0]?.events[0] as Body | undefined)?.comment, "keep me");
    assert.deepEqual(sdk.stats(), { queued: 0, sent: 0, dropped: 0, failed: 1 });
  });

  it("flush({ timeoutMs }) returns while retries go on", async () => {
    const gone = await startTestServer("sqlite");
    const url = gone.url;
    await gone.stop();
    const { onError } = errorSink();
    const sdk = new Intersebd({ baseURL: url, onError, maxRetries: 20 });
    sdk.link({ upstreamTag: "a", downstreamTag: "b" });
    await sdk.flush({ timeoutMs: 50 });
    assert.equal(sdk.stats().queued, 1, "still queued, not lost");
  });
});
