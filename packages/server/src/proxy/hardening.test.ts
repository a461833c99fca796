/**
 * Adversarial input against the proxy and the capture path (issue 12): nothing a client sends ends the
 * process, climbs out of an upstream's base path, reveals configuration without the key, or loses a call
 * silently; what PostgreSQL cannot hold is stored readable on both databases.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import http from "node:http";
import net from "node:net";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { type UnbuiltCall, unbuiltRow } from "../calls/index.ts";
import { createMetrics } from "../metrics/index.ts";
import {
  DIALECTS,
  type FakeUpstream,
  fakeUpstreamSuite,
  startFakeUpstream,
  startTestServer,
  storedCall,
  type TestServer,
} from "../testing/index.ts";
import { createProxy } from "./index.ts";

const KEY = "team-key-123";

// biome-ignore lint/suspicious/noExplicitAny: response bodies are read loosely in assertions
type Body = Record<string, any>;

/** A request with its path sent exactly as given (`fetch` would resolve `..` and re-encode). */
function rawRequest(
  base: string,
  rawPath: string,
  opts: { method?: string; headers?: Record<string, string>; body?: string } = {},
): Promise<{ status: number; body: Body }> {
  const url = new URL(base);
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: url.hostname,
        port: url.port,
        method: opts.method ?? "GET",
        path: rawPath,
        headers: opts.headers,
      },
      (res) => {
        let text = "";
        res.setEncoding("utf8");
        res.on("data", (c: string) => {
          text += c;
        });
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) as Body }));
      },
    );
    req.on("error", reject);
    req.end(opts.body);
  });
}

/** Writes raw bytes on a fresh connection and returns everything the server sends until it closes. */
function rawExchange(base: string, bytes: string): Promise<string> {
  const url = new URL(base);
  return new Promise((resolve, reject) => {
    const socket = net.connect(Number(url.port), url.hostname, () => socket.write(bytes));
    let got = "";
    socket.setEncoding("utf8");
    socket.on("data", (c: string) => {
      got += c;
    });
    socket.on("error", reject);
    socket.on("close", () => resolve(got));
  });
}

function jsonBodyOf(response: string): Body {
  return JSON.parse(response.slice(response.indexOf("\r\n\r\n") + 4)) as Body;
}

