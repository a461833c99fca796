/**
 * Sampling at capture and pseudonymous user ids (issue 18 items 1 and 2): the decision's rates and always-keep
 * rules, and through a running server (proxy and SDK ingest) that sampled-out calls are counted and not stored
 * and that a clear user id reaches no file of the data directory, no log line and no API answer.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { loadConfig } from "../config/index.ts";
import { parseSampleRules, type SamplingConfig } from "../config/sampling.ts";
import { startFakeUpstream } from "../fake-upstream/index.ts";
import {
  capturedCall,
  DIALECTS,
  postgresAvailable,
  startTestServer,
  type TestServer,
} from "../testing/index.ts";
import { newId } from "../util/ids.ts";
import { pseudonymize, storedUserId } from "./pseudonym.ts";
import { decideSample } from "./sampling.ts";

const sampling = (over: Partial<SamplingConfig> = {}): SamplingConfig => ({
  rate: 1,
  rules: [],
  keep: [],
  keepSlowMs: 0,
  keepTags: [],
  ...over,
});

describe("sampling decision", () => {
  it("keeps the configured share of calls, within 2 points over 20,000 ids, the same each time", () => {
    for (const rate of [0.1, 0.5]) {
      const s = sampling({ rate });
      let kept = 0;
      for (let i = 0; i < 20_000; i++) {
        const call = capturedCall({ id: newId("call") });
        const d = decideSample(s, call);
        assert.deepEqual(decideSample(s, call), d, "deterministic from the call id");
        if (d.keep) kept++;
      }
      assert.ok(Math.abs(kept / 20_000 - rate) < 0.02, `rate ${rate}: kept ${kept}`);
    }
  });

  it("the first matching rule gives the rate; others fall to the global rate", () => {
    const s = sampling({ rate: 1, rules: parseSampleRules("model=gpt-4o*:0; upstream=b:1") });
    const ids = Array.from({ length: 200 }, () => newId("call"));
    const of = (request: Record<string, unknown>, upstream = "default") =>
      ids.filter((id) => decideSample(s, capturedCall({ id, request, upstream })).keep).length;
    assert.equal(of({ model: "gpt-4o-mini" }), 0);
    assert.equal(of({ model: "gpt-4o-mini" }, "b"), 0, "first match wins");
    assert.equal(of({ model: "o3" }), 200);
    const dropped = decideSample(s, capturedCall({ id: ids[0], request: { model: "gpt-4o" } }));
    assert.deepEqual(dropped, { keep: false, rule: "model=gpt-4o*" });
  });

  it("always keeps errors, slow calls, kept tags, sessions, users, experiments and intersebd's own calls", () => {
    const s = sampling({
      rate: 0,
      keep: ["errors", "session", "user", "experiment"],
      keepSlowMs: 1000,
      keepTags: ["audit"],
    });
    const cases: Array<[string, Parameters<typeof capturedCall>[0]]> = [
      ["errors", { outcome: "upstream_error", status: 500 }],
      ["errors", { outcome: "timeout", status: null }],
      ["slow", { startedAt: 0, endedAt: 1500 }],
      ["tag", { tags: ["audit"] }],
      ["session", { sessionId: "s1" }],
      ["user", { request: { model: "m", user: "u1" } }],
      ["user", { metadata: { userId: "u1" } }],
      ["experiment", { experiment: "e" }],
      ["internal", { tags: ["eval:run_1"] }],
      ["internal", { shadowOf: "call_x" }],
    ];
    for (const [reason, over] of cases)
      assert.deepEqual(decideSample(s, capturedCall(over)), { keep: true, reason }, reason);
    assert.equal(decideSample(s, capturedCall({ startedAt: 0, endedAt: 900 })).keep, false);
    assert.equal(decideSample(sampling({ rate: 0 }), capturedCall({ sessionId: "s" })).keep, false);
  });

  it("refuses rules and settings it cannot read, naming the variable", () => {
    assert.throws(() => parseSampleRules("colour=red:0.1"), /field=pattern:rate/);
    assert.throws(() => parseSampleRules("model=x:2"), /rate from 0 to 1/);
    assert.throws(() => parseSampleRules('[{"rate": 0.5}]'), /needs model/);
    assert.deepEqual(parseSampleRules('[{"model": "ft:a:b", "path": "*chat*", "rate": 0.5}]'), [
      { match: { model: "ft:a:b", path: "*chat*" }, rate: 0.5 },
    ]);
    assert.deepEqual(parseSampleRules("model=ft:gpt-4o:org:0.25"), [
      { match: { model: "ft:gpt-4o:org" }, rate: 0.25 },
    ]);
    assert.throws(
      () => loadConfig({ INTERSEBD_SAMPLE_KEEP: "errors,nope" }),
      /INTERSEBD_SAMPLE_KEEP: "nope"/,
    );
    assert.throws(() => loadConfig({ INTERSEBD_HASH_USER_IDS: "1" }), /INTERSEBD_USER_ID_SECRET: required/);
  });
});

describe("pseudonymous user ids", () => {
  const config = { userIds: { hash: true, secret: "s".repeat(32) } };
  it("hashes every user id of a call the same way, and leaves hashed ids and other fields as they are", () => {
    const h = storedUserId(config, "alice");
    assert.match(h, /^uh_[0-9a-f]{64}$/);
    assert.equal(storedUserId(config, h), h, "already stored form");
    assert.equal(storedUserId({ userIds: { hash: false } }, "alice"), "alice");
    const call = pseudonymize(
      config,
      capturedCall({
        userId: "alice",
        metadata: { userId: "alice", team: "x" },
        request: { model: "m", user: "alice", metadata: { user_id: "alice" } },
        requestText: '{"model":"m","user":"alice"}',
        experiment: "e",
        assignmentUnit: "userId:alice",
      }),
    );
    assert.equal(call.userId, h);
    assert.deepEqual(call.metadata, { userId: h, team: "x" });
    assert.deepEqual(call.request, { model: "m", user: h, metadata: { user_id: h } });
    assert.equal(call.requestText, undefined, "the raw text held the clear id");
    assert.equal(call.assignmentUnit, `userId:${h}`);
  });
});

/** Every file under `dir`, recursively. */
function filesUnder(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? filesUnder(p) : e.isFile() ? [p] : [];
  });
}

