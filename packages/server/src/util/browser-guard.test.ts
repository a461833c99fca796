/**
 * The browser guard in a running server: what a page on another site, a DNS-rebinding page or a "simple" form
 * post can no longer do, and what the app's own pages, the SDKs, curl and mailed links still can.
 * Requests go through `node:http` so that Host, Origin and the Sec-Fetch headers are exactly what a browser sends.
 */
import assert from "node:assert/strict";
import http from "node:http";
import { after, before, describe, it } from "node:test";
import { ConfigError, loadConfig } from "../config/index.ts";
import {
  DIALECTS,
  type FakeUpstream,
  startFakeUpstream,
  startTestServer,
  type TestServer,
} from "../testing/index.ts";

interface Raw {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
  json: { error?: { message: string; code: string; field: string | null } } & Record<string, unknown>;
}

/** One request with exactly these headers (no Origin or Sec-Fetch-* unless given, as a non-browser client). */
function raw(
  base: string,
  pathname: string,
  opts: { method?: string; headers?: Record<string, string>; body?: string | Buffer } = {},
): Promise<Raw> {
  const url = new URL(base);
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: url.hostname.replace(/^\[|\]$/g, ""),
        port: url.port,
        method: opts.method ?? (opts.body === undefined ? "GET" : "POST"),
        path: pathname,
        headers: opts.headers,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => {
          const body = Buffer.concat(chunks).toString("utf8");
          let json = {};
          try {
            json = JSON.parse(body);
          } catch {}
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body, json });
        });
      },
    );
    req.on("error", reject);
    req.end(opts.body);
  });
}

const chat = JSON.stringify({ model: "gpt-4o-mini", messages: [{ role: "user", content: "hi" }] });
const annotation = JSON.stringify({ annotationKey: "guard-key", numericReward: 1 });
/** What Chromium adds to a navigation typed or clicked at the top level. */
const navigation = { "sec-fetch-mode": "navigate", "sec-fetch-dest": "document", "sec-fetch-user": "?1" };

// The guard runs before any store work: one dialect is enough.
const dialect = DIALECTS[0] ?? "sqlite";

