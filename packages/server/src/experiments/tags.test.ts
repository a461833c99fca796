/**
 * A call routed through an experiment answers to `exp:<name>` and `exp:<name>:<variant>` without `call_tags`
 * rows (calls/experiment-tags.ts, migration 0021): every path that reads tags still reaches it by them, on both
 * stores. The list's tag filter, a dataset and an export by tag, an annotation on the tag, a link from it, a call
 * stored after the annotation, an alert rule's tag filter, erasure by tag, and retention (a comparison naming
 * the tag keeps the call; a link from a tag no call answers to any more goes).
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { measure } from "../alerts/measure.ts";
import { alertRuleSchema } from "../alerts/schemas.ts";
import type { ErasureResultView } from "../erasure/schemas.ts";
import { runRetention } from "../retention/expire.ts";
import { DIALECTS, serverForSuite, type TestServer } from "../testing/harness.ts";

function callBody(id: string, experiment?: string, variant?: string, tags: string[] = []) {
  return {
    id,
    tags,
    ...(experiment ? { experiment, variant } : {}),
    request: { model: "gpt-4o-mini", messages: [{ role: "user", content: `question ${id}` }] },
    response: {
      id: `cmpl-${id}`,
      object: "chat.completion",
      created: 1_700_000_000,
      model: "gpt-4o-mini",
      choices: [{ index: 0, message: { role: "assistant", content: `answer ${id}` }, finish_reason: "stop" }],
    },
  };
}

async function post(s: TestServer, path: string, body: unknown): Promise<void> {
  const r = await s.api(path, { body });
  assert.equal(r.status, 201, `POST ${path} → ${r.status} ${JSON.stringify(r.body)}`);
}

const idsTagged = async (s: TestServer, tag: string) =>
  (await s.api<{ data: Array<{ id: string }> }>(`/api/calls?tag=${encodeURIComponent(tag)}`)).body.data
    .map((c) => c.id)
    .sort();

const annotationsOf = async (s: TestServer, id: string) =>
  (await s.api<{ annotations: Array<{ annotationKey: string }> }>(`/api/calls/${id}`)).body.annotations
    .map((a) => a.annotationKey)
    .sort();

for (const dialect of DIALECTS) {
  describe(`experiment tags (${dialect})`, () => {
    const server = serverForSuite(dialect, {}, { inProcess: true });

    it("reach a routed call through every path that reads tags, without call_tags rows", async (t) => {
      const s = server(t);
      if (!s) return;
      await post(s, "/api/calls", [
        callBody("a1", "titles", "a", ["thread-1"]),
        callBody("b1", "titles", "b"),
        // A tag the service gave that looks like an experiment's: its own, stored as any other.
        callBody("b2", "titles", "b", ["exp:other"]),
        callBody("p1"),
      ]);

      const rows = await s.ctx.store.db.selectFrom("callTags").select(["callId", "tag"]).execute();
      assert.deepEqual(
        rows.map((r) => `${r.callId} ${r.tag}`).sort(),
        ["a1 thread-1", "b2 exp:other"],
        "only the tags the calls were given are rows",
      );
      const a1 = (await s.api<{ tags: string[] }>("/api/calls/a1")).body;
      assert.deepEqual(
        [...a1.tags].sort(),
        ["exp:titles", "exp:titles:a", "thread-1"],
        "the call shows them",
      );

      assert.deepEqual(await idsTagged(s, "exp:titles"), ["a1", "b1", "b2"]);
      assert.deepEqual(await idsTagged(s, "exp:titles:b"), ["b1", "b2"]);
      assert.deepEqual(await idsTagged(s, "exp:other"), ["b2"]);
      assert.deepEqual(await idsTagged(s, "exp:titles:c"), []);

      await post(s, "/api/datasets", { name: "variant-b", filter: { tag: "exp:titles:b" } });
      assert.equal((await s.api<{ size: number }>("/api/datasets/variant-b")).body.size, 2);
      const report = await s.api<{ scanned: { calls: number } }>(
        "/api/export?format=openai-sft&tag=exp:titles:b&report=1",
      );
      assert.equal(report.body.scanned.calls, 2, JSON.stringify(report.body));

      // An annotation on the variant's tag, and one reached through a link from it.
      await post(s, "/api/annotations", { annotationKey: "exp:titles:a", name: "reward", numericReward: 1 });
      await post(s, "/api/links", { upstreamTag: "exp:titles:b", downstreamTag: "survey-1" });
      await post(s, "/api/annotations", { annotationKey: "survey-1", name: "reward", numericReward: 0 });
      assert.deepEqual(await annotationsOf(s, "a1"), ["exp:titles:a"]);
      assert.deepEqual(await annotationsOf(s, "b1"), ["survey-1"]);
      assert.deepEqual(await annotationsOf(s, "b2"), ["survey-1"]);
      assert.deepEqual(await annotationsOf(s, "p1"), []);
      // A call stored after the annotation takes it as it is stored, and one after the link what it leads to.
      await post(s, "/api/calls", [callBody("a2", "titles", "a"), callBody("b3", "titles", "b")]);
      assert.deepEqual(await annotationsOf(s, "a2"), ["exp:titles:a"]);
      assert.deepEqual(await annotationsOf(s, "b3"), ["survey-1"]);

      const rule = alertRuleSchema.parse({
        name: "variant-b-errors",
        condition: { kind: "error-rate", above: 0.5 },
        window: "1d",
        filter: { tags: ["exp:titles:b"] },
      });
      assert.equal((await measure(s.ctx.store, rule, Date.now() + 1000)).calls, 3);

      // Erasing the variant's tag takes its three calls, and the link and annotation that only lead to them.
      const dry = await s.api<ErasureResultView>("/api/tags/exp:titles:b?dryRun=true", { method: "DELETE" });
      assert.equal(dry.status, 200, JSON.stringify(dry.body));
      assert.equal(dry.body.counts.calls, 3);
      assert.equal(dry.body.counts.links, 1, "the link from exp:titles:b leads to its calls only");
      assert.equal(dry.body.counts.annotations, 1, "the annotation on survey-1 applies to them only");
    });
  });

  describe(`experiment tags under retention (${dialect})`, () => {
    const server = serverForSuite(dialect, {}, { inProcess: true });

    it("keep a call whose variant tag a comparison names, and drop a link from a tag no call answers to", async (t) => {
      const s = server(t);
      if (!s) return;
      await post(s, "/api/calls", [callBody("k1", "keep", "a"), callBody("k2", "keep", "b")]);
      await post(s, "/api/comparisons", { a: "exp:keep:a", b: "elsewhere", choice: "a" });
      await post(s, "/api/links", { upstreamTag: "exp:keep:b", downstreamTag: "feedback-b" });

      const counts = await runRetention(
        s.ctx.store,
        { callsMs: 1, intervalMs: 60_000, batch: 100, pauseMs: 0 },
        { now: Date.now() + 60_000 },
      );
      assert.equal(counts.callsDeleted, 1);
      const left = await s.ctx.store.db.selectFrom("calls").select("id").execute();
      assert.deepEqual(
        left.map((r) => r.id),
        ["k1"],
        "k1 is compared by its variant's tag; k2 is not kept",
      );
      const links = await s.ctx.store.db.selectFrom("links").select("upstreamTag").execute();
      assert.deepEqual(links, [], "no call answers to exp:keep:b any more");
    });
  });
}
