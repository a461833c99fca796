/**
 * Resolution of the tag graph (PRODUCT.md "Concepts": Tag, Link, Resolution, Annotation), on every dialect:
 * hand-made graphs (chains, diamonds, cycles, fan-in, fan-out, every arrival order, the depth bound for each of
 * the three materializers), the read endpoints that show it, and a randomized property test that compares the
 * materialized `call_annotations` with a breadth-first reference computed here from the same edges.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { seededRandom } from "../evals/index.ts";
import { chatCallBody } from "../testing/calls.ts";
import {
  DIALECTS,
  postCreated,
  postgresAvailable,
  serverForSuite,
  startTestServer,
  type TestServer,
} from "../testing/harness.ts";

// ---------------------------------------------------------------------------------------------------------------
// Response shapes (only what the tests read)

interface AnnotationOut {
  id: string;
  annotationKey: string;
  name: string;
  numericReward: number | null;
  data: unknown;
  path: string[];
  depth: number;
}
interface LinkOut {
  upstreamTag: string;
  downstreamTag: string;
  metadata: Record<string, unknown> | null;
  depth?: number;
}
interface CallOut {
  id: string;
  completionId: string | null;
  tags: string[];
  annotations: AnnotationOut[];
  links: LinkOut[];
  annotationCount?: number;
  meanReward?: number | null;
}
interface TagOut {
  tag: string;
  calls: Array<{ id: string; completionId: string | null; depth: number; path: string[] }>;
  upstreamLinks: LinkOut[];
  downstreamLinks: LinkOut[];
  annotations: AnnotationOut[];
}
interface ListOut {
  data: CallOut[];
  nextCursor: string | null;
}

// ---------------------------------------------------------------------------------------------------------------
// Helpers

const ingest = (s: TestServer, id: string, completionId: string, tags: string[] = []) =>
  postCreated(s, "/api/calls", chatCallBody(id, { completionId, tags }));
const link = (
  s: TestServer,
  upstreamTag: string,
  downstreamTag: string,
  metadata?: Record<string, unknown>,
) =>
  postCreated(
    s,
    "/api/links",
    metadata ? { upstreamTag, downstreamTag, metadata } : { upstreamTag, downstreamTag },
  );
const annotate = (s: TestServer, body: Record<string, unknown>) => postCreated(s, "/api/annotations", body);

async function getCall(s: TestServer, id: string): Promise<CallOut> {
  const r = await s.api<CallOut>(`/api/calls/${encodeURIComponent(id)}`);
  assert.equal(r.status, 200, `GET /api/calls/${id} → ${r.status} ${JSON.stringify(r.body)}`);
  return r.body;
}

async function getTag(s: TestServer, tag: string): Promise<TagOut> {
  const r = await s.api<TagOut>(`/api/tags/${encodeURIComponent(tag)}`);
  assert.equal(r.status, 200, `GET /api/tags/${tag} → ${r.status} ${JSON.stringify(r.body)}`);
  return r.body;
}

async function list(s: TestServer, query: Record<string, string>): Promise<CallOut[]> {
  const r = await s.api<ListOut>(`/api/calls?${new URLSearchParams({ limit: "1000", ...query })}`);
  assert.equal(r.status, 200, `GET /api/calls?${new URLSearchParams(query)} → ${JSON.stringify(r.body)}`);
  return r.body.data;
}

/** key → depth of the annotations a call shows, failing on duplicates. */
function byKey(call: CallOut): Map<string, number> {
  const out = new Map<string, number>();
  for (const a of call.annotations) {
    assert.ok(!out.has(a.annotationKey), `annotation on ${a.annotationKey} listed twice on ${call.id}`);
    out.set(a.annotationKey, a.depth);
  }
  return out;
}

const sorted = (xs: Iterable<string>) => [...xs].sort();

/** All permutations of [0..n-1]. */
function permutations(n: number): number[][] {
  if (n === 0) return [[]];
  return permutations(n - 1).flatMap((p) =>
    Array.from({ length: n }, (_, i) => [...p.slice(0, i), n - 1, ...p.slice(i)]),
  );
}

// ---------------------------------------------------------------------------------------------------------------
// Hand-made graphs

const DEPTH = 5;