for (const dialect of DIALECTS) {
  describe(`capture policy through the server (${dialect})`, () => {
    let s: TestServer | undefined;
    let upstream: Awaited<ReturnType<typeof startFakeUpstream>> | undefined;
    let skipped = false;
    const logged: string[] = [];
    const writes = { out: process.stdout.write, err: process.stderr.write };
    const secret = "test-user-id-secret-0123456789";
    before(async () => {
      if (dialect === "postgres" && !(await postgresAvailable())) {
        skipped = true;
        return;
      }
      upstream = await startFakeUpstream();
      // Everything the process writes while the server runs, to search for the clear id.
      const tap =
        (orig: typeof process.stdout.write) =>
        (chunk: string | Uint8Array, ...rest: unknown[]): boolean => {
          logged.push(String(chunk));
          return (orig as (...a: unknown[]) => boolean).call(process.stdout, chunk, ...rest);
        };
      process.stdout.write = tap(writes.out) as typeof process.stdout.write;
      process.stderr.write = tap(writes.err) as typeof process.stderr.write;
      s = await startTestServer(dialect, {
        upstream: upstream.url,
        inProcess: true,
        env: {
          INTERSEBD_LOG_LEVEL: "debug",
          INTERSEBD_UPSTREAMS: "dead=http://127.0.0.1:9/v1",
          INTERSEBD_SAMPLE_RATE: "0",
          INTERSEBD_SAMPLE_KEEP: "errors,user",
          INTERSEBD_HASH_USER_IDS: "1",
          INTERSEBD_USER_ID_SECRET: secret,
        },
      });
    });
    after(async () => {
      await s?.stop();
      await upstream?.close();
      process.stdout.write = writes.out;
      process.stderr.write = writes.err;
    });

    const chat = (srv: TestServer, prefix: string, body: Record<string, unknown>, headers = {}) =>
      fetch(`${srv.url}${prefix}/v1/chat/completions`, {
        method: "POST",
        headers: { "content-type": "application/json", authorization: "Bearer sk-test", ...headers },
        body: JSON.stringify({ model: "gpt-4o-mini", messages: [{ role: "user", content: "hi" }], ...body }),
      });

    it("stores kept calls with hashed user ids, leaves sampled-out ones out but counted, never writes the clear id", async (t) => {
      if (skipped) return t.skip("PostgreSQL unreachable: this test did NOT run on postgres");
      assert.ok(s);
      const clear = `clear-user-${newId("u")}`;
      const hashed = storedUserId({ userIds: { hash: true, secret } }, clear);
      const byHeader = await chat(s, "", {}, { "x-intersebd-user-id": clear });
      const byBody = await chat(s, "", { user: clear, metadata: { userId: clear } });
      const plain = await chat(s, "", {});
      const failed = await chat(s, "/dead", {});
      for (const r of [byHeader, byBody, plain])
        assert.equal(r.status, 200, "sampling never fails a request");
      assert.equal(failed.status, 502);
      const ids = [byHeader, byBody, plain, failed].map((r) => r.headers.get("x-intersebd-call-id"));
      await Promise.all([byHeader, byBody, plain, failed].map((r) => r.text()));
      const ingested = await s.api<{ data: Array<{ id: string; sampledOut?: true }> }>("/api/calls", {
        body: [
          {
            upstream: "sdk",
            path: "/chat/completions",
            userId: clear,
            request: { model: "m", user: clear, messages: [] },
            response: { model: "m", choices: [] },
            status: 200,
            outcome: "ok",
          },
          { upstream: "sdk", path: "/chat/completions", request: { model: "m" }, status: 200, outcome: "ok" },
        ],
      });
      assert.equal(ingested.status, 201, JSON.stringify(ingested.body));
      const [sdkKept, sdkLeft] = ingested.body.data;
      assert.equal(sdkKept?.sampledOut, undefined);
      assert.equal(sdkLeft?.sampledOut, true);
      await s.ctx.recorder.flush();

      const listed = await s.api<{ data: Array<{ id: string; userId: string | null }> }>(
        `/api/calls?userId=${encodeURIComponent(clear)}&limit=50`,
      );
      assert.equal(listed.status, 200);
      assert.deepEqual(
        listed.body.data.map((c) => c.id).sort(),
        [ids[0], ids[1], sdkKept?.id].sort(),
        "the filter's clear id is hashed like the stored ones",
      );
      for (const c of listed.body.data) assert.equal(c.userId, hashed);
      const one = await s.api<{ request: { user: string; metadata: { userId: string } } }>(
        `/api/calls/${ids[1]}`,
      );
      assert.equal(one.body.request.user, hashed);
      assert.equal(one.body.request.metadata.userId, hashed);
      assert.equal((await s.api(`/api/calls/${ids[2]}`)).status, 404, "sampled out: not stored");
      assert.equal((await s.api(`/api/calls/${ids[3]}`)).status, 200, "errors are always kept");
      assert.equal((await s.api(`/api/calls/${sdkLeft?.id}`)).status, 404);

      const metrics = await (await fetch(`${s.url}/metrics`)).text();
      assert.match(metrics, /intersebd_calls_sampled_out_total\{upstream="default",rule="rate"\} 1\b/);
      assert.match(metrics, /intersebd_calls_sampled_out_total\{upstream="sdk",rule="rate"\} 1\b/);
      assert.match(metrics, /intersebd_calls_sampling_decisions_total\{decision="kept",reason="user"\} 3\b/);
      assert.match(
        metrics,
        /intersebd_calls_sampling_decisions_total\{decision="kept",reason="errors"\} 1\b/,
      );
      assert.match(
        metrics,
        /intersebd_tokens_total\{[^}]*kind="prompt"[^}]*\} \d+/,
        "dropped calls' tokens count",
      );

      const apiAnswers = JSON.stringify([listed.body, one.body, ingested.body]);
      assert.ok(!apiAnswers.includes(clear), "no API answer holds the clear id");
      const files = filesUnder(s.config.dataDir);
      assert.ok(files.length > 0);
      for (const f of files)
        assert.ok(!fs.readFileSync(f).includes(clear), `${path.basename(f)} holds the clear user id`);
      assert.ok(/debug/.test(logged.join("")), "the debug log was captured");
      assert.ok(!logged.join("").includes(clear), "no log line holds the clear user id");
    });
  });
}