describe("browser guard (auth off, bound to loopback)", () => {
  let s: TestServer;
  let upstream: FakeUpstream;
  let own: string;
  before(async () => {
    upstream = await startFakeUpstream();
    s = await startTestServer(dialect, {
      upstream: upstream.url,
      env: { INTERSEBD_UPSTREAM_KEY: "sk-operator-key" },
    });
    own = s.url;
  });
  after(async () => {
    await s?.stop();
    await upstream?.close();
  });

  const annotationsStored = async () =>
    (await s.api<{ annotations: unknown[] }>("/api/tags/guard-key")).body.annotations.length;

  it("refuses a cross-site text/plain POST to the API, naming the Origin and how to allow it", async () => {
    const r = await raw(own, "/api/annotations", {
      headers: {
        "content-type": "text/plain",
        origin: "http://evil.example",
        "sec-fetch-site": "cross-site",
        "sec-fetch-mode": "no-cors",
      },
      body: annotation,
    });
    assert.equal(r.status, 403, r.body);
    assert.equal(r.json.error?.code, "cross_site_refused");
    assert.match(r.json.error?.message ?? "", /http:\/\/evil\.example/);
    assert.match(r.json.error?.message ?? "", /INTERSEBD_ALLOWED_ORIGINS/);
    assert.equal(await annotationsStored(), 0, "nothing was written");
  });

  it("refuses a cross-site chat completion before it reaches the upstream with the operator's key", async () => {
    const before = upstream.requests.length;
    const cases: Record<string, string>[] = [
      { origin: "http://evil.example" },
      { "sec-fetch-site": "cross-site" },
      { "sec-fetch-site": "same-site" },
      { origin: "null" },
    ];
    for (const headers of cases) {
      const r = await raw(own, "/v1/chat/completions", {
        headers: { "content-type": "text/plain", ...headers },
        body: chat,
      });
      assert.equal(r.status, 403, `${JSON.stringify(headers)}: ${r.body}`);
      assert.equal(r.json.error?.code, "cross_site_refused");
    }
    assert.equal(upstream.requests.length, before, "no request reached the upstream");
  });

  it("refuses a GET from another site too (a script or image tag, a cross-origin fetch)", async () => {
    const cases: Record<string, string>[] = [
      { "sec-fetch-site": "cross-site", "sec-fetch-mode": "no-cors", "sec-fetch-dest": "script" },
      { origin: "https://evil.example", "sec-fetch-site": "cross-site", "sec-fetch-mode": "cors" },
      // A cross-site navigation to the API (not an app page) is not a mailed link.
      { "sec-fetch-site": "cross-site", ...navigation },
    ];
    for (const headers of cases) {
      const r = await raw(own, "/api/calls", { headers });
      assert.equal(r.status, 403, `${JSON.stringify(headers)}: ${r.body}`);
    }
  });

  it("refuses a Host that is not this machine's (DNS rebinding), even for a GET", async () => {
    const port = new URL(own).port;
    for (const host of [
      `evil.example:${port}`,
      "evil.example",
      `127.0.0.1:${Number(port) + 1}`,
      `localhost.evil.example:${port}`,
      "bad host",
    ]) {
      const r = await raw(own, "/api/calls", { headers: { host } });
      assert.equal(r.status, 421, `${host}: ${r.body}`);
      assert.equal(r.json.error?.code, "unknown_host");
      assert.match(r.json.error?.message ?? "", /INTERSEBD_PUBLIC_URL/);
    }
    const proxied = await raw(own, "/v1/models", { headers: { host: `rebound.example:${port}` } });
    assert.equal(proxied.status, 421, "the proxy is behind the same check");
    for (const host of [`localhost:${port}`, `127.0.0.1:${port}`, `[::1]:${port}`, `app.localhost:${port}`]) {
      const r = await raw(own, "/api/calls", { headers: { host } });
      assert.equal(r.status, 200, `${host}: ${r.body}`);
    }
  });

  it("requires application/json on API bodies, and names the type it got", async () => {
    const plain = await raw(own, "/api/annotations", {
      headers: { "content-type": "text/plain" },
      body: annotation,
    });
    assert.equal(plain.status, 415, plain.body);
    assert.equal(plain.json.error?.code, "unsupported_media_type");
    assert.match(plain.json.error?.message ?? "", /"text\/plain"/);
    const form = await raw(own, "/api/annotations", {
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: "a=1",
    });
    assert.equal(form.status, 415);
    const none = await raw(own, "/api/annotations", { body: annotation });
    assert.equal(none.status, 415);
    assert.match(none.json.error?.message ?? "", /no Content-Type/);
    const chunked = await raw(own, "/api/annotations", {
      headers: { "content-type": "text/plain", "transfer-encoding": "chunked" },
      body: annotation,
    });
    assert.equal(chunked.status, 415, "a chunked body counts as a body");
    assert.equal(await annotationsStored(), 0);

    for (const type of [
      "application/json",
      "application/json; charset=utf-8",
      "Application/JSON;charset=UTF-8",
    ]) {
      const ok = await raw(own, "/api/annotations", { headers: { "content-type": type }, body: annotation });
      assert.equal(ok.status, 201, `${type}: ${ok.body}`);
    }
    // No body, no type needed (a POST that only acts, a DELETE).
    const empty = await raw(own, "/api/notifications/ntf_nope/revoke", {
      method: "POST",
      headers: { "content-length": "0" },
    });
    assert.equal(empty.status, 404, empty.body);
  });

  it("lets the proxy take multipart bodies (files, audio) from clients that are not browsers", async () => {
    const before = upstream.requests.length;
    const boundary = "----intersebd-guard";
    const body = `--${boundary}\r\nContent-Disposition: form-data; name="model"\r\n\r\nwhisper-1\r\n--${boundary}--\r\n`;
    const r = await raw(own, "/v1/audio/transcriptions", {
      headers: { "content-type": `multipart/form-data; boundary=${boundary}` },
      body,
    });
    assert.notEqual(r.status, 415, r.body);
    assert.notEqual(r.status, 403, r.body);
    assert.equal(upstream.requests.length, before + 1, "forwarded");
    assert.match(String(upstream.requests.at(-1)?.headers["content-type"]), /multipart\/form-data/);
  });

  it("lets the app's own pages, SDKs and curl through", async () => {
    const sameOrigin = await raw(own, "/api/annotations", {
      headers: {
        "content-type": "application/json",
        origin: own,
        "sec-fetch-site": "same-origin",
        "sec-fetch-mode": "cors",
      },
      body: annotation,
    });
    assert.equal(sameOrigin.status, 201, sameOrigin.body);
    const localhost = own.replace("127.0.0.1", "localhost");
    const byName = await raw(own, "/api/calls", {
      headers: { host: new URL(localhost).host, origin: localhost, "sec-fetch-site": "same-origin" },
    });
    assert.equal(byName.status, 200, "the origin of the name it was reached by");
    const typed = await raw(own, "/api/calls", { headers: { "sec-fetch-site": "none", ...navigation } });
    assert.equal(typed.status, 200, "typed in the address bar");
    const sdk = await raw(own, "/v1/chat/completions", {
      headers: { "content-type": "application/json" },
      body: chat,
    });
    assert.equal(sdk.status, 200, sdk.body);
    assert.equal(upstream.requests.at(-1)?.headers.authorization, "Bearer sk-operator-key");
  });

  it("keeps mailed links working: a cross-site navigation to an app page is served", async () => {
    for (const p of ["/a/some.token", "/", "/calls/x"]) {
      const r = await raw(own, p, { headers: { "sec-fetch-site": "cross-site", ...navigation } });
      assert.ok(r.status === 200 || r.status === 503, `${p}: ${r.status} ${r.body.slice(0, 200)}`);
    }
    // Not when framed, nor as a form POST.
    const framed = await raw(own, "/a/some.token", {
      headers: { "sec-fetch-site": "cross-site", "sec-fetch-mode": "navigate", "sec-fetch-dest": "iframe" },
    });
    assert.equal(framed.status, 403);
    const posted = await raw(own, "/a/some.token", {
      headers: { "content-type": "application/json", origin: "http://evil.example", ...navigation },
      body: "{}",
    });
    assert.equal(posted.status, 403);
    // `%61pi` is `api` to the router: not an app page.
    const encoded = await raw(own, "/%61pi/calls", {
      headers: { "sec-fetch-site": "cross-site", ...navigation },
    });
    assert.equal(encoded.status, 403);
  });

  it("sends the framing, referrer and sniffing headers on every answer: API, proxy, pages and refusals", async () => {
    const answers = [
      await raw(own, "/api/calls"),
      await raw(own, "/v1/chat/completions", { headers: { "content-type": "application/json" }, body: chat }),
      await raw(own, "/a/some.token"),
      await raw(own, "/healthz"),
      await raw(own, "/api/calls", { headers: { origin: "http://evil.example" } }),
    ];
    for (const r of answers) {
      assert.equal(r.headers["x-frame-options"], "DENY");
      assert.equal(r.headers["referrer-policy"], "no-referrer");
      assert.equal(r.headers["x-content-type-options"], "nosniff");
    }
  });
});