for (const dialect of DIALECTS) {
  describe(`tag graph resolution on ${dialect} (INTERSEBD_LINK_DEPTH=${DEPTH})`, () => {
    const server = serverForSuite(dialect, { INTERSEBD_LINK_DEPTH: String(DEPTH) });

    /**
     * cmpl → t1 → t2 → t3 → t4 → t5 → t6 with an annotation on every tag: the call's own tag (depth 0) up to
     * t5 (depth 5, exactly at the bound) resolve; t6 (one hop beyond) does not. `order` decides which
     * materializer has the last word: the annotations, the middle link, or the call.
     */
    async function chainAtTheBound(s: TestServer, p: string, order: "annotations" | "link" | "call") {
      const cmpl = `${p}-cmpl`;
      const tags = [cmpl, ...Array.from({ length: 6 }, (_, i) => `${p}-t${i + 1}`)];
      const links = tags.slice(1).map((d, i) => [tags[i] as string, d] as const);
      const middle = links[3] as readonly [string, string]; // t3 → t4: 3 hops before it, 2 after
      const annotations = () =>
        Promise.all(tags.map((key, i) => annotate(s, { id: `${p}-ann-${i}`, annotationKey: key })));
      if (order === "annotations") {
        await ingest(s, `${p}-call`, cmpl);
        for (const [u, d] of links) await link(s, u, d);
        await annotations();
      } else if (order === "link") {
        await ingest(s, `${p}-call`, cmpl);
        await annotations();
        for (const l of links) if (l !== middle) await link(s, ...l);
        await link(s, ...middle);
      } else {
        await annotations();
        for (const [u, d] of links) await link(s, u, d);
        await ingest(s, `${p}-call`, cmpl);
      }
      const call = await getCall(s, cmpl);
      const got = byKey(call);
      assert.deepEqual(
        sorted(got.keys()),
        sorted(tags.slice(0, 6)),
        `annotations at depth 0..${DEPTH} resolve and the one at ${DEPTH + 1} does not`,
      );
      for (const [i, key] of tags.slice(0, 6).entries()) {
        assert.equal(got.get(key), i, `depth of the annotation on ${key}`);
        const a = call.annotations.find((x) => x.annotationKey === key);
        assert.deepEqual(a?.path, tags.slice(0, i + 1), `path to ${key}`);
      }
      const [listed] = await list(s, { tag: `${p}-call` });
      assert.equal(listed?.annotationCount, 6, "the list counts the same 6 materialized annotations");
      const atBound = await getTag(s, `${p}-t5`);
      assert.deepEqual(
        atBound.calls.map((c) => [c.id, c.depth]),
        [[`${p}-call`, 5]],
      );
      assert.deepEqual(atBound.calls[0]?.path, tags.slice(0, 6));
      const beyond = await getTag(s, `${p}-t6`);
      assert.deepEqual(beyond.calls, [], "a tag one hop beyond the bound leads back to no call");
    }

    it("resolves a 5-hop chain exactly at the depth bound and not one hop beyond, when the annotations arrive last", async (t) => {
      const s = server(t);
      if (s) await chainAtTheBound(s, "chainA", "annotations");
    });

    it("applies the same depth bound when the middle link of the chain arrives last", async (t) => {
      const s = server(t);
      if (s) await chainAtTheBound(s, "chainL", "link");
    });

    it("applies the same depth bound when the call arrives after its links and annotations", async (t) => {
      const s = server(t);
      if (s) await chainAtTheBound(s, "chainC", "call");
    });

    it("lists an annotation reached by two paths of a diamond once, with the shortest path", async (t) => {
      const s = server(t);
      if (!s) return;
      // cmpl → short → sink, and cmpl → long1 → long2 → sink; links of the long side arrive first.
      await ingest(s, "dia-call", "dia-cmpl");
      await link(s, "dia-cmpl", "dia-long1");
      await link(s, "dia-long1", "dia-long2");
      await link(s, "dia-long2", "dia-sink");
      await annotate(s, { id: "dia-ann", annotationKey: "dia-sink", numericReward: 1 });
      await link(s, "dia-cmpl", "dia-short");
      await link(s, "dia-short", "dia-sink");
      const call = await getCall(s, "dia-cmpl");
      assert.equal(call.annotations.length, 1, JSON.stringify(call.annotations));
      assert.equal(call.annotations[0]?.id, "dia-ann");
      assert.equal(call.annotations[0]?.depth, 2);
      assert.deepEqual(call.annotations[0]?.path, ["dia-cmpl", "dia-short", "dia-sink"]);
      const sink = await getTag(s, "dia-sink");
      assert.deepEqual(
        sink.calls.map((c) => [c.id, c.depth, c.path]),
        [["dia-call", 2, ["dia-cmpl", "dia-short", "dia-sink"]]],
      );
      const [listed] = await list(s, { tag: "dia-call" });
      assert.equal(listed?.annotationCount, 1);
    });

    it("terminates on cycles and lists each annotation once at its shortest depth", async (t) => {
      const s = server(t);
      if (!s) return;
      // cmpl → a → b → a, and b → cmpl (back to the call's own tag); a 2-cycle on tags that have no call too.
      await link(s, "cyc-a", "cyc-b");
      await link(s, "cyc-b", "cyc-a");
      await link(s, "cyc-b", "cyc-cmpl");
      await annotate(s, { id: "cyc-ann-a", annotationKey: "cyc-a" });
      await annotate(s, { id: "cyc-ann-b", annotationKey: "cyc-b" });
      await annotate(s, { id: "cyc-ann-self", annotationKey: "cyc-cmpl" });
      await ingest(s, "cyc-call", "cyc-cmpl");
      await link(s, "cyc-cmpl", "cyc-a");
      await link(s, "cyc-x", "cyc-y");
      await link(s, "cyc-y", "cyc-x");
      await annotate(s, { id: "cyc-ann-x", annotationKey: "cyc-x" });
      const call = await getCall(s, "cyc-call");
      assert.deepEqual([...byKey(call)].sort(), [
        ["cyc-a", 1],
        ["cyc-b", 2],
        ["cyc-cmpl", 0],
      ]);
      assert.deepEqual(call.annotations.find((a) => a.id === "cyc-ann-b")?.path, [
        "cyc-cmpl",
        "cyc-a",
        "cyc-b",
      ]);
      assert.deepEqual(call.annotations.find((a) => a.id === "cyc-ann-self")?.path, ["cyc-cmpl"]);
      const a = await getTag(s, "cyc-a");
      assert.deepEqual(
        a.calls.map((c) => [c.id, c.depth]),
        [["cyc-call", 1]],
      );
      assert.deepEqual(sorted(a.annotations.map((x) => x.id)), ["cyc-ann-a", "cyc-ann-b", "cyc-ann-self"]);
      const x = await getTag(s, "cyc-x");
      assert.deepEqual(x.calls, []);
      assert.deepEqual(
        x.annotations.map((n) => n.id),
        ["cyc-ann-x"],
      );
    });

    it("credits one annotation to three calls that fan in to the same tag", async (t) => {
      const s = server(t);
      if (!s) return;
      for (const i of [1, 2, 3]) await ingest(s, `fin-call${i}`, `fin-cmpl${i}`, ["fin-all"]);
      await link(s, "fin-cmpl1", "fin-reply");
      await annotate(s, { id: "fin-ann", annotationKey: "fin-reply", numericReward: 0.25 });
      await link(s, "fin-cmpl2", "fin-reply");
      await link(s, "fin-cmpl3", "fin-mid");
      await link(s, "fin-mid", "fin-reply");
      for (const [i, depth] of [
        [1, 1],
        [2, 1],
        [3, 2],
      ] as const) {
        const call = await getCall(s, `fin-cmpl${i}`);
        assert.deepEqual(
          call.annotations.map((a) => [a.id, a.depth]),
          [["fin-ann", depth]],
          `call ${i}`,
        );
      }
      const reply = await getTag(s, "fin-reply");
      assert.deepEqual(sorted(reply.calls.map((c) => c.id)), ["fin-call1", "fin-call2", "fin-call3"]);
      const all = await list(s, { tag: "fin-all", annotated: "true" });
      assert.deepEqual(sorted(all.map((c) => c.id)), ["fin-call1", "fin-call2", "fin-call3"]);
      assert.ok(all.every((c) => c.annotationCount === 1 && c.meanReward === 0.25));
    });

    it("gives one call the annotations of three downstream tags it fans out to", async (t) => {
      const s = server(t);
      if (!s) return;
      await ingest(s, "fout-call", "fout-cmpl");
      for (const i of [1, 2, 3]) {
        await link(s, "fout-cmpl", `fout-d${i}`);
        await annotate(s, { id: `fout-ann${i}`, annotationKey: `fout-d${i}`, numericReward: i / 4 });
      }
      const call = await getCall(s, "fout-call");
      assert.deepEqual(
        call.annotations.map((a) => [a.id, a.depth, a.path]).sort(),
        [1, 2, 3].map((i) => [`fout-ann${i}`, 1, ["fout-cmpl", `fout-d${i}`]]),
      );
      const [listed] = await list(s, { tag: "fout-call" });
      assert.equal(listed?.annotationCount, 3);
      assert.equal(listed?.meanReward, 0.5);
      for (const i of [1, 2, 3]) {
        const d = await getTag(s, `fout-d${i}`);
        assert.deepEqual(
          d.calls.map((c) => c.id),
          ["fout-call"],
        );
      }
    });

    it("reaches the same result whatever the order in which the call, two links and the annotation arrive", async (t) => {
      const s = server(t);
      if (!s) return;
      const orders = permutations(4);
      assert.equal(orders.length, 24);
      for (const [n, order] of orders.entries()) {
        const p = `ord${n}`;
        const events = [
          () => ingest(s, `${p}-call`, `${p}-cmpl`),
          () => link(s, `${p}-cmpl`, `${p}-reply`, { step: 1 }),
          () => link(s, `${p}-reply`, `${p}-selection`, { step: 2 }),
          () => annotate(s, { id: `${p}-ann`, annotationKey: `${p}-selection`, numericReward: 1 }),
        ];
        for (const i of order) await (events[i] as () => Promise<unknown>)();
        const call = await getCall(s, `${p}-cmpl`);
        assert.deepEqual(
          call.annotations.map((a) => [a.id, a.depth, a.path]),
          [[`${p}-ann`, 2, [`${p}-cmpl`, `${p}-reply`, `${p}-selection`]]],
          `arrival order ${order.join(",")}`,
        );
        const [listed] = await list(s, { tag: `${p}-call`, annotated: "true" });
        assert.equal(listed?.id, `${p}-call`, `materialized for order ${order.join(",")}`);
      }
    });

    it("joins the two sides of a link that arrives last by their shortest walks, exactly at the bound", async (t) => {
      const s = server(t);
      if (!s) return;
      // Upstream side: the call reaches `u` at 4 hops (cmpl → s1 → s2 → s3 → u) and at 7 through a cycle.
      // Downstream side: `d` is the key itself (0 hops) and also 3 hops away through d → r1 → r2 → d.
      // 4 + 1 + 0 = 5 = the bound: resolves only if each side is taken at its shortest.
      await ingest(s, "sides-call", "sides-cmpl");
      const chain = ["sides-cmpl", "sides-s1", "sides-s2", "sides-s3", "sides-u"];
      for (let i = 1; i < chain.length; i++) await link(s, chain[i - 1] as string, chain[i] as string);
      await link(s, "sides-u", "sides-v1");
      await link(s, "sides-v1", "sides-v2");
      await link(s, "sides-v2", "sides-u");
      await link(s, "sides-d", "sides-r1");
      await link(s, "sides-r1", "sides-r2");
      await link(s, "sides-r2", "sides-d");
      await annotate(s, { id: "sides-ann", annotationKey: "sides-d" });
      // And the mirror case: the call's own tag is the source (0 hops, and 3 through a cycle), 4 hops after.
      await ingest(s, "mirror-call", "mirror-cmpl");
      await link(s, "mirror-cmpl", "mirror-x1");
      await link(s, "mirror-x1", "mirror-x2");
      await link(s, "mirror-x2", "mirror-cmpl");
      const after = ["mirror-d", "mirror-q1", "mirror-q2", "mirror-q3", "mirror-q4"];
      for (let i = 1; i < after.length; i++) await link(s, after[i - 1] as string, after[i] as string);
      await annotate(s, { id: "mirror-ann", annotationKey: "mirror-q4" });
      assert.deepEqual((await getCall(s, "sides-call")).annotations, []);
      assert.deepEqual((await getCall(s, "mirror-call")).annotations, []);
      await postCreated(s, "/api/links", [
        { upstreamTag: "sides-u", downstreamTag: "sides-d" },
        { upstreamTag: "mirror-cmpl", downstreamTag: "mirror-d" },
      ]);
      const sides = await getCall(s, "sides-call");
      assert.deepEqual(
        sides.annotations.map((a) => [a.id, a.depth, a.path]),
        [["sides-ann", 5, [...chain, "sides-d"]]],
      );
      const mirror = await getCall(s, "mirror-call");
      assert.deepEqual(
        mirror.annotations.map((a) => [a.id, a.depth, a.path]),
        [["mirror-ann", 5, ["mirror-cmpl", ...after]]],
      );
    });

    it("stores an annotation with a client id once however often it is posted, and the first one wins", async (t) => {
      const s = server(t);
      if (!s) return;
      await ingest(s, "idem-call", "idem-cmpl");
      const first = (await annotate(s, {
        id: "idem-ann",
        annotationKey: "idem-cmpl",
        numericReward: 1,
      })) as AnnotationOut;
      assert.equal(first.id, "idem-ann");
      const second = (await annotate(s, {
        id: "idem-ann",
        annotationKey: "idem-cmpl",
        numericReward: 1,
      })) as AnnotationOut;
      assert.equal(second.id, "idem-ann");
      const third = (await annotate(s, {
        id: "idem-ann",
        annotationKey: "idem-cmpl",
        numericReward: 0,
      })) as AnnotationOut;
      assert.equal(third.numericReward, 1, "a retry returns the stored annotation, not the retried body");
      // Once more inside a batch, twice.
      const batch = (await postCreated(s, "/api/annotations", [
        { id: "idem-ann", annotationKey: "idem-cmpl", numericReward: 1 },
        { id: "idem-ann", annotationKey: "idem-cmpl", numericReward: 1 },
      ])) as { data: AnnotationOut[] };
      assert.ok(batch.data.every((a) => a.id === "idem-ann"));
      const call = await getCall(s, "idem-call");
      assert.deepEqual(
        call.annotations.map((a) => [a.id, a.numericReward]),
        [["idem-ann", 1]],
      );
      const tag = await getTag(s, "idem-cmpl");
      assert.equal(tag.annotations.length, 1);
      const [listed] = await list(s, { tag: "idem-call" });
      assert.equal(listed?.annotationCount, 1);
    });

    it("keeps the first of several calls sent with one id, and lets none of the later ones' tags lead to it", async (t) => {
      const s = server(t);
      if (!s) return;
      await postCreated(s, "/api/calls", [
        chatCallBody("dupid-call", { completionId: "dupid-cmpl1", tags: ["dupid-t1"] }),
        chatCallBody("dupid-call", { completionId: "dupid-cmpl2", tags: ["dupid-t2"] }),
      ]);
      await ingest(s, "dupid-call", "dupid-cmpl3", ["dupid-t3"]);
      for (const key of ["dupid-t1", "dupid-cmpl2", "dupid-t2", "dupid-cmpl3", "dupid-t3"])
        await annotate(s, { id: `dupid-ann-${key}`, annotationKey: key });
      const call = await getCall(s, "dupid-call");
      assert.deepEqual([call.completionId, call.tags], ["dupid-cmpl1", ["dupid-t1"]]);
      assert.deepEqual(
        call.annotations.map((a) => a.annotationKey),
        ["dupid-t1"],
        "only the tags the stored call shows resolve to it",
      );
      for (const tag of ["dupid-cmpl2", "dupid-t2", "dupid-cmpl3", "dupid-t3"]) {
        assert.deepEqual((await getTag(s, tag)).calls, [], `tag ${tag} of a call that was not stored`);
      }
      assert.equal((await s.api("/api/calls/dupid-cmpl2")).status, 404);
    });

    it("trims a call's custom tags like link and annotation tags, so a padded tag can still be annotated", async (t) => {
      const s = server(t);
      if (!s) return;
      await ingest(s, "pad-call", "pad-cmpl", ["  pad-tag  "]);
      await annotate(s, { id: "pad-ann", annotationKey: " pad-tag " });
      await link(s, "pad-tag ", "pad-reply");
      await annotate(s, { id: "pad-ann2", annotationKey: "pad-reply" });
      const call = await getCall(s, "pad-call");
      assert.deepEqual(call.tags, ["pad-tag"]);
      assert.deepEqual(call.annotations.map((a) => [a.id, a.depth, a.path]).sort(), [
        ["pad-ann", 0, ["pad-tag"]],
        ["pad-ann2", 1, ["pad-tag", "pad-reply"]],
      ]);
    });

    it("shows a tag's upstream calls with their path, its links both ways with metadata, and its annotations", async (t) => {
      const s = server(t);
      if (!s) return;
      await ingest(s, "tag-call1", "tag-cmpl1");
      await ingest(s, "tag-call2", "tag-cmpl2");
      await link(s, "tag-cmpl1", "tag-reply", { kind: "reply", n: 1 });
      await link(s, "tag-cmpl2", "tag-other");
      await link(s, "tag-other", "tag-reply", { kind: "merge" });
      await link(s, "tag-reply", "tag-selection", { title: "Chosen title" });
      await link(s, "tag-reply", "tag-edit");
      // A repeated link updates its metadata; one without metadata keeps it.
      await link(s, "tag-reply", "tag-selection", { title: "Edited title" });
      await link(s, "tag-reply", "tag-selection");
      await annotate(s, {
        id: "tag-ann-here",
        annotationKey: "tag-reply",
        name: "helpful",
        numericReward: 1,
      });
      await annotate(s, { id: "tag-ann-below", annotationKey: "tag-selection", data: { clicked: true } });
      await annotate(s, { id: "tag-ann-above", annotationKey: "tag-cmpl1" });

      const tag = await getTag(s, "tag-reply");
      assert.equal(tag.tag, "tag-reply");
      assert.deepEqual(
        tag.calls.map((c) => [c.id, c.completionId, c.depth, c.path]),
        [
          ["tag-call1", "tag-cmpl1", 1, ["tag-cmpl1", "tag-reply"]],
          ["tag-call2", "tag-cmpl2", 2, ["tag-cmpl2", "tag-other", "tag-reply"]],
        ],
      );
      const up = (l: LinkOut) => [l.upstreamTag, l.downstreamTag, l.metadata];
      assert.deepEqual(tag.upstreamLinks.map(up).sort(), [
        ["tag-cmpl1", "tag-reply", { kind: "reply", n: 1 }],
        ["tag-other", "tag-reply", { kind: "merge" }],
      ]);
      assert.deepEqual(tag.downstreamLinks.map(up).sort(), [
        ["tag-reply", "tag-edit", null],
        ["tag-reply", "tag-selection", { title: "Edited title" }],
      ]);
      assert.deepEqual(
        tag.annotations.map((a) => [a.id, a.depth, a.path]).sort(),
        [
          ["tag-ann-below", 1, ["tag-reply", "tag-selection"]],
          ["tag-ann-here", 0, ["tag-reply"]],
        ],
        "the tag's annotations: on it and downstream of it, not upstream",
      );
      assert.deepEqual(tag.annotations.find((a) => a.id === "tag-ann-below")?.data, { clicked: true });

      const unknown = await getTag(s, "tag-never-seen");
      assert.deepEqual(
        [unknown.calls, unknown.upstreamLinks, unknown.downstreamLinks, unknown.annotations],
        [[], [], [], []],
      );
    });

    it("shows a call's annotations with path and depth by completion id and by call id alike", async (t) => {
      const s = server(t);
      if (!s) return;
      await ingest(s, "cv-call", "cv-cmpl", ["cv-custom"]);
      await link(s, "cv-cmpl", "cv-reply", { m: 1 });
      await link(s, "cv-custom", "cv-side");
      await link(s, "cv-reply", "cv-selection");
      await annotate(s, { id: "cv-ann1", annotationKey: "cv-selection", numericReward: 1, name: "picked" });
      await annotate(s, { id: "cv-ann2", annotationKey: "cv-side", numericReward: 0 });
      await annotate(s, { id: "cv-ann3", annotationKey: "cv-call", numericReward: 0.5 });
      const byCompletion = await getCall(s, "cv-cmpl");
      const byId = await getCall(s, "cv-call");
      assert.equal(byCompletion.id, "cv-call");
      assert.deepEqual(byId.annotations, byCompletion.annotations);
      assert.deepEqual(byId.annotations.map((a) => [a.id, a.name, a.numericReward, a.depth, a.path]).sort(), [
        ["cv-ann1", "picked", 1, 2, ["cv-cmpl", "cv-reply", "cv-selection"]],
        ["cv-ann2", "reward", 0, 1, ["cv-custom", "cv-side"]],
        ["cv-ann3", "reward", 0.5, 0, ["cv-call"]],
      ]);
      assert.deepEqual(byId.links.map((l) => [l.upstreamTag, l.downstreamTag, l.depth, l.metadata]).sort(), [
        ["cv-cmpl", "cv-reply", 1, { m: 1 }],
        ["cv-custom", "cv-side", 1, null],
        ["cv-reply", "cv-selection", 2, null],
      ]);
      const missing = await s.api<{ error: { message: string } }>("/api/calls/cv-nope");
      assert.equal(missing.status, 404);
      assert.match(missing.body.error.message, /cv-nope/);
    });

    it("filters the call list by annotated, minReward, maxReward and name", async (t) => {
      const s = server(t);
      if (!s) return;
      const scope = "flt-all";
      await ingest(s, "flt-none", "flt-cmpl-none", [scope]);
      await ingest(s, "flt-low", "flt-cmpl-low", [scope]);
      await ingest(s, "flt-high", "flt-cmpl-high", [scope]);
      await ingest(s, "flt-mixed", "flt-cmpl-mixed", [scope]);
      await ingest(s, "flt-null", "flt-cmpl-null", [scope]);
      await link(s, "flt-cmpl-low", "flt-reply-low");
      await annotate(s, { annotationKey: "flt-reply-low", numericReward: 0 });
      await annotate(s, { annotationKey: "flt-cmpl-high", numericReward: 1 });
      await annotate(s, { annotationKey: "flt-cmpl-mixed", name: "helpful", numericReward: 0.2 });
      await annotate(s, { annotationKey: "flt-cmpl-mixed", name: "reward", numericReward: 0.9 });
      await annotate(s, { annotationKey: "flt-cmpl-null", name: "comment-only", comment: "no reward" });
      const ids = async (q: Record<string, string>) =>
        sorted((await list(s, { tag: scope, ...q })).map((c) => c.id));

      assert.deepEqual(await ids({}), ["flt-high", "flt-low", "flt-mixed", "flt-none", "flt-null"]);
      assert.deepEqual(await ids({ annotated: "true" }), ["flt-high", "flt-low", "flt-mixed", "flt-null"]);
      assert.deepEqual(await ids({ annotated: "false" }), ["flt-none"]);
      assert.deepEqual(await ids({ minReward: "0.5" }), ["flt-high", "flt-mixed"]);
      assert.deepEqual(await ids({ maxReward: "0.5" }), ["flt-low", "flt-mixed"]);
      assert.deepEqual(await ids({ minReward: "0.1", maxReward: "0.5" }), ["flt-mixed"]);
      assert.deepEqual(await ids({ minReward: "1", maxReward: "1" }), ["flt-high"]);
      assert.deepEqual(await ids({ name: "helpful" }), ["flt-mixed"]);
      assert.deepEqual(await ids({ name: "comment-only" }), ["flt-null"]);
      assert.deepEqual(await ids({ name: "reward" }), ["flt-high", "flt-low", "flt-mixed"]);
      // The reward bounds and the name apply to the same annotation: "helpful" is 0.2, not >= 0.5.
      assert.deepEqual(await ids({ name: "helpful", minReward: "0.5" }), []);
      assert.deepEqual(await ids({ name: "reward", minReward: "0.5" }), ["flt-high", "flt-mixed"]);
      assert.deepEqual(await ids({ annotated: "false", minReward: "0" }), []);
      assert.deepEqual(await ids({ name: "nobody-uses-this" }), []);
    });
  });
}

