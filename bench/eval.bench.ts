/**
 * The evaluation engine's own overhead per item, excluding the model's time (target < 5 ms).
 *
 * The fake upstream runs in its own process with no delay. N items are sent twice at the same concurrency:
 * once straight to the fake upstream (the model's time, as a client would see it), once as an evaluation run
 * through the whole engine in this process (claim from the store, replay through intersebd's own proxy, which
 * logs the call, three built-in checks, results written back). Overhead per item is the difference of the two
 * wall times divided by N. The store is SQLite in a fresh directory. Prints JSON on the last line of stdout.
 *
 * Options: --items N (default 500), --concurrency C (default 4).
 */
import { type ChildProcess, spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { loadConfig } from "../packages/server/src/config/index.ts";
import { createEvalSchema, parseInput } from "../packages/server/src/evals/index.ts";
// Planning and storing a run are timed apart here, so the bench takes them from inside the domain.
import { createRun, planRun } from "../packages/server/src/evals/runs.ts";
import { startServer } from "../packages/server/src/server.ts";
import { createLogger } from "../packages/server/src/util/log.ts";

const { values } = parseArgs({ options: { items: { type: "string" }, concurrency: { type: "string" } } });
const N = Number(values.items ?? 500);
const C = Number(values.concurrency ?? 4);
const ROOT = path.resolve(import.meta.dirname, "..");
const log = (s: string) => process.stderr.write(`${s}\n`);

async function startFake(): Promise<{ url: string; child: ChildProcess }> {
  const child = spawn(
    process.execPath,
    [path.join(ROOT, "packages/server/src/cli/main.ts"), "fake-upstream", "--port", "0"],
    {
      stdio: ["ignore", "pipe", "inherit"],
    },
  );
  const url = await new Promise<string>((resolve, reject) => {
    let out = "";
    child.stdout?.on("data", (d) => {
      out += d;
      const m = /listening on (\S+)/.exec(out);
      if (m) resolve(m[1] as string);
    });
    child.on("exit", (code) => reject(new Error(`fake upstream exited with ${code}`)));
  });
  return { url, child };
}

/** Runs `n` tasks with at most `c` at once; returns the wall time in ms. */
async function pool(n: number, c: number, task: (i: number) => Promise<void>): Promise<number> {
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: c }, async () => {
      while (next < n) await task(next++);
    }),
  );
  return performance.now() - t0;
}

const question = (i: number) => `Write a title for article ${i} about benchmarks`;

const fake = await startFake();
const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "intersebd-eval-bench-"));
const config = loadConfig(
  { INTERSEBD_PORT: "0", INTERSEBD_UPSTREAM: fake.url, INTERSEBD_LOG_LEVEL: "warn" },
  { dataDir },
);
const server = await startServer(config, { log: createLogger("warn") });
const { ctx } = server;

try {
  const calls = (prefix: string, n: number) =>
    Array.from({ length: n }, (_, i) => ({
      id: `${prefix}-${i}`,
      request: { model: "gpt-4.1-nano", messages: [{ role: "user", content: question(i) }] },
      response: {
        model: "gpt-4.1-nano",
        choices: [{ index: 0, message: { role: "assistant", content: `Title ${i}` }, finish_reason: "stop" }],
        usage: { prompt_tokens: 20, completion_tokens: 4, total_tokens: 24 },
      },
    }));
  for (const [prefix, n] of [
    ["warm", 50],
    ["b", N],
  ] as const) {
    const body = calls(prefix, n);
    for (let i = 0; i < body.length; i += 1000) {
      const r = await fetch(`${server.url}/api/calls`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(body.slice(i, i + 1000)),
      });
      if (r.status !== 201) throw new Error(`seeding calls: HTTP ${r.status}`);
    }
  }

  const evaluate = async (ids: string[]): Promise<number> => {
    const plan = await planRun(
      ctx,
      parseInput(createEvalSchema, {
        callIds: ids,
        candidate: { model: "gpt-4.1-mini" },
        checks: ["regex:^echo:", "contains:baseline", "tokens.completion <= 500"],
        concurrency: C,
      }),
    );
    const t0 = performance.now();
    const run = await createRun(ctx.store, plan);
    server.evalWorker.poke();
    for (;;) {
      const r = await ctx.store.db
        .selectFrom("evalRuns")
        .select("status")
        .where("id", "=", run.id)
        .executeTakeFirst();
      if (r?.status === "done") break;
      if (r?.status !== "running" && r?.status !== "queued") throw new Error(`run ended ${r?.status}`);
      await new Promise((res) => setTimeout(res, 5));
    }
    return performance.now() - t0;
  };

  const direct = (i: number) =>
    fetch(`${fake.url}/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ model: "gpt-4.1-mini", messages: [{ role: "user", content: question(i) }] }),
    }).then((r) => r.text().then(() => undefined));

  log(`eval bench: warming up (50 items), then ${N} items at concurrency ${C}`);
  await pool(50, C, direct);
  await evaluate(Array.from({ length: 50 }, (_, i) => `warm-${i}`));

  const directMs = await pool(N, C, direct);
  const cpu0 = process.cpuUsage();
  const evalMs = await evaluate(Array.from({ length: N }, (_, i) => `b-${i}`));
  const cpu = process.cpuUsage(cpu0);
  const result = {
    items: N,
    concurrency: C,
    directMsPerItem: Math.round((directMs / N) * 1000) / 1000,
    evalMsPerItem: Math.round((evalMs / N) * 1000) / 1000,
    overheadMsPerItem: Math.round(((evalMs - directMs) / N) * 1000) / 1000,
    /** CPU of this process (engine, proxy, capture, store) per item, for scale. */
    cpuMsPerItem: Math.round(((cpu.user + cpu.system) / 1000 / N) * 1000) / 1000,
  };
  log(
    `eval bench: direct ${result.directMsPerItem} ms/item, evaluation ${result.evalMsPerItem} ms/item, overhead ${result.overheadMsPerItem} ms/item (CPU ${result.cpuMsPerItem} ms/item)`,
  );
  process.stdout.write(`${JSON.stringify(result)}\n`);
} finally {
  await server.close();
  fake.child.kill();
  fs.rmSync(dataDir, { recursive: true, force: true });
}
