/**
 * Golden files: every export format on a fixed store (tool calls, corrections, pairwise choices, and each
 * way a call can be dropped), built through the REST API, compared byte for byte with `__golden__/*.jsonl`.
 * The same files serve SQLite and PostgreSQL. `UPDATE_GOLDEN=1` rewrites them: read the diff before keeping it.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { describe, it } from "node:test";
import { DIALECTS, storeSuite, type TestServer } from "../testing/index.ts";
import { formats } from "./formats.ts";
import { loadFixture } from "./golden-fixture.ts";
import { exportRows } from "./pipeline.ts";

const GOLDEN = path.join(import.meta.dirname, "__golden__");
const UPDATE = process.env.UPDATE_GOLDEN === "1";

function golden(name: string, actual: string): void {
  const file = path.join(GOLDEN, name);
  if (UPDATE) {
    fs.mkdirSync(GOLDEN, { recursive: true });
    fs.writeFileSync(file, actual);
    return;
  }
  assert.ok(fs.existsSync(file), `missing golden file ${name}: run with UPDATE_GOLDEN=1 and review it`);
  assert.equal(actual, fs.readFileSync(file, "utf8"), `${name} differs from its golden file`);
}

async function text(
  s: TestServer,
  query: string,
): Promise<{ status: number; type: string | null; body: string }> {
  const res = await fetch(`${s.url}/api/export?${query}`);
  return { status: res.status, type: res.headers.get("content-type"), body: await res.text() };
}

const lines = (body: string) =>
  body
    .split("\n")
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, unknown>);

for (const dialect of DIALECTS) {
  describe(`exports golden files (${dialect})`, async () => {
    const suite = await storeSuite(dialect, { seed: loadFixture });
    const { skip } = suite;

    for (const format of formats) {
      it(`should stream ${format} exactly as its golden file`, { skip }, async () => {
        const r = await text(suite.s, `format=${format}`);
        assert.equal(r.status, 200, r.body);
        assert.equal(r.type, "application/x-ndjson; charset=utf-8");
        assert.ok(r.body.endsWith("\n"), "every line ends with a newline");
        golden(`${format}.jsonl`, r.body);
      });
    }

    it("should page through calls and comparisons to the same rows whatever the batch size", {
      skip,
    }, async () => {
      for (const format of formats) {
        const run = exportRows(suite.s.ctx.store, {
          format,
          selection: { filters: [], conditions: [] },
          linkDepth: 10,
          batchSize: 2,
        });
        let out = "";
        for await (const row of run.rows) if (row.part === "train") out += `${row.line}\n`;
        assert.equal(out, fs.readFileSync(path.join(GOLDEN, `${format}.jsonl`), "utf8"), format);
        assert.equal(run.report().scanned.calls, 15);
        assert.equal(run.report().scanned.comparisons, format.endsWith("-dpo") ? 4 : 0);
      }
    });

    it("should report rows written and dropped per reason for every format, as golden", {
      skip,
    }, async () => {
      let out = "";
      for (const format of formats) {
        const r = await suite.s.api<Record<string, unknown>>(`/api/export?format=${format}&report=1`);
        assert.equal(r.status, 200);
        out += `${JSON.stringify(r.body)}\n`;
      }
      golden("reports.jsonl", out);
    });

    it("should write OpenAI provenance only to the manifest, line for line", { skip }, async () => {
      for (const format of ["openai-sft", "openai-dpo"]) {
        const rows = lines((await text(suite.s, `format=${format}`)).body);
        const manifest = await text(suite.s, `format=${format}&manifest=1`);
        golden(`${format}.manifest.jsonl`, manifest.body);
        const entries = lines(manifest.body);
        assert.equal(entries.length, rows.length);
        assert.deepEqual(
          entries.map((e) => e.line),
          rows.map((_, i) => i + 1),
        );
        for (const row of rows) assert.equal(row.metadata, undefined, "OpenAI rows carry no extra keys");
      }
    });

    it("should split by session so that no session sits on both sides", { skip }, async () => {
      const train = await text(suite.s, "format=trl-sft&split=0.5");
      const validation = await text(suite.s, "format=trl-sft&split=0.5&part=validation");
      golden("trl-sft.split-0.5.train.jsonl", train.body);
      golden("trl-sft.split-0.5.validation.jsonl", validation.body);
      const sessions = (body: string) =>
        new Set(lines(body).map((r) => (r.metadata as { sessionId: string | null }).sessionId ?? "none"));
      const t = sessions(train.body);
      const v = sessions(validation.body);
      assert.ok(t.size > 0 && v.size > 0, "both sides have rows");
      for (const x of t) assert.ok(!v.has(x), `session ${x} is on both sides`);
      const all = lines((await text(suite.s, "format=trl-sft")).body).length;
      assert.equal(lines(train.body).length + lines(validation.body).length, all);
    });

    it("should narrow by where, reward bounds and the calls filters", { skip }, async () => {
      const byWhere = lines(
        (await text(suite.s, `format=openai-sft&where=${encodeURIComponent("reward >= 1 by human")}`)).body,
      );
      assert.deepEqual(
        byWhere.map((r) => (r.messages as Array<{ content: unknown }>).at(-1)?.content),
        ["It is 18°C and sunny in Paris."],
      );
      const corrected = await suite.s.api<{ written: { total: number }; bySource: Record<string, number> }>(
        "/api/export?format=openai-sft&hasCorrection=true&report=1",
      );
      assert.deepEqual(corrected.body.bySource, { correction: 2 });
      const session = await suite.s.api<{ scanned: { calls: number } }>(
        "/api/export?format=trl-kto&sessionId=s-b&report=1",
      );
      assert.equal(session.body.scanned.calls, 2);
      const bounded = await suite.s.api<{ scanned: { calls: number } }>(
        "/api/export?format=rewards&name=helpful&minReward=3&maxReward=5&report=1",
      );
      assert.equal(bounded.body.scanned.calls, 1);
    });

    it("should answer 400 naming the field for a bad query", { skip }, async () => {
      const cases: Array<[string, string]> = [
        ["format=csv", "format"],
        ["format=trl-sft&where=reward%20%3E%3D", "where"],
        ["format=trl-sft&where=reward%20%3E%3D%201%20or%20has%20correction", "where"],
        ["format=trl-sft&split=2", "split"],
        ["format=trl-sft&part=validation", "part"],
        ["format=trl-sft&groupBy=tenant", "groupBy"],
      ];
      for (const [query, field] of cases) {
        const r = await suite.s.api<{ error: { field: string } }>(`/api/export?${query}`);
        assert.equal(r.status, 400, query);
        assert.equal(r.body.error.field, field, query);
      }
      const typo = await suite.s.api<{ error: { message: string; field: string } }>(
        "/api/export?format=trl-sft&formt=x",
      );
      assert.equal(typo.status, 400);
      assert.match(typo.body.error.message, /unknown parameter formt \(known: .*format/);
      assert.equal(typo.body.error.field, "formt");
      const missing = await suite.s.api("/api/export?format=trl-sft&dataset=nope");
      assert.equal(missing.status, 404);
    });
  });
}