// ---------------------------------------------------------------------------------------------------------------
// Randomized property test: materialized resolution equals a breadth-first reference

interface Graph {
  seed: number;
  calls: Array<{ id: string; completionId: string; tags: string[] }>;
  links: Array<[string, string]>;
  annotations: Array<{ id: string; key: string; reward: number }>;
  /** What is sent, in this order; a group is sent as one batch, a burst concurrently. */
  steps: Array<{ kind: "call" | "link" | "annotation"; items: number[] }>;
  concurrent: boolean;
}

function randomGraph(seed: number): Graph {
  // A seeded PRNG, so every failure names a seed that reproduces it.
  const rnd = seededRandom(seed);
  const int = (lo: number, hi: number) => lo + Math.floor(rnd() * (hi - lo + 1));
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)] as T;
  const p = `rg${seed}`;
  const pool = Array.from({ length: int(4, 12) }, (_, i) => `${p}-t${i}`);
  const calls = Array.from({ length: int(2, 5) }, (_, i) => ({
    id: `${p}-call${i}`,
    completionId: `${p}-cmpl${i}`,
    // Custom tags from the shared pool: two calls may answer to the same tag.
    tags: [`${p}-all`, ...new Set(Array.from({ length: int(0, 2) }, () => pick(pool)))],
  }));
  const nodes = [...pool, ...calls.map((c) => c.completionId), ...calls.map((c) => c.id)];
  const links: Array<[string, string]> = Array.from({ length: int(4, 22) }, () => {
    const u = rnd() < 0.4 ? pick(calls).completionId : pick(nodes);
    return [u, pick(nodes)] as [string, string];
  });
  const annotations = Array.from({ length: int(3, 8) }, (_, i) => ({
    id: `${p}-ann${i}`,
    key: pick(nodes),
    reward: int(0, 4) / 4,
  }));
  // Every item once, some twice (retries, repeated links), in a random interleaving, some grouped in batches.
  const singles: Array<{ kind: Graph["steps"][number]["kind"]; i: number }> = [
    ...calls.map((_, i) => ({ kind: "call" as const, i })),
    ...links.map((_, i) => ({ kind: "link" as const, i })),
    ...annotations.map((_, i) => ({ kind: "annotation" as const, i })),
  ];
  for (let r = int(0, 3); r > 0; r--) singles.push(pick(singles));
  for (let i = singles.length - 1; i > 0; i--) {
    const j = Math.floor(rnd() * (i + 1));
    [singles[i], singles[j]] = [
      singles[j] as (typeof singles)[number],
      singles[i] as (typeof singles)[number],
    ];
  }
  const steps: Graph["steps"] = [];
  for (const s of singles) {
    const last = steps.at(-1);
    if (last && last.kind === s.kind && rnd() < 0.4) last.items.push(s.i);
    else steps.push({ kind: s.kind, items: [s.i] });
  }
  return { seed, calls, links, annotations, steps, concurrent: seed % 3 === 0 };
}

