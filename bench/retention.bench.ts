/**
 * Retention benchmark (issue 18 "Retention"): steady traffic into a fresh SQLite store with retention at a short
 * horizon, on a simulated clock, and the file's size (with its WAL) over time: once the horizon is reached it must
 * stop growing.
 *
 * Each simulated minute writes `--per-minute` calls (chat bodies of about 2 KB, a tag each, one in ten annotated,
 * so kept) through the store's own insert; every `--every` minutes the retention job's run (batches of 1,000, the
 * same code as the server's) and its reclaim step run with the simulated time as now. Bodies expire after
 * `--bodies` minutes, calls after `--calls` minutes, kept calls after `--kept` minutes.
 *
 * Prints the size per run on stderr and one JSON line on stdout:
 *   { "calls", "minutes", "mbAtHorizon", "mbEnd", "mbMaxAfterHorizon", "growthAfterHorizonPct", "stopsGrowing",
 *     "retentionMsMax", "batchMsMax" }
 * Usage: node bench/retention.bench.ts [--minutes 240] [--per-minute 500] [--every 5] [--bodies 15] [--calls 60]
 *        [--kept 120]
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { insertCalls } from "../packages/server/src/calls/index.ts";
import type { RetentionConfig } from "../packages/server/src/config/index.ts";
import { reclaimSpace, runRetention } from "../packages/server/src/retention/index.ts";
import { type NewCallRow, openStore } from "../packages/server/src/store/index.ts";

const { values: opts } = parseArgs({
  options: {
    minutes: { type: "string", default: "240" },
    "per-minute": { type: "string", default: "500" },
    every: { type: "string", default: "5" },
    bodies: { type: "string", default: "15" },
    calls: { type: "string", default: "60" },
    kept: { type: "string", default: "120" },
  },
});
const MIN = 60_000;
const MINUTES = Number(opts.minutes);
const PER_MINUTE = Number(opts["per-minute"]);
const EVERY = Number(opts.every);
const cfg: RetentionConfig = {
  bodiesMs: Number(opts.bodies) * MIN,
  callsMs: Number(opts.calls) * MIN,
  keptMs: Number(opts.kept) * MIN,
  intervalMs: EVERY * MIN,
  batch: 1000,
  pauseMs: 0,
};
const log = (s: string) => process.stderr.write(`${s}\n`);
const mb = (bytes: number) => Math.round((bytes / 1024 / 1024) * 10) / 10;

const WORDS =
  "invoice export refund order ticket update customer charge error account shipping address".split(" ");
function text(i: number, n: number): string {
  const out: string[] = [];
  for (let k = 0; k < n; k++) out.push(WORDS[(i * 31 + k * 7) % WORDS.length] as string);
  return `${out.join(" ")} #${i}`;
}

function row(i: number, at: number): NewCallRow {
  const request = {
    model: "gpt-4o-mini",
    messages: [
      { role: "system", content: "You answer support tickets in two sentences." },
      { role: "user", content: text(i, 180) },
    ],
  };
  const response = {
    id: `chatcmpl-r${i}`,
    object: "chat.completion",
    choices: [{ index: 0, message: { role: "assistant", content: text(i + 1, 80) }, finish_reason: "stop" }],
    usage: { prompt_tokens: 200, completion_tokens: 90, total_tokens: 290 },
  };
  return {
    id: `call_r${String(i).padStart(9, "0")}`,
    completionId: response.id,
    startedAt: at,
    endedAt: at + 800,
    durationMs: 800,
    upstream: "default",
    path: "/chat/completions",
    requestedModel: "gpt-4o-mini",
    servedModel: "gpt-4o-mini",
    stream: 0,
    status: 200,
    outcome: "ok",
    request: JSON.stringify(request),
    response: JSON.stringify(response),
    promptTokens: 200,
    completionTokens: 90,
    totalTokens: 290,
    tags: JSON.stringify([`doc:${i}`]),
    metadata: "{}",
    capture: "full",
    source: "proxy",
    sessionId: `s${i % 997}`,
  };
}

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "intersebd-retention-bench-"));
const file = path.join(dir, "retention.sqlite");
const store = await openStore({ kind: "sqlite", file });
const size = () => store.sizeBytes();
const t0 = Date.UTC(2026, 0, 1);
let n = 0;
const samples: Array<{ minute: number; bytes: number }> = [];
let retentionMsMax = 0;
let batchMsMax = 0;
try {
  for (let minute = 1; minute <= MINUTES; minute++) {
    const rows = Array.from({ length: PER_MINUTE }, (_, k) => row(n + k, t0 + (minute - 1) * MIN + k));
    await insertCalls(store, rows);
    // One call in ten is annotated: retention keeps it until the kept horizon.
    const annotated = rows.filter((_, k) => (n + k) % 10 === 0);
    await store.db
      .insertInto("annotations")
      .values(
        annotated.map((r) => ({
          id: `ann_${r.id}`,
          key: r.id,
          name: "quality",
          numericReward: 1,
          source: "human",
          createdAt: r.startedAt,
        })),
      )
      .execute();
    await store.db
      .insertInto("callAnnotations")
      .values(annotated.map((r) => ({ callId: r.id, annotationId: `ann_${r.id}` })))
      .execute();
    n += PER_MINUTE;
    if (minute % EVERY === 0) {
      const now = t0 + minute * MIN;
      const started = performance.now();
      let last = performance.now();
      await runRetention(store, cfg, {
        now,
        onBatch: () => {
          batchMsMax = Math.max(batchMsMax, performance.now() - last);
          last = performance.now();
        },
      });
      await reclaimSpace(store);
      retentionMsMax = Math.max(retentionMsMax, performance.now() - started);
      const bytes = await size();
      samples.push({ minute, bytes });
      log(`minute ${minute}: ${n.toLocaleString("en-US")} calls written, store ${mb(bytes)} MB`);
    }
  }
} finally {
  await store.close();
  fs.rmSync(dir, { recursive: true, force: true });
}

// The horizon: every kind of row has started to expire (kept calls last).
const horizon = Number(opts.kept);
const atHorizon = samples.find((s) => s.minute >= horizon)?.bytes ?? Number.NaN;
const after = samples.filter((s) => s.minute > horizon).map((s) => s.bytes);
const maxAfter = Math.max(...after);
const end = samples.at(-1)?.bytes ?? Number.NaN;
const growth = ((maxAfter - atHorizon) / atHorizon) * 100;
const result = {
  calls: n,
  minutes: MINUTES,
  mbAtHorizon: mb(atHorizon),
  mbEnd: mb(end),
  mbMaxAfterHorizon: mb(maxAfter),
  growthAfterHorizonPct: Math.round(growth * 10) / 10,
  // Within 5%: page reuse and the WAL's high-water mark move a little, a store that grows doubles.
  stopsGrowing: growth < 5 ? 1 : 0,
  retentionMsMax: Math.round(retentionMsMax),
  batchMsMax: Math.round(batchMsMax * 10) / 10,
};
log(JSON.stringify(result, null, 2));
process.stdout.write(`${JSON.stringify(result)}\n`);