describe("browser guard with INTERSEBD_PUBLIC_URL and INTERSEBD_ALLOWED_ORIGINS", () => {
  let s: TestServer;
  before(async () => {
    s = await startTestServer(dialect, {
      env: {
        INTERSEBD_PUBLIC_URL: "https://intersebd.example.com",
        INTERSEBD_ALLOWED_ORIGINS: "http://localhost:5173, https://dash.example.com",
      },
    });
  });
  after(() => s?.stop());

  it("accepts the public URL's Host and Origin (a reverse proxy in front) and the allowed origins", async () => {
    const proxied = await raw(s.url, "/api/annotations", {
      headers: {
        host: "intersebd.example.com",
        origin: "https://intersebd.example.com",
        "content-type": "application/json",
        "sec-fetch-site": "same-origin",
      },
      body: annotation,
    });
    assert.equal(proxied.status, 201, proxied.body);
    for (const origin of ["http://localhost:5173", "https://dash.example.com"]) {
      const r = await raw(s.url, "/api/calls", { headers: { origin, "sec-fetch-site": "same-site" } });
      assert.equal(r.status, 200, `${origin}: ${r.body}`);
    }
    const other = await raw(s.url, "/api/calls", {
      headers: { origin: "https://dash.example.com.evil.example" },
    });
    assert.equal(other.status, 403);
    const rebound = await raw(s.url, "/api/calls", { headers: { host: "evil.example" } });
    assert.equal(rebound.status, 421);
  });

  it("answers an allowed origin's CORS preflight, and lets its page read the answer; never another's", async () => {
    const origin = "https://dash.example.com";
    const preflight = await raw(s.url, "/api/annotations", {
      method: "OPTIONS",
      headers: {
        origin,
        "sec-fetch-site": "cross-site",
        "access-control-request-method": "POST",
        "access-control-request-headers": "content-type, x-intersebd-key",
      },
    });
    assert.equal(preflight.status, 204, preflight.body);
    assert.equal(preflight.headers["access-control-allow-origin"], origin);
    assert.match(String(preflight.headers["access-control-allow-methods"]), /POST/);
    assert.equal(preflight.headers["access-control-allow-headers"], "content-type, x-intersebd-key");
    const post = await raw(s.url, "/api/annotations", {
      headers: { origin, "sec-fetch-site": "cross-site", "content-type": "application/json" },
      body: annotation,
    });
    assert.equal(post.status, 201, post.body);
    assert.equal(post.headers["access-control-allow-origin"], origin);
    const evil = await raw(s.url, "/api/annotations", {
      method: "OPTIONS",
      headers: { origin: "https://evil.example", "access-control-request-method": "POST" },
    });
    assert.equal(evil.status, 403);
    assert.equal(evil.headers["access-control-allow-origin"], undefined);
  });
});