/** Shortest link distance from `start` to every tag within `maxDepth`, following links one way. */
function bfs(start: string[], edges: Array<[string, string]>, dir: "down" | "up", maxDepth: number) {
  const next = new Map<string, string[]>();
  for (const [u, d] of edges) {
    const [from, to] = dir === "down" ? [u, d] : [d, u];
    next.set(from, [...(next.get(from) ?? []), to]);
  }
  const dist = new Map<string, number>(start.map((t) => [t, 0]));
  let frontier = [...new Set(start)];
  for (let depth = 1; depth <= maxDepth && frontier.length; depth++) {
    const fresh: string[] = [];
    for (const t of frontier) {
      for (const n of next.get(t) ?? []) {
        if (!dist.has(n)) {
          dist.set(n, depth);
          fresh.push(n);
        }
      }
    }
    frontier = fresh;
  }
  return dist;
}

/** Two bounds: at 2 most random paths cross it; at 4 the link joins have room on both sides. */
const PROPERTY_BOUNDS = [2, 4];
const SEEDS = Array.from({ length: 30 }, (_, i) => 1000 + i * 7919);

for (const dialect of DIALECTS) {
  describe(`materialized resolution on ${dialect} matches a breadth-first reference on random graphs`, () => {
    const servers = PROPERTY_BOUNDS.map((depth) =>
      serverForSuite(dialect, { INTERSEBD_LINK_DEPTH: String(depth) }),
    );

    async function send(s: TestServer, g: Graph, step: Graph["steps"][number]) {
      const one = (i: number) => {
        if (step.kind === "call") {
          const c = g.calls[i] as Graph["calls"][number];
          return chatCallBody(c.id, { completionId: c.completionId, tags: c.tags });
        }
        if (step.kind === "link") {
          const [upstreamTag, downstreamTag] = g.links[i] as [string, string];
          return { upstreamTag, downstreamTag };
        }
        const a = g.annotations[i] as Graph["annotations"][number];
        return { id: a.id, annotationKey: a.key, numericReward: a.reward };
      };
      const path = { call: "/api/calls", link: "/api/links", annotation: "/api/annotations" }[step.kind];
      await postCreated(
        s,
        path,
        step.items.length === 1 ? one(step.items[0] as number) : step.items.map(one),
      );
    }

    async function check(s: TestServer, g: Graph, maxDepth: number) {
      const label = `bound ${maxDepth}, seed ${g.seed} (${g.concurrent ? "concurrent bursts" : "sequential"}), steps ${JSON.stringify(
        g.steps.map((st) => `${st.kind[0]}${st.items.join("+")}`),
      )}, calls ${JSON.stringify(g.calls.map((c) => [c.id, c.tags]))}, links ${JSON.stringify(g.links)}, annotations ${JSON.stringify(g.annotations.map((a) => [a.id, a.key]))}`;
      const edges = g.links.filter(([u, d]) => u !== d);
      const edgeSet = new Set(edges.map(([u, d]) => `${u}\u0000${d}`));
      const annotated = new Set<string>();
      for (const c of g.calls) {
        const start = [c.id, c.completionId, ...c.tags];
        const dist = bfs(start, edges, "down", maxDepth);
        const expected = g.annotations.filter((a) => dist.has(a.key));
        if (expected.length) annotated.add(c.id);
        const got = await getCall(s, c.completionId);
        assert.deepEqual(
          sorted(got.annotations.map((a) => a.id)),
          sorted(expected.map((a) => a.id)),
          `annotations of ${c.id}; ${label}`,
        );
        for (const a of got.annotations) {
          assert.equal(a.depth, dist.get(a.annotationKey), `depth of ${a.id} on ${c.id}; ${label}`);
          assert.equal(a.path.length - 1, a.depth, `path length of ${a.id} on ${c.id}; ${label}`);
          assert.ok(
            start.includes(a.path[0] as string),
            `path of ${a.id} starts at a tag of ${c.id}; ${label}`,
          );
          assert.equal(a.path.at(-1), a.annotationKey, `path of ${a.id} ends at its key; ${label}`);
          for (let i = 1; i < a.path.length; i++)
            assert.ok(
              edgeSet.has(`${a.path[i - 1]}\u0000${a.path[i]}`),
              `path ${JSON.stringify(a.path)} of ${a.id} follows stored links; ${label}`,
            );
        }
      }
      // The list filter reads the same materialized table.
      const listed = await list(s, { tag: `rg${g.seed}-all`, annotated: "true" });
      assert.deepEqual(sorted(listed.map((c) => c.id)), sorted(annotated), `annotated=true; ${label}`);
      // And the other direction: the calls of every tag, walked upstream.
      const tagsToCheck = new Set([...edges.flat(), ...g.annotations.map((a) => a.key)]);
      for (const tag of tagsToCheck) {
        const up = bfs([tag], edges, "up", maxDepth);
        const expected = g.calls
          .map((c) => ({
            id: c.id,
            depth: Math.min(...[c.id, c.completionId, ...c.tags].map((t) => up.get(t) ?? Infinity)),
          }))
          .filter((c) => c.depth <= maxDepth);
        const got = await getTag(s, tag);
        assert.deepEqual(
          got.calls.map((c) => [c.id, c.depth]).sort(),
          expected.map((c) => [c.id, c.depth]).sort(),
          `calls of tag ${tag}; ${label}`,
        );
      }
    }

    for (const [b, maxDepth] of PROPERTY_BOUNDS.entries()) {
      it(`agrees with the reference on ${SEEDS.length} seeded graphs sent in random interleaved orders, with the bound at ${maxDepth}`, async (t) => {
        const s = servers[b]?.(t);
        if (!s) return;
        for (const seed of SEEDS) {
          const g = randomGraph(seed);
          if (g.concurrent) {
            // Bursts of up to 5 steps in flight at once: the order within a burst is up to the server.
            for (let i = 0; i < g.steps.length; i += 5)
              await Promise.all(g.steps.slice(i, i + 5).map((st) => send(s, g, st)));
          } else {
            for (const st of g.steps) await send(s, g, st);
          }
          await check(s, g, maxDepth);
        }
      });
    }

    it("agrees with the reference when many graph writes race each other", async (t) => {
      const s = servers[0]?.(t);
      if (!s) return;
      // Chains cmpl → a → b with the annotation on b: the three writes of each chain are in flight at once.
      const n = 40;
      const g: Graph = { seed: -1, calls: [], links: [], annotations: [], steps: [], concurrent: true };
      for (let i = 0; i < n; i++) {
        const c = { id: `race-call${i}`, completionId: `race-cmpl${i}`, tags: ["rg-1-all"] };
        g.calls.push(c);
        await ingest(s, c.id, c.completionId, c.tags);
      }
      await Promise.all(
        g.calls.flatMap((c, i) => {
          g.links.push([c.completionId, `race-a${i}`], [`race-a${i}`, `race-b${i}`]);
          g.annotations.push({ id: `race-ann${i}`, key: `race-b${i}`, reward: 1 });
          return [
            link(s, c.completionId, `race-a${i}`),
            link(s, `race-a${i}`, `race-b${i}`),
            annotate(s, { id: `race-ann${i}`, annotationKey: `race-b${i}`, numericReward: 1 }),
          ];
        }),
      );
      await check(s, g, PROPERTY_BOUNDS[0] as number);
    });
  });
}

