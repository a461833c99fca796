/**
 * Export benchmark (issue 6 "Performance"): streams a big SQLite store to `openai-sft` and checks the rate
 * (> 20,000 rows/s) and that memory stays flat.
 *
 * 1. Fills a fresh SQLite store with N calls (default 1,000,000) by batched inserts through the store (not
 *    HTTP): varied chat bodies, one in twenty answering with a tool call, one in ten annotated with a reward
 *    and one in a hundred with a correction (as `call_annotations` pairs, so the export reads them).
 * 2. Exports in a child process, so its peak RSS is the export's alone: the real pipeline (keyset batches,
 *    normalisation, validator, de-duplication, JSONL) written through a buffered stream to /dev/null.
 *
 * Prints progress on stderr and one JSON line on stdout:
 *   { "rows", "rowsPerSec", "peakRssMb", "rssStartMb", "rssSamplesMb", "seconds", "fillSeconds", "bytes" }
 * Usage: node bench/export.bench.ts [--calls 100000] [--db file.sqlite (reuse or keep)] [--batch 1000]
 */
import { spawnSync } from "node:child_process";
import { once } from "node:events";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { exportRows } from "../packages/server/src/exports/index.ts";
import { type NewCallRow, openStore, type Store } from "../packages/server/src/store/index.ts";

const { values: opts } = parseArgs({
  options: {
    calls: { type: "string", default: "1000000" },
    db: { type: "string" },
    batch: { type: "string", default: "1000" },
    "export-only": { type: "boolean", default: false },
  },
});
const N = Number(opts.calls);
const log = (s: string) => process.stderr.write(`${s}\n`);
const mb = (bytes: number) => Math.round((bytes / 1024 / 1024) * 10) / 10;

const SYSTEMS = [
  "You write short, precise titles for support tickets.",
  "You are a helpful assistant for an online bookshop. Answer in two sentences at most.",
  "Summarise the customer's message for the on-call engineer. Keep product names.",
  "You classify incoming e-mails as billing, bug, feature request or other.",
];
const weather = {
  type: "function",
  function: {
    name: "get_order",
    description: "Look up an order by its number",
    parameters: { type: "object", properties: { order: { type: "string" } }, required: ["order"] },
  },
};

function callRow(i: number, t0: number): NewCallRow {
  const tool = i % 20 === 7;
  const user = `Ticket #${i}: the customer says the export of invoice ${(i * 7919) % 100_000} fails with error E${i % 97} since the update on ${1 + (i % 28)} March. They tried twice and want a refund for the duplicate charge.`;
  const request = {
    model: "gpt-4o-mini",
    temperature: 0.2,
    messages: [
      { role: "system", content: SYSTEMS[i % SYSTEMS.length] },
      { role: "user", content: user },
    ],
    ...(tool && { tools: [weather] }),
  };
  const message = tool
    ? {
        role: "assistant",
        content: null,
        refusal: null,
        tool_calls: [
          {
            id: `call_${i}`,
            type: "function",
            function: { name: "get_order", arguments: `{"order":"${i}"}` },
          },
        ],
      }
    : {
        role: "assistant",
        content: `Invoice export fails with E${i % 97} after the March update; duplicate charge to refund (ticket ${i}).`,
        refusal: null,
        annotations: [],
      };
  const response = {
    id: `chatcmpl-bench${i}`,
    object: "chat.completion",
    created: Math.floor(t0 / 1000),
    model: "gpt-4o-mini-2024-07-18",
    choices: [{ index: 0, message, logprobs: null, finish_reason: tool ? "tool_calls" : "stop" }],
    usage: { prompt_tokens: 61, completion_tokens: 24, total_tokens: 85 },
  };
  const startedAt = t0 + i * 10;
  return {
    id: `call_bench${String(i).padStart(8, "0")}`,
    completionId: response.id,
    startedAt,
    endedAt: startedAt + 800,
    durationMs: 800,
    ttftMs: 300,
    upstream: "default",
    path: "/chat/completions",
    requestedModel: "gpt-4o-mini",
    servedModel: "gpt-4o-mini-2024-07-18",
    stream: 0,
    status: 200,
    outcome: "ok",
    error: null,
    request: JSON.stringify(request),
    response: JSON.stringify(response),
    promptTokens: 61,
    completionTokens: 24,
    cachedTokens: null,
    reasoningTokens: null,
    totalTokens: 85,
    costUsd: 0.000024,
    sessionId: `sess_${Math.floor(i / 8)}`,
    userId: `user_${i % 5000}`,
    tags: "[]",
    metadata: "{}",
    capture: "full",
    source: "api",
  };
}

async function fill(store: Store, n: number): Promise<void> {
  const t0 = Date.parse("2025-01-01T00:00:00Z");
  const chunk = 400; // 29 columns × 400 rows stays under SQLite's 32,766 bound parameters
  const started = performance.now();
  for (let base = 0; base < n; base += 20_000) {
    await store.db.transaction().execute(async (trx) => {
      for (let i = base; i < Math.min(base + 20_000, n); i += chunk) {
        const rows: NewCallRow[] = [];
        const anns: Array<Record<string, unknown>> = [];
        const pairs: Array<{ callId: string; annotationId: string }> = [];
        for (let j = i; j < Math.min(i + chunk, n); j++) {
          rows.push(callRow(j, t0));
          if (j % 10 === 3) {
            anns.push({
              id: `ann_bench${j}`,
              key: `chatcmpl-bench${j}`,
              name: "reward",
              numericReward: j % 3 === 0 ? 0 : 1,
              content: null,
              data: null,
              comment: null,
              correction: j % 100 === 3 ? JSON.stringify(`Corrected title for ticket ${j}`) : null,
              source: "human",
              annotatorId: "bench",
              notificationId: null,
              createdAt: t0,
            });
            pairs.push({ callId: rows[rows.length - 1]?.id as string, annotationId: `ann_bench${j}` });
          }
        }
        await trx.insertInto("calls").values(rows).execute();
        if (anns.length) {
          await trx
            .insertInto("annotations")
            .values(anns as never)
            .execute();
          await trx.insertInto("callAnnotations").values(pairs).execute();
        }
      }
    });
    const done = Math.min(base + 20_000, n);
    if (done % 100_000 === 0 || done === n)
      log(
        `  filled ${done.toLocaleString("en-US")} calls (${Math.round(done / ((performance.now() - started) / 1000))}/s)`,
      );
  }
}

