/**
 * The shadow runner through the socket, on each dialect: a ShadowRunner is built on a running server and offered
 * calls built here (the control's answer comes from a real call through the proxy, so the judged pair's calls are
 * stored). The candidate's copy goes through this server's proxy to the fake upstream (or to a held upstream that
 * answers when the test says, or never), so what the candidate was sent, the caps and the stored verdicts are
 * observed from outside the runner.
 */
import assert from "node:assert/strict";
import http from "node:http";
import { after, before, describe, it } from "node:test";
import type { CapturedCall } from "../calls/record.ts";
import {
  DIALECTS,
  eventually,
  type FakeUpstream,
  postgresAvailable,
  startFakeUpstream,
  startTestServer,
  type TestServer,
} from "../testing/index.ts";
import type { Experiment } from "./schemas.ts";
import { ShadowRunner, shadowRequest } from "./shadow.ts";

/** An upstream that holds every request until the test releases it (with a status), counting those it holds. */
async function startHeldUpstream() {
  const held: Array<{ body: string; headers: http.IncomingHttpHeaders; answer(status: number): void }> = [];
  let received = 0;
  let answered = 0;
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      received++;
      const entry = {
        body: Buffer.concat(chunks).toString("utf8"),
        headers: req.headers,
        answer(status: number) {
          held.splice(held.indexOf(entry), 1);
          if (res.destroyed) return;
          answered++;
          res.writeHead(status, { "content-type": "application/json" });
          res.end(
            status === 200
              ? JSON.stringify({
                  id: "chatcmpl-held",
                  object: "chat.completion",
                  model: "held-model",
                  choices: [
                    { index: 0, message: { role: "assistant", content: "held" }, finish_reason: "stop" },
                  ],
                })
              : JSON.stringify({ error: { message: `held upstream answered ${status}` } }),
          );
        },
      };
      held.push(entry);
      res.on("close", () => {
        const i = held.indexOf(entry);
        if (i >= 0 && !res.writableFinished) held.splice(i, 1);
      });
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  const port = (server.address() as { port: number }).port;
  return {
    url: `http://127.0.0.1:${port}/v1`,
    held,
    received: () => received,
    answered: () => answered,
    releaseAll(status: number) {
      for (const h of [...held]) h.answer(status);
    },
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

const CANDIDATE = {
  name: "b",
  weight: 1,
  model: "gpt-4o-mini",
  systemPrompt: "Write short titles [[GOOD]]",
  promptVersion: "v2",
};
const HELD_CANDIDATE = { name: "b", weight: 1, upstream: "held", model: "held-model" };

/**
 * Creates an experiment in status shadow through the API, so the proxy's live view has it and records the
 * shadow calls under it, and returns its definition as the proxy would hand it over.
 */
async function createExperiment(
  s: TestServer,
  name: string,
  opts: { variants?: object[]; shadow?: Record<string, unknown> } = {},
): Promise<Experiment> {
  const res = await s.api<Experiment>("/api/experiments", {
    body: {
      name,
      unit: "userId",
      status: "shadow",
      control: "a",
      variants: [{ name: "a", weight: 1 }, ...(opts.variants ?? [CANDIDATE])],
      shadow: { sample: 1, concurrency: 4, timeoutMs: 60_000, ...opts.shadow },
      by: "test",
    },
  });
  assert.equal(res.status, 201, JSON.stringify(res.body));
  return res.body;
}

const USER_TEXT = "title for: a day at the sea";

/** A real control call through the proxy (so it is stored), as the proxy's onCall would hand it over. */
async function controlCall(
  s: TestServer,
  extra: Partial<CapturedCall> = {},
  userText = USER_TEXT,
): Promise<CapturedCall> {
  const request = {
    model: "fake-model",
    messages: [
      { role: "system", content: "Write titles" },
      { role: "user", content: userText },
    ],
  };
  const res = await fetch(`${s.url}/v1/chat/completions`, {
    method: "POST",
    headers: { "content-type": "application/json", "x-intersebd-user-id": "u1" },
    body: JSON.stringify(request),
  });
  assert.equal(res.status, 200);
  const response = (await res.json()) as Record<string, unknown>;
  const id = res.headers.get("x-intersebd-call-id");
  assert.ok(id);
  const now = Date.now();
  return {
    id,
    startedAt: now - 5,
    endedAt: now,
    ttftMs: null,
    upstream: "default",
    path: "/chat/completions",
    // The client streamed: the candidate is asked for a whole answer all the same.
    stream: true,
    status: 200,
    outcome: "ok",
    error: null,
    request: { ...request, stream: true, stream_options: { include_usage: true } },
    response,
    sessionId: "s1",
    userId: "u1",
    tags: ["mine"],
    metadata: { feature: "titles", promptVersion: "v1" },
    source: "proxy",
    ...extra,
  };
}

async function counted(s: TestServer, outcome: string, name = "titles"): Promise<number> {
  const m = await s.ctx.metrics.shadowCalls.get();
  return m.values.find((v) => v.labels.experiment === name && v.labels.outcome === outcome)?.value ?? 0;
}

/** Chat requests the fake upstream got for a model. */
const sentFor = (fake: FakeUpstream, model: string) =>
  fake.requests
    .filter((r) => r.url.endsWith("/chat/completions"))
    .map((r) => ({ headers: r.headers, body: JSON.parse(r.body) as Record<string, unknown> }))
    .filter((r) => r.body.model === model);

describe("shadowRequest", () => {
  it("applies the variant's overrides and asks for a whole answer", () => {
    const body = shadowRequest(
      {
        model: "m",
        stream: true,
        stream_options: { include_usage: true },
        temperature: 1,
        messages: [{ role: "user", content: "hi" }],
      },
      CANDIDATE,
      {},
    );
    assert.deepEqual(body, {
      model: "gpt-4o-mini",
      temperature: 1,
      messages: [
        { role: "system", content: "Write short titles [[GOOD]]" },
        { role: "user", content: "hi" },
      ],
    });
  });
});

for (const dialect of DIALECTS) {
  describe(`shadow runs (${dialect})`, async () => {
    const skip = dialect === "postgres" && !(await postgresAvailable());
    let fake: FakeUpstream;
    let held: Awaited<ReturnType<typeof startHeldUpstream>>;
    let s: TestServer;
    const runners: ShadowRunner[] = [];
    const runner = (opts?: ConstructorParameters<typeof ShadowRunner>[1]) => {
      const r = new ShadowRunner(s.ctx, opts);
      runners.push(r);
      return r;
    };

    before(async () => {
      if (skip) return;
      fake = await startFakeUpstream();
      held = await startHeldUpstream();
      s = await startTestServer(dialect, {
        upstream: fake.url,
        env: { INTERSEBD_UPSTREAMS: `held=${held.url}` },
      });
    });
    after(async () => {
      if (skip) return;
      held?.releaseAll(200);
      for (const r of runners) await r.stop();
      await s?.stop();
      await fake?.close();
      await held?.close();
    });

    it("sends the candidate a copy of the request with the variant's overrides", async (t) => {
      if (skip) return t.skip("PostgreSQL unreachable");
      const r = runner();
      const call = await controlCall(s);
      r.offer(call, await createExperiment(s, "titles"), { authorization: "Bearer sk-client" });
      const [sent] = await eventually(
        () => {
          const got = sentFor(fake, "gpt-4o-mini");
          return got.length === 1 && got;
        },
        5000,
        "the shadow call at the upstream",
      );
      assert.ok(sent);
      assert.deepEqual(sent.body, {
        model: "gpt-4o-mini",
        messages: [
          { role: "system", content: "Write short titles [[GOOD]]" },
          { role: "user", content: USER_TEXT },
        ],
      });
      // The client's credential reaches the upstream its own call went to; intersebd's headers stop at the proxy.
      assert.equal(sent.headers.authorization, "Bearer sk-client");
      assert.equal(sent.headers["x-intersebd-shadow-of"], undefined);
      await eventually(async () => (await counted(s, "ok")) === 1, 5000, "the ok count");
      // The proxy stores it as a shadow call of the experiment, linked to the call it copies, with the original's
      // user and session and the candidate's prompt version.
      const stored = await eventually(async () => {
        const rows = await s.ctx.store.db
          .selectFrom("calls")
          .selectAll()
          .where("shadowOf", "=", call.id)
          .execute();
        return rows.length === 1 && rows[0];
      });
      assert.equal(stored.experiment, "titles");
      assert.equal(stored.variant, "b");
      assert.equal(stored.requestedModel, "gpt-4o-mini");
      assert.equal(stored.userId, "u1");
      assert.equal(stored.sessionId, "s1");
      // Every tag it answers to besides its id and completion id: its experiment's, derived from its columns.
      const tags = await s.ctx.store.db
        .selectFrom("callKeys")
        .select("tag")
        .where("callId", "=", stored.id)
        .where("tag", "not in", [stored.id, stored.completionId ?? stored.id])
        .execute();
      assert.deepEqual(tags.map((t) => t.tag).sort(), ["exp:titles", "exp:titles:b"]);
      assert.equal(stored.outcome, "ok");
      assert.deepEqual(JSON.parse(stored.metadata), { feature: "titles", promptVersion: "v2" });
      assert.notEqual(stored.id, call.id);
    });

    it("shadows a call whose metadata or prompt version is not Latin-1 (header JSON is escaped)", async (t) => {
      if (skip) return t.skip("PostgreSQL unreachable");
      const r = runner();
      const call = await controlCall(s, { metadata: { feature: "見出し", promptVersion: "v1" } });
      r.offer(
        call,
        await createExperiment(s, "unicode", { variants: [{ ...CANDIDATE, promptVersion: "v2-短い" }] }),
      );
      await eventually(
        async () =>
          (await counted(s, "ok", "unicode")) + (await counted(s, "network_error", "unicode")) === 1,
        5000,
        "the shadow call's outcome",
      );
      assert.equal(await counted(s, "ok", "unicode"), 1);
      const stored = await eventually(async () => {
        const rows = await s.ctx.store.db
          .selectFrom("calls")
          .select(["metadata", "variant"])
          .where("shadowOf", "=", call.id)
          .execute();
        return rows.length === 1 && rows[0];
      });
      assert.deepEqual(JSON.parse(stored.metadata), { feature: "見出し", promptVersion: "v2-短い" });
    });

    it("shadows a sampled share of calls, the same calls on every instance, and only completed chat calls", async (t) => {
      if (skip) return t.skip("PostgreSQL unreachable");
      const exp = await createExperiment(s, "sampled", { shadow: { sample: 0.5, concurrency: 256 } });
      const base = await controlCall(s);
      const ids = Array.from({ length: 200 }, (_, i) => `call_sample_${i}`);
      const a = runner();
      const b = runner();
      // The decision is taken in offer itself: a call drawn is in flight as soon as offer returns.
      const drawnBy = (r: ShadowRunner) =>
        ids.map((id) => {
          const before = r.inFlight("sampled");
          r.offer({ ...base, id }, exp, {});
          return r.inFlight("sampled") > before;
        });
      const sent = sentFor(fake, "gpt-4o-mini").length;
      const byA = drawnBy(a);
      const shadowedByA = byA.filter(Boolean).length;
      // Half of 200 within a wide margin (binomial sd ≈ 7): the sample is a share, not all or nothing.
      assert.ok(shadowedByA > 60 && shadowedByA < 140, `${shadowedByA} of 200 shadowed`);
      await eventually(() => a.inFlight("sampled") === 0, 10_000, "the sampled shadow calls");
      assert.equal(sentFor(fake, "gpt-4o-mini").length - sent, shadowedByA);
      // Another instance draws the same calls: the decision is a hash of the call id.
      assert.deepEqual(drawnBy(b), byA);
      await eventually(() => b.inFlight("sampled") === 0, 10_000);

      // Not shadowed: a failed call, a call that is a shadow itself, an experiment not in shadow.
      const sentNow = sentFor(fake, "gpt-4o-mini").length;
      const one = await createExperiment(s, "one");
      a.offer({ ...base, id: "call_failed", outcome: "upstream_error", status: 500 }, one, {});
      a.offer({ ...base, id: "call_shadow", shadowOf: "call_x" }, one, {});
      a.offer({ ...base, id: "call_embed", path: "/embeddings" }, one, {});
      a.offer({ ...base, id: "call_running" }, { ...one, status: "running" }, {});
      assert.equal(a.inFlight("one"), 0);
      assert.equal(sentFor(fake, "gpt-4o-mini").length, sentNow);
    });

    it("returns from offer at once whatever the shadow upstream does: slow, failing or hanging", async (t) => {
      if (skip) return t.skip("PostgreSQL unreachable");
      const r = runner();
      const call = await controlCall(s);
      const failing = await createExperiment(s, "failing", { variants: [HELD_CANDIDATE] });
      const hanging = await createExperiment(s, "hanging", {
        variants: [HELD_CANDIDATE],
        shadow: { timeoutMs: 150 },
      });

      // Slow, then answers 500: offer came back before the upstream even got the request; the error is counted.
      const received = held.received();
      r.offer(call, failing, { authorization: "Bearer sk-client" });
      assert.equal(held.received(), received, "offer returned before the request reached the upstream");
      assert.equal(r.inFlight("failing"), 1);
      await eventually(() => held.held.length === 1, 5000, "the held request");
      // Another upstream than the client's: its credential stays behind.
      assert.equal(held.held[0]?.headers.authorization, undefined);
      held.releaseAll(500);
      await eventually(async () => (await counted(s, "upstream_error", "failing")) === 1);
      await eventually(() => r.inFlight("failing") === 0);
      const failed = await eventually(() =>
        s.ctx.store.db.selectFrom("calls").selectAll().where("shadowOf", "=", call.id).executeTakeFirst(),
      );
      assert.deepEqual(
        [failed.experiment, failed.variant, failed.outcome],
        ["failing", "b", "upstream_error"],
      );

      // Hanging: aborted at the timeout, counted, and the proxy records the call it gave up on.
      r.offer({ ...call, id: `${call.id}-hang` }, hanging, {});
      assert.equal(r.inFlight("hanging"), 1);
      await eventually(async () => (await counted(s, "timeout", "hanging")) === 1, 5000, "the timeout");
      await eventually(() => r.inFlight("hanging") === 0);
      const aborted = await eventually(
        () =>
          s.ctx.store.db
            .selectFrom("calls")
            .selectAll()
            .where("shadowOf", "=", `${call.id}-hang`)
            .executeTakeFirst(),
        5000,
        "the stored aborted shadow call",
      );
      assert.deepEqual([aborted.experiment, aborted.outcome], ["hanging", "client_aborted"]);
    });

    it("holds the concurrency cap: over it, offers are skipped and counted, not queued", async (t) => {
      if (skip) return t.skip("PostgreSQL unreachable");
      const r = runner();
      const call = await controlCall(s);
      const exp = await createExperiment(s, "capped", {
        variants: [HELD_CANDIDATE],
        shadow: { concurrency: 2 },
      });
      const answered = held.answered();
      for (let i = 0; i < 5; i++) r.offer({ ...call, id: `${call.id}-c${i}` }, exp, {});
      assert.equal(await counted(s, "skipped_concurrency", "capped"), 3);
      await eventually(() => held.held.length === 2, 5000, "two held shadow calls");
      assert.equal(r.inFlight("capped"), 2);
      held.releaseAll(200);
      await eventually(async () => (await counted(s, "ok", "capped")) === 2);
      await eventually(() => r.inFlight("capped") === 0);
      assert.equal(held.answered() - answered, 2);
      // With the slots free again, the next offer goes out.
      r.offer({ ...call, id: `${call.id}-c5` }, exp, {});
      await eventually(() => held.held.length === 1);
      held.releaseAll(200);
      await eventually(async () => (await counted(s, "ok", "capped")) === 3);
    });

    it("stops shadowing for the day once the daily cost cap is reached, and starts again the next day", async (t) => {
      if (skip) return t.skip("PostgreSQL unreachable");
      let now = Date.now();
      const r = runner({ now: () => now });
      const call = await controlCall(s);
      // Any priced shadow call reaches it (gpt-4o-mini is priced; the fake upstream reports usage).
      const exp = await createExperiment(s, "costly", { shadow: { dailyCostUsd: 1e-9 } });
      r.offer({ ...call, id: `${call.id}-d1` }, exp, {});
      await eventually(async () => (await counted(s, "ok", "costly")) === 1 && r.inFlight("costly") === 0);
      const sent = sentFor(fake, "gpt-4o-mini").length;
      r.offer({ ...call, id: `${call.id}-d2` }, exp, {});
      r.offer({ ...call, id: `${call.id}-d3` }, exp, {});
      await eventually(async () => (await counted(s, "skipped_daily_cost", "costly")) === 2);
      assert.equal(r.inFlight("costly"), 0);
      assert.equal(sentFor(fake, "gpt-4o-mini").length, sent);
      // Another instance reads today's shadow cost from the store: the call this one paid for is there.
      await eventually(() =>
        s.ctx.store.db
          .selectFrom("calls")
          .select("costUsd")
          .where("experiment", "=", "costly")
          .where("shadowOf", "is not", null)
          .where("costUsd", ">", 0)
          .executeTakeFirst(),
      );
      const other = runner({ now: () => now });
      other.offer({ ...call, id: `${call.id}-o1` }, exp, {});
      await eventually(
        async () =>
          (await counted(s, "skipped_daily_cost", "costly")) === 3 && other.inFlight("costly") === 0,
      );
      assert.equal(sentFor(fake, "gpt-4o-mini").length, sent);
      // A new UTC day: the cap counts that day's shadow calls only.
      now += 86_400_000;
      r.offer({ ...call, id: `${call.id}-d4` }, exp, {});
      await eventually(async () => (await counted(s, "ok", "costly")) === 2 && r.inFlight("costly") === 0);
      assert.equal(sentFor(fake, "gpt-4o-mini").length, sent + 1);
    });

    it("judges a shadow pair with the pairwise judge and stores a comparison: a = control, b = shadow", async (t) => {
      if (skip) return t.skip("PostgreSQL unreachable");
      const r = runner();
      const call = await controlCall(s);
      const exp = await createExperiment(s, "judged", {
        shadow: { judge: { model: "fake-judge", mode: "pairwise", name: "titles-pairwise", sample: 1 } },
      });
      r.offer(call, exp, {});
      const row = await eventually(
        () =>
          s.ctx.store.db.selectFrom("comparisons").selectAll().where("a", "=", call.id).executeTakeFirst(),
        10_000,
        "the comparison",
      );
      // The fake judge prefers the answer with [[GOOD]]: the candidate's system prompt puts it there.
      assert.equal(row.choice, "b");
      assert.equal(row.source, "judge");
      assert.equal(row.annotatorId, "titles-pairwise");
      const shadow = await eventually(() =>
        s.ctx.store.db.selectFrom("calls").selectAll().where("id", "=", row.b).executeTakeFirst(),
      );
      assert.deepEqual(
        [shadow.requestedModel, shadow.experiment, shadow.variant, shadow.shadowOf],
        ["gpt-4o-mini", "judged", "b", call.id],
      );
      // The judge call went through the proxy, tagged for the experiment, not as one of its calls.
      const judgeCall = await eventually(() =>
        s.ctx.store.db
          .selectFrom("callTags")
          .innerJoin("calls", "calls.id", "callTags.callId")
          .select(["calls.requestedModel", "calls.experiment"])
          .where("callTags.tag", "=", "exp-judge:judged")
          .executeTakeFirst(),
      );
      assert.equal(judgeCall.requestedModel, "fake-judge");
      assert.equal(judgeCall.experiment, null);
      await eventually(() => r.inFlight("judged") === 0);
      assert.equal(await counted(s, "ok", "judged"), 1, "the judge call is not counted as a shadow call");

      // Sample 0: the pair is not judged.
      const unjudged = await createExperiment(s, "unjudged", {
        shadow: { judge: { model: "fake-judge", mode: "pairwise", sample: 0 } },
      });
      const other = await controlCall(s);
      r.offer(other, unjudged, {});
      await eventually(
        async () => (await counted(s, "ok", "unjudged")) === 1 && r.inFlight("unjudged") === 0,
      );
      const none = await s.ctx.store.db
        .selectFrom("comparisons")
        .selectAll()
        .where("a", "=", other.id)
        .execute();
      assert.deepEqual(none, []);
    });

    it("scores both answers with an absolute judge and stores check: annotations for both calls", async (t) => {
      if (skip) return t.skip("PostgreSQL unreachable");
      const r = runner();
      const call = await controlCall(s);
      const exp = await createExperiment(s, "checked", {
        shadow: {
          judge: { model: "fake-judge", mode: "absolute", name: "quality", sample: 1 },
          checks: [
            { type: "regex", name: "good", pattern: "\\[\\[GOOD\\]\\]" },
            "regex:^echo",
            // Does not apply (no human correction yet): stores nothing.
            "equals",
          ],
        },
      });
      r.offer(call, exp, {});
      await eventually(() => r.inFlight("checked") === 0 && true, 10_000);
      const rows = await eventually(
        async () => {
          const got = await s.ctx.store.db
            .selectFrom("annotations")
            .selectAll()
            .where("annotatorId", "in", ["experiment:checked", "fake-judge"])
            .orderBy("name")
            .orderBy("numericReward")
            .execute();
          return got.length === 6 && got;
        },
        5000,
        "six annotations",
      );
      const shadowId = rows.find((a) => a.name === "check:good" && a.numericReward === 1)?.key;
      assert.ok(shadowId && shadowId !== call.id);
      assert.deepEqual(
        rows.map((a) => [a.name, a.key === call.id ? "control" : "shadow", a.numericReward, a.source]).sort(),
        [
          ["check:good", "control", 0, "code"],
          ["check:good", "shadow", 1, "code"],
          ["check:regex:^echo", "control", 1, "code"],
          ["check:regex:^echo", "shadow", 1, "code"],
          // The fake judge's default score is 3 of 1-5.
          ["quality", "control", 0.5, "judge"],
          ["quality", "shadow", 0.5, "judge"],
        ].sort(),
      );
      // They resolve to the calls, so the report (and the call's page) reads them like any annotation; the shadow
      // call may be written after its verdicts (the recorder writes behind), which resolve when it is.
      await eventually(
        async () => {
          const resolved = await s.ctx.store.db
            .selectFrom("callAnnotations")
            .select("callId")
            .where(
              "annotationId",
              "in",
              rows.map((a) => a.id),
            )
            .execute();
          return resolved.length === 6;
        },
        5000,
        "six resolved annotations",
      );
      // Offered again, the same verdicts are not stored twice.
      r.offer({ ...call }, exp, {});
      await eventually(async () => (await counted(s, "ok", "checked")) === 2 && r.inFlight("checked") === 0);
      const again = await s.ctx.store.db
        .selectFrom("annotations")
        .select("id")
        .where("annotatorId", "=", "experiment:checked")
        .where("key", "=", call.id)
        .execute();
      assert.equal(again.length, 2);
    });

    it("runs floor checks (moderation, a floor judge) on both answers through the proxy and stores floor annotations", async (t) => {
      if (skip) return t.skip("PostgreSQL unreachable");
      const r = runner();
      const exp = await createExperiment(s, "floored", {
        shadow: {
          checks: [
            { type: "moderation", name: "mod" },
            {
              type: "floor",
              name: "floor-judge",
              model: "fake-judge",
              flags: ["violence", "meeting in person"],
            },
          ],
        },
      });
      // The fake upstream echoes the user's message, so both answers hold the marker and both are flagged.
      const moderatedBefore = fake.requests.filter((q) => q.url === "/v1/moderations").length;
      const flagged = await controlCall(s, {}, "title for: [[FLAG:violence]] a fight at sea");
      const clean = await controlCall(s);
      r.offer(flagged, exp, {});
      r.offer(clean, exp, {});
      const rows = await eventually(
        async () => {
          const got = await s.ctx.store.db
            .selectFrom("annotations")
            .selectAll()
            .where("name", "=", "floor")
            .where("annotatorId", "=", "experiment:floored")
            .execute();
          return got.length === 8 && got;
        },
        10_000,
        "two floor annotations per call, four calls",
      );
      const shadowOf = new Map<string, string>();
      for (const c of await s.ctx.store.db
        .selectFrom("calls")
        .select(["id", "shadowOf"])
        .where("experiment", "=", "floored")
        .execute())
        if (c.shadowOf) shadowOf.set(c.id, c.shadowOf);
      assert.equal(shadowOf.size, 2, "one shadow call per offer");
      const pairOf = (key: string) => shadowOf.get(key) ?? key;
      const seen = rows
        .map((a) => {
          const data = JSON.parse(String(a.data)) as { flags: string[]; checker: string; check: string };
          return [
            pairOf(a.key) === flagged.id ? "flagged" : pairOf(a.key) === clean.id ? "clean" : a.key,
            shadowOf.has(a.key) ? "shadow" : "control",
            data.check,
            data.checker,
            a.source,
            a.numericReward,
            data.flags.join(","),
          ].join(" ");
        })
        .sort();
      assert.deepEqual(seen, [
        "clean control floor-judge judge judge 1 ",
        "clean control mod moderation code 1 ",
        "clean shadow floor-judge judge judge 1 ",
        "clean shadow mod moderation code 1 ",
        "flagged control floor-judge judge judge 0 violence",
        "flagged control mod moderation code 0 violence",
        "flagged shadow floor-judge judge judge 0 violence",
        "flagged shadow mod moderation code 0 violence",
      ]);
      // The check: annotations too, the floor judge's as a judge's verdict.
      const checks = await s.ctx.store.db
        .selectFrom("annotations")
        .select(["name", "source"])
        .where("annotatorId", "=", "experiment:floored")
        .where("name", "like", "check:%")
        .where("key", "=", flagged.id)
        .orderBy("name")
        .execute();
      assert.deepEqual(checks, [
        { name: "check:floor-judge", source: "judge" },
        { name: "check:mod", source: "code" },
      ]);
      // The floor judge's calls went through the proxy tagged as the experiment's judge calls, not its own (the
      // proxy stores chat calls only: the moderation requests are seen at the upstream).
      const judgeCalls = await eventually(async () => {
        const got = await s.ctx.store.db
          .selectFrom("callTags")
          .innerJoin("calls", "calls.id", "callTags.callId")
          .select(["calls.requestedModel", "calls.experiment"])
          .where("callTags.tag", "=", "exp-judge:floored")
          .execute();
        return got.length === 4 && got;
      });
      assert.deepEqual(judgeCalls, Array(4).fill({ requestedModel: "fake-judge", experiment: null }));
      assert.equal(fake.requests.filter((q) => q.url === "/v1/moderations").length - moderatedBefore, 4);
    });

    it("stop() waits a bounded time, then aborts shadow calls in flight; later offers do nothing", async (t) => {
      if (skip) return t.skip("PostgreSQL unreachable");
      const r = runner({ stopGraceMs: 50 });
      const call = await controlCall(s);
      const exp = await createExperiment(s, "stopping", { variants: [HELD_CANDIDATE] });
      r.offer(call, exp, {});
      await eventually(() => held.held.length === 1);
      await r.stop();
      assert.equal(r.inFlight("stopping"), 0);
      assert.equal(await counted(s, "aborted", "stopping"), 1);
      r.offer({ ...call, id: `${call.id}-late` }, exp, {});
      assert.equal(r.inFlight("stopping"), 0);
    });

    it("leaves the client's answer byte-identical, and a hanging shadow upstream changes nothing for it", async (t) => {
      if (skip) return t.skip("PostgreSQL unreachable");
      // The server's own runner, wired to the proxy: a call routed through an experiment in shadow is offered.
      await createExperiment(s, "live", { variants: [HELD_CANDIDATE], shadow: { timeoutMs: 600_000 } });
      const ask = async (headers: Record<string, string>) => {
        const res = await fetch(`${s.url}/v1/chat/completions`, {
          method: "POST",
          headers: {
            "content-type": "application/json",
            // A recorded stream, replayed byte for byte: two answers can be compared byte for byte.
            "x-fake-fixture": "173417d5",
            authorization: "Bearer sk-client",
            ...headers,
          },
          body: JSON.stringify({
            model: "gpt-4o-mini",
            stream: true,
            messages: [{ role: "user", content: "hello" }],
          }),
        });
        const body = Buffer.from(await res.arrayBuffer());
        const kept = [...res.headers].filter(([k]) => k !== "date" && k !== "x-intersebd-call-id");
        return { status: res.status, headers: kept, body, id: res.headers.get("x-intersebd-call-id") };
      };
      const plain = await ask({});
      const heldBefore = held.held.length;
      const shadowed = await ask({ "x-intersebd-experiment": "live", "x-intersebd-user-id": "u9" });
      assert.equal(plain.status, 200);
      assert.ok(plain.body.length > 0);
      assert.deepEqual(
        { status: shadowed.status, headers: shadowed.headers, body: shadowed.body.toString("base64") },
        { status: plain.status, headers: plain.headers, body: plain.body.toString("base64") },
      );
      // The client has its whole answer while the candidate's copy hangs at its upstream.
      await eventually(() => held.held.length === heldBefore + 1, 5000, "the hanging shadow call");
      const copy = held.held.at(-1);
      assert.ok(copy);
      assert.equal(JSON.parse(copy.body).stream, undefined);
      assert.equal(JSON.parse(copy.body).model, "held-model");
      // ... and so does the next client, though the shadow is still hanging.
      const again = await ask({ "x-intersebd-experiment": "live", "x-intersebd-user-id": "u9" });
      assert.deepEqual(again.body, plain.body);
      const stored = await eventually(() =>
        s.ctx.store.db.selectFrom("calls").selectAll().where("id", "=", shadowed.id).executeTakeFirst(),
      );
      assert.deepEqual([stored.experiment, stored.variant, stored.shadowOf], ["live", "a", null]);
      held.releaseAll(200);
      const shadow = await eventually(() =>
        s.ctx.store.db
          .selectFrom("calls")
          .selectAll()
          .where("shadowOf", "=", shadowed.id)
          .where("outcome", "=", "ok")
          .executeTakeFirst(),
      );
      assert.deepEqual([shadow.experiment, shadow.variant], ["live", "b"]);
    });
  });
}