describe("proxy hardening, without a store in the way", () => {
  let fake: FakeUpstream;
  let server: TestServer;
  before(async () => {
    fake = await startFakeUpstream();
    const named = new URL(fake.url);
    named.pathname = "/v1";
    server = await startTestServer("sqlite", {
      upstream: fake.url,
      env: { INTERSEBD_API_KEY: KEY, INTERSEBD_UPSTREAMS: `alt=${named.href}` },
    });
  });
  after(async () => {
    await server.stop();
    await fake.close();
  });
  const withKey = { "x-intersebd-key": KEY };

  async function stillServing(): Promise<void> {
    const r = await server.api("/v1/chat/completions", {
      body: { model: "m", messages: [{ role: "user", content: "alive" }] },
      headers: withKey,
    });
    assert.equal(r.status, 200, "the server still serves");
  }

  it("answers malformed percent-encoding with a 400 naming the path, on the proxy and the API", async () => {
    for (const p of ["/%ZZ/v1/models", "/%/v1", "/%E0%A4%A/v1/chat/completions"]) {
      const r = await rawRequest(server.url, p);
      assert.equal(r.status, 400, p);
      assert.equal(r.body.error.field, "path", p);
      assert.match(r.body.error.message, /percent-encoding/, p);
    }
    for (const p of ["/api/calls/%ZZ", "/api/%E0%A4%A", "/api/calls/%E0%A4%A/links"]) {
      const r = await rawRequest(server.url, p, { headers: withKey });
      assert.ok(r.status >= 400 && r.status < 500, `${p}: ${r.status}`);
    }
    await stillServing();
  });

  it("refuses dot segments before they reach any upstream", async () => {
    const seen = fake.requests.length;
    for (const p of [
      "/alt/v1/../../admin",
      "/alt/v1/%2e%2e/%2E%2e/admin",
      "/alt/v1/..%2f..%2fadmin",
      "/alt/v1/models\\..\\..\\admin",
      "/v1/../admin",
    ]) {
      const r = await rawRequest(server.url, p, { headers: withKey });
      assert.equal(r.status, 400, p);
      assert.equal(r.body.error.field, "path", p);
    }
    assert.equal(fake.requests.length, seen, "no request reached the upstream");
    await stillServing();
  });

  it("checks the API key before naming the configured upstreams", async () => {
    const anonymous = await rawRequest(server.url, "/nosuch/v1/models");
    assert.equal(anonymous.status, 401);
    assert.doesNotMatch(JSON.stringify(anonymous.body), /alt|nosuch/);
    const wrong = await rawRequest(server.url, "/nosuch/v1/models", { headers: { "x-intersebd-key": "no" } });
    assert.equal(wrong.status, 401);
    const keyed = await rawRequest(server.url, "/nosuch/v1/models", { headers: withKey });
    assert.equal(keyed.status, 404);
    assert.match(keyed.body.error.message, /unknown upstream "nosuch".*\/alt\/v1/);
  });

  it("answers CONNECT with a 405 and malformed requests with a 400, in JSON, then closes", async () => {
    const connect = await rawExchange(
      server.url,
      "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n",
    );
    assert.match(connect, /^HTTP\/1\.1 405 Method Not Allowed\r\n/);
    assert.match(connect, /\r\ncontent-type: application\/json\r\n/);
    assert.equal(jsonBodyOf(connect).error.code, "method_not_allowed");

    const garbage = await rawExchange(server.url, "GET / HTTP/1.1\r\nno colon here\r\n\r\n");
    assert.match(garbage, /^HTTP\/1\.1 400 Bad Request\r\n/);
    assert.equal(jsonBodyOf(garbage).error.code, "bad_request");

    const notHttp = await rawExchange(server.url, "\u0000\u0001\u0002 hello\r\n\r\n");
    assert.match(notHttp, /^HTTP\/1\.1 400 /);

    // Headers too large: a 431 in JSON, and none for HEAD (a body there is garbage to the client).
    const huge = `/api/datasets/${"x".repeat(20_000)}`;
    const tooLarge = await rawExchange(server.url, `GET ${huge} HTTP/1.1\r\nHost: x\r\n\r\n`);
    assert.match(tooLarge, /^HTTP\/1\.1 431 /);
    assert.equal(jsonBodyOf(tooLarge).error.code, "headers_too_large");
    const head = await rawExchange(server.url, `HEAD ${huge} HTTP/1.1\r\nHost: x\r\n\r\n`);
    assert.match(head, /^HTTP\/1\.1 431 /);
    assert.ok(head.endsWith("\r\n\r\n"), `no body after the headers: ${JSON.stringify(head.slice(-80))}`);

    // Pipelined after a good request: that one's answer comes first and whole, then the 431 (not a reset).
    const host = new URL(server.url).host;
    const pipelined = await rawExchange(
      server.url,
      `GET /healthz HTTP/1.1\r\nHost: ${host}\r\n\r\nGET ${huge} HTTP/1.1\r\nHost: ${host}\r\n\r\n`,
    );
    assert.match(pipelined, /^HTTP\/1\.1 200 OK\r\n/);
    const second = pipelined.indexOf("HTTP/1.1 431 ");
    assert.ok(second > 0, `the 431 follows the first answer: ${JSON.stringify(pipelined.slice(0, 400))}`);
    assert.equal(jsonBodyOf(pipelined.slice(second)).error.code, "headers_too_large");
    await stillServing();
  });
});