/** The export, measured: run in its own process so its peak RSS is not the fill's. */
async function exportOnly(file: string): Promise<void> {
  const store = await openStore({ kind: "sqlite", file });
  const rssStart = process.memoryUsage().rss;
  const out = fs.createWriteStream("/dev/null");
  const run = exportRows(store, {
    format: "openai-sft",
    selection: { filters: [], conditions: [] },
    linkDepth: 10,
    batchSize: Number(opts.batch),
  });
  const samples: number[] = [];
  let rows = 0;
  let bytes = 0;
  let buffer = "";
  let peak = rssStart;
  const started = performance.now();
  for await (const row of run.rows) {
    rows++;
    buffer += `${row.line}\n`;
    if (buffer.length >= 64 * 1024) {
      bytes += buffer.length;
      if (!out.write(buffer)) await once(out, "drain");
      buffer = "";
    }
    if (rows % 10_000 === 0) {
      const rss = process.memoryUsage().rss;
      peak = Math.max(peak, rss);
      if (rows % 100_000 === 0) {
        samples.push(mb(rss));
        const m = process.memoryUsage();
        log(
          `  exported ${rows.toLocaleString("en-US")} rows, rss ${mb(rss)} MB (heap ${mb(m.heapUsed)}/${mb(m.heapTotal)}, external ${mb(m.external)}, buffers ${mb(m.arrayBuffers)})`,
        );
      }
    }
  }
  bytes += buffer.length;
  out.end(buffer);
  await once(out, "finish");
  const seconds = (performance.now() - started) / 1000;
  await store.close();
  const report = run.report();
  const peakRss = Math.max(peak, process.resourceUsage().maxRSS * 1024);
  process.stdout.write(
    `${JSON.stringify({
      rows,
      rowsPerSec: Math.round(rows / seconds),
      peakRssMb: mb(peakRss),
      rssStartMb: mb(rssStart),
      rssSamplesMb: samples,
      seconds: Math.round(seconds * 100) / 100,
      bytes,
      dropped: report.droppedTotal,
    })}\n`,
  );
}

if (opts["export-only"]) {
  if (!opts.db) throw new Error("--export-only needs --db");
  await exportOnly(opts.db);
} else {
  const keep = opts.db !== undefined;
  const dir = keep ? "" : fs.mkdtempSync(path.join(os.tmpdir(), "intersebd-export-bench-"));
  const file = opts.db ?? path.join(dir, "bench.sqlite");
  let fillSeconds = 0;
  try {
    const store = await openStore({ kind: "sqlite", file });
    const { n } = await store.db
      .selectFrom("calls")
      .select((eb) => eb.fn.countAll<number>().as("n"))
      .executeTakeFirstOrThrow();
    if (Number(n) === 0) {
      log(`export bench: filling ${file} with ${N.toLocaleString("en-US")} calls...`);
      const t = performance.now();
      await fill(store, N);
      fillSeconds = Math.round((performance.now() - t) / 100) / 10;
    } else if (Number(n) !== N) {
      throw new Error(`${file} holds ${n} calls, not ${N}: remove it or pass --calls ${n}`);
    } else log(`export bench: reusing ${file} (${Number(n).toLocaleString("en-US")} calls)`);
    await store.close();
    log("export bench: streaming openai-sft to /dev/null...");
    // With the Node flags and the environment the CLI runs with (its shebang's), as `intersebd export` would:
    // without MALLOC_ARENA_MAX, the threads that write the output get malloc arenas of their own.
    const bin = path.join(import.meta.dirname, "../packages/server/bin/intersebd.js");
    const shebang = (fs.readFileSync(bin, "utf8").split("\n")[0] ?? "").split(/\s+/);
    const cliFlags = shebang.filter((a) => a.startsWith("--"));
    const cliEnv = Object.fromEntries(
      shebang.filter((a) => /^[A-Z_]+=/.test(a)).map((a) => a.split("=", 2) as [string, string]),
    );
    const child = spawnSync(
      process.execPath,
      [...cliFlags, import.meta.filename, "--export-only", "--db", file, "--batch", String(opts.batch)],
      {
        encoding: "utf8",
        env: { ...process.env, ...cliEnv },
        stdio: ["ignore", "pipe", "inherit"],
      },
    );
    if (child.status !== 0) throw new Error(`export child failed with status ${child.status}`);
    const result = JSON.parse(child.stdout.trim().split("\n").at(-1) ?? "{}");
    process.stdout.write(`${JSON.stringify({ ...result, fillSeconds })}\n`);
  } finally {
    if (!keep) fs.rmSync(dir, { recursive: true, force: true });
  }
}
