/**
 * An API answer given without reading the request's body (no such route, a route that takes no body) must
 * leave the kept-alive connection usable: found by the fuzz test (test/e2e/fuzz.test.ts), where the next
 * request on such a connection was reset. No store is involved beyond start-up, so SQLite alone.
 */
import assert from "node:assert/strict";
import http from "node:http";
import { after, before, describe, it } from "node:test";
import { startTestServer, type TestServer } from "../testing/index.ts";

/** Sends one request on `agent` and reads its answer; a connection error is returned, not thrown. */
function request(
  s: TestServer,
  agent: http.Agent,
  method: string,
  path: string,
  body?: string,
): Promise<{ status?: number; error?: string; reused: boolean }> {
  const url = new URL(s.url);
  return new Promise((resolve) => {
    const req = http.request(
      {
        host: url.hostname,
        port: url.port,
        method,
        path,
        agent,
        headers:
          body === undefined
            ? {}
            : { "content-type": "application/json", "content-length": Buffer.byteLength(body) },
      },
      (res) => {
        res.resume();
        res.on("end", () => resolve({ status: res.statusCode, reused: req.reusedSocket }));
      },
    );
    req.on("error", (err) => resolve({ error: err.message, reused: req.reusedSocket }));
    req.end(body);
  });
}

describe("kept-alive connections after an answer that left the body unread", () => {
  let s: TestServer;
  before(async () => {
    s = await startTestServer("sqlite", { env: { INTERSEBD_MAX_BODY_BYTES: "1000000" } });
  });
  after(async () => s.stop());

  for (const [method, path] of [
    ["PATCH", "/api/no-such-route"],
    ["POST", "/api/calls/some-id"],
    ["PUT", "/api/rubrics/."],
  ] as const) {
    it(`${method} ${path} with a 300 kB body, then GET /healthz on the same connection`, async () => {
      const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
      try {
        const first = await request(s, agent, method, path, JSON.stringify({ x: "x".repeat(300_000) }));
        assert.equal(first.status, 404);
        // Sent at once, as a client with a pool does: the connection must still be open, or closed with notice.
        const next = await request(s, agent, "GET", "/healthz");
        assert.equal(
          next.error,
          undefined,
          `the next request failed: ${next.error} (reused: ${next.reused})`,
        );
        assert.equal(next.status, 200);
      } finally {
        agent.destroy();
      }
    });
  }
});