describe("a call whose record cannot be built", () => {
  let fake: FakeUpstream;
  before(async () => {
    fake = await startFakeUpstream({ keepRequests: false });
  });
  after(async () => fake.close());

  it("is handed to onRejected with its ids, times, outcome and raw bodies; the client still gets its answer", async () => {
    const rejected: Array<{ call: UnbuiltCall; err: unknown }> = [];
    const upstreams = new Map([["default", { name: "default", baseUrl: new URL(fake.url) }]]);
    const proxy = createProxy({
      upstreams,
      maxBodyBytes: 1_000_000,
      upstreamTimeoutMs: 5000,
      metrics: createMetrics(),
      onCall: () => {
        throw new RangeError("Maximum call stack size exceeded");
      },
      onRejected: (call, err) => rejected.push({ call, err }),
    });
    const server = http.createServer((req, res) => {
      if (!proxy(req, res)) res.end();
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
    try {
      const base = `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`;
      const body = JSON.stringify({ model: "m", messages: [{ role: "user", content: "keep me" }] });
      const r = await fetch(`${base}/v1/chat/completions`, {
        method: "POST",
        headers: { "content-type": "application/json", authorization: "Bearer sk-secret-never-kept" },
        body,
      });
      assert.equal(r.status, 200);
      assert.match(await r.text(), /echo: keep me/);
      await new Promise((resolve) => setImmediate(resolve));
      assert.equal(rejected.length, 1);
      const { call, err } = rejected[0] as (typeof rejected)[number];
      assert.equal(call.id, r.headers.get("x-intersebd-call-id"));
      assert.equal(call.outcome, "ok");
      assert.equal(call.status, 200);
      assert.equal(call.requestText, body);
      assert.match(call.responseText ?? "", /echo: keep me/);
      assert.ok(err instanceof RangeError);
      assert.doesNotMatch(JSON.stringify(call), /sk-secret-never-kept/, "no credentials");
    } finally {
      await new Promise((r) => server.close(r));
    }
  });

  it("keeps its bodies as the capture mode would have stored them", () => {
    const call: UnbuiltCall = {
      id: "call_x",
      startedAt: 1,
      endedAt: 2,
      upstream: "default",
      path: "/v1/chat/completions",
      status: 200,
      outcome: "ok",
      error: null,
      requestText: '{"messages":[{"role":"user","content":"mail me at a@b.example"}]}',
      responseText: null,
      sessionId: null,
      userId: null,
      tags: [],
    };
    assert.equal(unbuiltRow(call, "full").requestText, call.requestText);
    assert.match(String(unbuiltRow(call, "redacted").requestText), /\[EMAIL\]/);
    assert.doesNotMatch(String(unbuiltRow(call, "redacted").requestText), /a@b\.example/);
    assert.equal(unbuiltRow(call, "metadata").requestText, `[${call.requestText?.length} chars]`);
    assert.equal(unbuiltRow(call, "metadata").responseText, null);
  });
});

for (const dialect of DIALECTS) {
  describe(`capture hardening on ${dialect}`, async () => {
    const suite = await fakeUpstreamSuite(dialect, { fake: { keepRequests: false } });
    const { skip } = suite;

    /** Sends `body` (as is) through the proxy, with `metadata` as x-intersebd-metadata; returns the call's id. */
    async function proxied(body: string, metadata?: string): Promise<string> {
      const r = await fetch(`${suite.s.url}/v1/chat/completions`, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          ...(metadata === undefined ? {} : { "x-intersebd-metadata": metadata }),
        },
        body,
      });
      assert.equal(r.status, 200);
      await r.text();
      return r.headers.get("x-intersebd-call-id") as string;
    }

    it("stores a request body nested 5,000 deep, readable by id and in the list", { skip }, async () => {
      const deep = `${"[".repeat(5000)}${"]".repeat(5000)}`;
      const ids: string[] = [];
      for (const stream of [false, true]) {
        ids.push(
          await proxied(
            `{"model":"m","stream":${stream},"messages":[{"role":"user","content":"deep"}],"x":${deep}}`,
          ),
        );
      }
      for (const id of ids) {
        const call = await storedCall<Body>(suite.s, id);
        assert.equal(typeof call.request._raw, "string", "kept as its text");
        assert.ok(call.request._raw.startsWith('{"model":"m"'));
        assert.match(JSON.stringify(call.response), /echo: deep/, "the answer is kept whole");
      }
      const list = await suite.s.api<{ data: Body[] }>("/api/calls?limit=100");
      assert.equal(list.status, 200);
      for (const id of ids)
        assert.ok(
          list.body.data.some((c) => c.id === id),
          `${id} listed`,
        );
      const metrics = await fetch(`${suite.s.url}/metrics`).then((r) => r.text());
      assert.doesNotMatch(metrics, /intersebd_rejected_records_total\{/, "nothing set aside");
    });

    it("stores NUL characters from the body and the metadata header as U+FFFD, readable everywhere", {
      skip,
    }, async () => {
      const id = await proxied(
        JSON.stringify({
          model: "m\u0000",
          user: "u\u0000",
          metadata: { feature: "f\u0000" },
          messages: [{ role: "user", content: "nul \u0000 here" }],
        }),
        JSON.stringify({ promptVersion: "a\u0000b", "k\u0000": 1 }),
      );
      const call = await storedCall<Body>(suite.s, id);
      assert.equal(call.request.messages[0].content, "nul \ufffd here");
      assert.equal(call.requestedModel, "m\ufffd");
      assert.equal(call.userId, "u\ufffd");
      assert.deepEqual(call.metadata, { feature: "f\ufffd", promptVersion: "a\ufffdb", "k\ufffd": 1 });
      assert.match(call.response.choices[0].message.content, /nul \ufffd here/);

      const list = await suite.s.api<{ data: Body[] }>("/api/calls?limit=100");
      assert.equal(list.status, 200);
      assert.ok(list.body.data.some((c) => c.id === id));
      const series = await suite.s.api<{ buckets: Body[] }>(
        "/api/metrics/timeseries?metric=volume&groupBy=promptVersion",
      );
      assert.equal(series.status, 200, JSON.stringify(series.body));
      assert.ok(series.body.buckets.some((b) => b.group === "a\ufffdb"));
    });

    it("stores lone surrogates (\\ud800 escapes) from the body and the metadata header as U+FFFD, readable everywhere", {
      skip,
    }, async () => {
      // Escapes written by hand: JSON.stringify would write them the same way, and PostgreSQL's jsonb refuses them.
      const id = await proxied(
        '{"model":"m","messages":[{"role":"user","content":"half \\ud800 pair, whole \\ud83d\\ude00"}]}',
        '{"promptVersion":"v\\udfff"}',
      );
      const call = await storedCall<Body>(suite.s, id);
      assert.equal(call.request.messages[0].content, "half \ufffd pair, whole \u{1f600}");
      assert.deepEqual(call.metadata, { promptVersion: "v\ufffd" });
      const annotated = await suite.s.api("/api/annotations", {
        body: { annotationKey: id, numericReward: 1 },
      });
      assert.equal(annotated.status, 201, JSON.stringify(annotated.body));
      for (const metric of ["volume", "reward"]) {
        const series = await suite.s.api<{ buckets: Body[] }>(
          `/api/metrics/timeseries?metric=${metric}&groupBy=promptVersion`,
        );
        assert.equal(series.status, 200, `${metric}: ${JSON.stringify(series.body)}`);
      }
      assert.equal((await suite.s.api("/api/calls?limit=100")).status, 200);
    });

    it("refuses x-intersebd-metadata nested deeper than readers can walk, with a 400 naming the header", {
      skip,
    }, async () => {
      const r = await suite.s.api<Body>("/v1/chat/completions", {
        body: { model: "m", messages: [] },
        headers: { "x-intersebd-metadata": `{"a":${"[".repeat(2000)}${"]".repeat(2000)}}` },
      });
      assert.equal(r.status, 400);
      assert.equal(r.body.error.field, "x-intersebd-metadata");
    });

    it("sets aside, counts and logs a call that cannot be built, in rejected-YYYY-MM-DD.jsonl", {
      skip,
    }, async () => {
      const call: UnbuiltCall = {
        id: "call_unbuilt",
        startedAt: Date.now(),
        endedAt: Date.now(),
        upstream: "default",
        path: "/v1/chat/completions",
        status: 200,
        outcome: "ok",
        error: null,
        requestText: '{"model":"m"}',
        responseText: null,
        sessionId: null,
        userId: null,
        tags: [],
      };
      suite.s.ctx.recorder.setAside(
        call.id,
        "unbuildable",
        new RangeError("too deep"),
        unbuiltRow(call, "full"),
      );
      await suite.s.ctx.recorder.flush();
      const dir = suite.s.config.dataDir;
      const files = fs.readdirSync(dir).filter((f) => /^rejected-\d{4}-\d{2}-\d{2}\.jsonl$/.test(f));
      assert.equal(files.length, 1);
      const lines = fs
        .readFileSync(path.join(dir, files[0] as string), "utf8")
        .trim()
        .split("\n")
        .map((l) => JSON.parse(l) as Body);
      const line = lines.find((l) => l.id === "call_unbuilt");
      assert.equal(line?.reason, "unbuildable");
      assert.equal(line?.error, "RangeError: too deep");
      assert.equal(line?.row.requestText, '{"model":"m"}');
      const metrics = await fetch(`${suite.s.url}/metrics`).then((m) => m.text());
      assert.match(metrics, /intersebd_rejected_records_total\{reason="unbuildable"\} 1/);
    });
  });
}
