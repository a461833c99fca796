import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { Hono } from "hono";
import { startTestServer, type TestServer } from "../testing/index.ts";
import { APP_CSP, mountWebApp, WEB_DIST } from "./static.ts";

const INDEX =
  '<!doctype html><html><body><div id="root"></div><script src="/assets/index-abc123.js"></script></body></html>';

describe(mountWebApp.name, () => {
  let dist: string;
  let app: Hono;
  before(() => {
    dist = fs.mkdtempSync(path.join(os.tmpdir(), "intersebd-web-"));
    fs.mkdirSync(path.join(dist, "assets"));
    fs.writeFileSync(path.join(dist, "index.html"), INDEX);
    fs.writeFileSync(path.join(dist, "assets", "index-abc123.js"), "console.log(1)");
    fs.writeFileSync(path.join(dist, "favicon.svg"), "<svg/>");
    app = new Hono();
    app.get("/api/calls", (c) => c.json({ data: [] }));
    mountWebApp(app, dist);
  });
  after(() => fs.rmSync(dist, { recursive: true, force: true }));

  it("should serve index.html at / without letting caches keep it", async () => {
    const res = await app.request("/");
    assert.equal(res.status, 200);
    assert.equal(await res.text(), INDEX);
    assert.equal(res.headers.get("cache-control"), "no-cache");
  });

  it("should answer every page URL with index.html so the app's router can show it", async () => {
    for (const p of ["/calls/chatcmpl-abc", "/a/some.token", "/inbox?recipient=ana", "/compare?a=x&b=y"]) {
      const res = await app.request(p);
      assert.equal(res.status, 200, p);
      assert.match(res.headers.get("content-type") ?? "", /text\/html/, p);
      assert.equal(await res.text(), INDEX, p);
    }
  });

  it("should cache hashed assets for a year and other files briefly", async () => {
    const js = await app.request("/assets/index-abc123.js");
    assert.equal(js.status, 200);
    assert.match(js.headers.get("content-type") ?? "", /javascript/);
    assert.equal(js.headers.get("cache-control"), "public, max-age=31536000, immutable");
    const icon = await app.request("/favicon.svg");
    assert.equal(icon.status, 200);
    assert.equal(icon.headers.get("cache-control"), "public, max-age=300");
  });

  it("should answer 404, not the app, for an asset of another build", async () => {
    const res = await app.request("/assets/index-old999.js");
    assert.equal(res.status, 404);
    assert.doesNotMatch(await res.text(), /<html/);
  });

  it("should leave the API, the proxy and the ops endpoints alone", async () => {
    for (const p of ["/api/nope", "/v1/models", "/openrouter/v1/models", "/healthz", "/metrics"]) {
      const res = await app.request(p);
      assert.equal(res.status, 404, p);
      assert.doesNotMatch(await res.text(), /id="root"/, p);
    }
    assert.equal((await app.request("/api/calls")).status, 200);
  });

  it("should send a strict CSP, no framing and no referrer with every page and asset", async () => {
    for (const p of [
      "/",
      "/a/some.token",
      "/calls/x",
      "/assets/index-abc123.js",
      "/favicon.svg",
      "/assets/old.js",
    ]) {
      const res = await app.request(p);
      const csp = res.headers.get("content-security-policy") ?? "";
      assert.equal(csp, APP_CSP, p);
      assert.equal(res.headers.get("x-frame-options"), "DENY", p);
      assert.equal(res.headers.get("referrer-policy"), "no-referrer", p);
      assert.equal(res.headers.get("x-content-type-options"), "nosniff", p);
    }
    const directives = new Map(
      APP_CSP.split(";").map((d) => {
        const [name = "", ...values] = d.trim().split(/\s+/);
        return [name, values] as const;
      }),
    );
    assert.deepEqual(directives.get("default-src"), ["'self'"]);
    assert.deepEqual(directives.get("script-src"), ["'self'"], "no inline or eval'd script");
    assert.deepEqual(directives.get("style-src"), ["'self'"]);
    assert.deepEqual(directives.get("frame-ancestors"), ["'none'"]);
    assert.deepEqual(directives.get("base-uri"), ["'none'"]);
    assert.deepEqual(directives.get("object-src"), ["'none'"]);
    assert.deepEqual(directives.get("connect-src"), ["'self'"]);
  });

  it("should need nothing the CSP forbids: the built app has no inline script or style", (t) => {
    const index = path.join(WEB_DIST, "index.html");
    if (!fs.existsSync(index)) return t.skip("the web app is not built (npm run build -w @intersebd/web)");
    const html = fs.readFileSync(index, "utf8");
    for (const tag of html.match(/<script\b[^>]*>/g) ?? []) assert.match(tag, /\bsrc="\/assets\//, tag);
    assert.doesNotMatch(html, /<style\b/);
    assert.doesNotMatch(html, /\sstyle=/);
    assert.doesNotMatch(html, /\son[a-z]+=/, "no inline event handlers");
  });

  it("should not serve files outside the build folder", async () => {
    const res = await app.request("/..%2F..%2Fetc%2Fpasswd");
    assert.doesNotMatch(await res.text(), /root:/);
  });

  it("should tell the user to run npm run build when the app is not built", async () => {
    const bare = new Hono();
    mountWebApp(bare, path.join(dist, "missing"));
    const res = await bare.request("/");
    assert.equal(res.status, 503);
    assert.match(await res.text(), /npm run build/);
    const csp = res.headers.get("content-security-policy") ?? "";
    assert.match(csp, /default-src 'none'/, "its inline styles allowed, and nothing else");
    assert.match(csp, /frame-ancestors 'none'/);
    assert.equal(res.headers.get("x-frame-options"), "DENY");
    assert.equal((await bare.request("/api/x")).status, 404, "the API's own 404, not the build notice");
  });
});

describe("the server's web routes", () => {
  let server: TestServer;
  before(async () => {
    server = await startTestServer("sqlite");
  });
  after(async () => server.stop());

  it("should keep the API's JSON 404 for an unknown /api path, whatever the app", async () => {
    const res = await server.api<{ error: { message: string } }>("/api/no-such-thing");
    assert.equal(res.status, 404);
    assert.match(res.body.error.message, /no route GET \/api\/no-such-thing/);
  });

  it("should answer a page URL with the app or the build notice, as HTML", async () => {
    const res = await fetch(`${server.url}/calls/some-id`);
    assert.ok(res.status === 200 || res.status === 503, String(res.status));
    assert.match(res.headers.get("content-type") ?? "", /text\/html/);
    assert.match(await res.text(), /id="root"|npm run build/);
  });

  it("should send the CSP on an annotation link's page, and the no-framing headers on the API's answers", async () => {
    const page = await fetch(`${server.url}/a/some.token`);
    assert.match(page.headers.get("content-security-policy") ?? "", /frame-ancestors 'none'/);
    assert.equal(page.headers.get("referrer-policy"), "no-referrer");
    const api = await fetch(`${server.url}/api/calls`);
    assert.equal(api.headers.get("x-frame-options"), "DENY");
    assert.equal(api.headers.get("referrer-policy"), "no-referrer");
    assert.equal(api.headers.get("x-content-type-options"), "nosniff");
  });
});
