/**
 * Routing of proxy paths: malformed percent-encoding and dot segments are a 400, never a crash and never a path
 * outside the upstream's base path.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { Upstream } from "../config/index.ts";
import { HttpError } from "../http/error.ts";
import { type ProxyRoute, routeRequest } from "./route.ts";

const upstreams = new Map<string, Upstream>([
  ["default", { name: "default", baseUrl: new URL("http://127.0.0.1:9/v1") }],
  ["alt", { name: "alt", baseUrl: new URL("http://127.0.0.1:9/base/v1") }],
]);

const route = (url: string, method = "GET") => routeRequest(method, url, upstreams);

function assertBadPath(url: string, message: RegExp): void {
  assert.throws(
    () => route(url),
    (err: unknown) =>
      err instanceof HttpError && err.status === 400 && err.field === "path" && message.test(err.message),
    url,
  );
}

describe("routeRequest", () => {
  it("maps /v1 and /<name>/v1 to the upstream's base path, keeping the query", () => {
    assert.deepEqual(route("/v1/chat/completions", "POST"), {
      upstream: upstreams.get("default"),
      upstreamPath: "/v1/chat/completions",
      rest: "/chat/completions",
      protocol: "chat",
    });
    const alt = route("/alt/v1/models?x=1") as ProxyRoute;
    assert.equal(alt.upstreamPath, "/base/v1/models?x=1");
    assert.equal(alt.protocol, undefined);
    assert.equal((route("/v1/responses", "POST") as ProxyRoute).protocol, "responses");
    assert.equal((route("/alt/v1/messages", "POST") as ProxyRoute).protocol, "messages");
    assert.equal((route("/v1/responses/resp_1", "GET") as ProxyRoute).protocol, undefined);
    assert.equal((route("/v1/responses/resp_1/cancel", "POST") as ProxyRoute).protocol, undefined);
    assert.equal((route("/v1/messages/count_tokens", "POST") as ProxyRoute).protocol, undefined);
    assert.deepEqual(route("/nope/v1/models"), { unknownUpstream: "nope" });
    assert.equal(route("/api/v1/calls"), undefined, "/api is never a proxy path");
    assert.equal(route("/api/calls"), undefined);
  });

  it("answers malformed percent-encoding with a 400 naming the path (it used to end the process)", () => {
    for (const url of ["/%ZZ/v1/models", "/%/v1", "/%E0%A4%A/v1/chat/completions", "/v1/models/%ZZ"]) {
      assertBadPath(url, /percent-encoding/);
    }
  });

  it("refuses dot segments, raw, percent-encoded or between backslashes, on every upstream", () => {
    for (const url of [
      "/alt/v1/../../admin",
      "/alt/v1/..",
      "/alt/v1/./models",
      "/alt/v1/%2e%2e/%2E%2e/admin",
      "/alt/v1/%2e/models",
      "/alt/v1/..%2f..%2fadmin",
      "/alt/v1/..%5C..%5Cadmin",
      "/alt/v1/models\\..\\..\\admin",
      "/v1/../admin",
      "/v1/chat/completions/..?x=1",
      "/nosuch/v1/../../admin",
    ]) {
      assertBadPath(url, /`\.` or `\.\.` segment/);
    }
  });

  it("passes dots, encoded slashes and dot-dots that are not whole segments", () => {
    const paths = [
      ["/alt/v1/models/gpt-3.5-turbo", "/base/v1/models/gpt-3.5-turbo"],
      ["/alt/v1/models/meta-llama%2FLlama-3.1-8B", "/base/v1/models/meta-llama%2FLlama-3.1-8B"],
      ["/alt/v1/files/a..b", "/base/v1/files/a..b"],
      ["/alt/v1/files/...", "/base/v1/files/..."],
      ["/alt/v1/models?next=../x", "/base/v1/models?next=../x"],
    ];
    for (const [url, upstreamPath] of paths) {
      assert.equal((route(url as string) as ProxyRoute).upstreamPath, upstreamPath, url);
    }
  });
});