for (const dialect of DIALECTS) {
  describe(`a changed depth bound on ${dialect}`, () => {
    it("re-resolves every annotation when the server restarts with another INTERSEBD_LINK_DEPTH", async (t) => {
      if (dialect === "postgres" && !(await postgresAvailable())) return t.skip("PostgreSQL unreachable");
      const first = await startTestServer(dialect, { env: { INTERSEBD_LINK_DEPTH: "5" } });
      const { db, dataDir } = {
        db: first.config.db.kind === "sqlite" ? first.config.db.file : first.config.db.url,
        dataDir: first.config.dataDir,
      };
      try {
        const chat = (id: string) => ({
          id,
          object: "chat.completion",
          model: "m",
          choices: [],
          usage: null,
        });
        assert.equal(
          (
            await first.api("/api/calls", {
              body: { id: "call_depth", request: { model: "m", messages: [] }, response: chat("cmpl-depth") },
            })
          ).status,
          201,
        );
        const hops = ["cmpl-depth", "h1", "h2", "h3", "h4"];
        await first.api("/api/links", {
          body: hops.slice(1).map((d, i) => ({ upstreamTag: hops[i], downstreamTag: d })),
        });
        await first.api("/api/annotations", {
          body: [
            { id: "near", annotationKey: "h1" },
            { id: "far", annotationKey: "h4" },
          ],
        });
        const before = await first.api<{ annotations: Array<{ id: string }> }>("/api/calls/call_depth");
        assert.deepEqual(before.body.annotations.map((a) => a.id).sort(), ["far", "near"]);
        await first.close();

        const narrow = await startTestServer(dialect, { db, dataDir, env: { INTERSEBD_LINK_DEPTH: "2" } });
        const after2 = await narrow.api<{ annotations: Array<{ id: string; path: string[] }> }>(
          "/api/calls/call_depth",
        );
        assert.deepEqual(
          after2.body.annotations.map((a) => a.id),
          ["near"],
          "4 hops is beyond a bound of 2",
        );
        assert.deepEqual(after2.body.annotations[0]?.path, ["cmpl-depth", "h1"]);
        const filtered = await narrow.api<{ data: unknown[] }>("/api/calls?annotated=true");
        assert.equal(filtered.body.data.length, 1);
        await narrow.close();

        const wide = await startTestServer(dialect, { db, dataDir, env: { INTERSEBD_LINK_DEPTH: "4" } });
        const after4 = await wide.api<{ annotations: Array<{ id: string }> }>("/api/calls/call_depth");
        assert.deepEqual(
          after4.body.annotations.map((a) => a.id).sort(),
          ["far", "near"],
          "a wider bound brings it back",
        );
        await wide.close();
      } finally {
        // Drops the database the first server created (closing again is a no-op).
        await first.stop();
      }
    });
  });
}