describe("INTERSEBD_ALLOWED_ORIGINS", () => {
  it("takes origins, comma-separated, and refuses anything that is not one, naming the variable", () => {
    const c = loadConfig({ INTERSEBD_ALLOWED_ORIGINS: " https://a.example.com, http://localhost:5173/ ,," });
    assert.deepEqual(c.allowedOrigins, ["https://a.example.com", "http://localhost:5173"]);
    assert.deepEqual(loadConfig({}).allowedOrigins, []);
    for (const bad of ["a.example.com", "https://a.example.com/app", "ftp://a.example.com", "null", "*"]) {
      assert.throws(
        () => loadConfig({ INTERSEBD_ALLOWED_ORIGINS: bad }),
        (e: unknown) => e instanceof ConfigError && /INTERSEBD_ALLOWED_ORIGINS/.test(e.message),
        bad,
      );
    }
  });
});

describe("browser guard bound beyond loopback (an API key is required there)", () => {
  let s: TestServer;
  before(async () => {
    s = await startTestServer(dialect, {
      env: { INTERSEBD_HOST: "0.0.0.0", INTERSEBD_API_KEY: "k-guard-test-0123" },
    });
  });
  after(() => s?.stop());

  it("leaves the Host alone but still refuses foreign origins", async () => {
    const base = s.url.replace("0.0.0.0", "127.0.0.1");
    const named = await raw(base, "/api/calls", {
      headers: { host: "intersebd.internal:8787", "x-intersebd-key": "k-guard-test-0123" },
    });
    assert.equal(named.status, 200, named.body);
    const foreign = await raw(base, "/api/calls", {
      headers: { origin: "http://evil.example", "x-intersebd-key": "k-guard-test-0123" },
    });
    assert.equal(foreign.status, 403);
  });
});
