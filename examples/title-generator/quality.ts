/**
 * The worked example's quality watch (issue 17): a live evaluator checks every title the service produces, an
 * alert rule watches the check's failure rate, a deploy with a new prompt breaks the titles (the alert fires and
 * a signed webhook arrives), the deploy is rolled back (the alert resolves). Then a conversation evaluation asks
 * whether a second model would have answered the users' follow-up turns better.
 *
 *   node_modules/.bin/node examples/title-generator/quality.ts
 *
 * Offline, the fake upstream stands in for the model: it answers `echo: <last user message>`, appends a
 * `[[BAD]]` or `[[GOOD]]` marker found in the system prompt, and its judge prefers the answer with `[[GOOD]]`.
 * The broken prompt carries `[[BAD]]`, so its titles fail the evaluator's format check (no brackets), as a real
 * model's titles would once a prompt made it explain its choice.
 */
import { type ChildProcessByStdio, execFile, spawn } from "node:child_process";
import { createHmac } from "node:crypto";
import fs from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import type { Readable } from "node:stream";
import { promisify } from "node:util";
import { loadConfig, startServer } from "@intersebd/server";
import { eventually, startFakeUpstream } from "@intersebd/server/testing";

const here = import.meta.dirname;
const readJson = (file: string): Record<string, unknown> =>
  JSON.parse(fs.readFileSync(path.join(here, file), "utf8"));

// A small receiver for the alerts' webhooks: it checks each one's Standard Webhooks signature as a team's
// endpoint would, with the secret the server signs with.
const secretBytes = Buffer.from("title-service-alerts-secret-0001");
const secret = `whsec_${secretBytes.toString("base64")}`;
const received: Array<{ type: string; rule: string; verified: boolean }> = [];
const receiver = http.createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on("data", (c: Buffer) => chunks.push(c));
  req.on("end", () => {
    const body = Buffer.concat(chunks).toString("utf8");
    const [id, timestamp] = [req.headers["webhook-id"], req.headers["webhook-timestamp"]];
    const mac = createHmac("sha256", secretBytes).update(`${id}.${timestamp}.${body}`).digest("base64");
    // The header may list several signatures (a secret being rotated): any one matching is enough.
    const signatures = String(req.headers["webhook-signature"] ?? "").split(" ");
    const fresh = Math.abs(Number(timestamp) - Date.now() / 1000) < 300;
    const verified = signatures.includes(`v1,${mac}`) && fresh;
    const { type, data } = JSON.parse(body) as { type: string; data: { alert: { rule: string } } };
    received.push({ type, rule: data.alert.rule, verified });
    res.writeHead(verified ? 204 : 401).end();
  });
});
await new Promise<void>((resolve) => receiver.listen(0, "127.0.0.1", resolve));
const hookUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/intersebd-alerts`;

const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "intersebd-quality-"));
const fake = await startFakeUpstream({ keepRequests: false });
const server = await startServer(
  loadConfig(
    {
      INTERSEBD_PORT: "0",
      INTERSEBD_UPSTREAM: fake.url,
      INTERSEBD_LOG_LEVEL: "warn",
      // SQLite in a temporary folder, unless INTERSEBD_DB names another store (a PostgreSQL URL).
      ...(process.env.INTERSEBD_DB ? { INTERSEBD_DB: process.env.INTERSEBD_DB } : {}),
      // Alert rules are evaluated every second (default 30 s), so the example needs no waiting.
      INTERSEBD_ALERTS_EVAL_MS: "1000",
      INTERSEBD_ALERTS_WEBHOOK_URL: hookUrl,
      INTERSEBD_WEBHOOK_SECRET: secret,
      // The delivery worker polls at the retry base: a short one delivers at once.
      INTERSEBD_WEBHOOK_RETRY_BASE_MS: "200",
    },
    { dataDir },
  ),
);
const env = { ...process.env, OPENAI_BASE_URL: `${server.url}/v1`, INTERSEBD_URL: server.url, PORT: "0" };

// A deploy is the service restarted with the prompt it ships (SYSTEM_PROMPT; unset: the current one).
type Service = { url: string; proc: ChildProcessByStdio<null, Readable, null> };
async function deploy(systemPrompt?: string): Promise<Service> {
  const proc = spawn(process.execPath, [path.join(here, "service.ts")], {
    env: { ...env, ...(systemPrompt ? { SYSTEM_PROMPT: systemPrompt } : {}) },
    stdio: ["ignore", "pipe", "inherit"],
  });
  const url = await new Promise<string>((resolve) => {
    proc.stdout.on("data", (d: Buffer) => {
      const m = /on (http:\/\/\S+)/.exec(d.toString());
      if (m?.[1]) resolve(m[1]);
    });
  });
  return { url, proc };
}
async function stop(s: Service): Promise<void> {
  // On SIGTERM the service's SDK sends what it still holds, then the process exits.
  const exited = new Promise((r) => s.proc.once("exit", r));
  s.proc.kill("SIGTERM");
  await exited;
}

const root = path.resolve(here, "../..");
const cli = path.join(root, "packages/server/src/cli/main.ts");
/** Runs `intersebd <args>` from the repository's root and prints it as a terminal would. */
async function intersebd(...args: string[]): Promise<string> {
  const r = await promisify(execFile)(process.execPath, [cli, ...args], { env, cwd: root });
  console.log(`\n$ intersebd ${args.join(" ")}\n${r.stdout.trimEnd()}`);
  return r.stdout;
}

async function api<T>(method: "GET" | "POST", p: string, body?: unknown): Promise<T> {
  const r = await fetch(`${server.url}${p}`, {
    method,
    headers: body === undefined ? {} : { "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (!r.ok) throw new Error(`${method} ${p}: ${r.status} ${await r.text()}`);
  return (await r.json()) as T;
}

interface Alert {
  rule: string;
  status: "open" | "resolved";
  condition: string;
  value: number;
  lastValue: number | null;
  threshold: number;
  window: string;
  calls: number;
}
const showWebhook = (i: number) => {
  const r = received[i];
  if (r)
    console.log(
      `  webhook received: ${r.type} for ${r.rule}, signature ${r.verified ? "verified" : "INVALID"}`,
    );
};
const pct = (x: number) => `${(100 * x).toFixed(1)}%`;
const alerts = async () => (await api<{ open: number; alerts: Alert[] }>("GET", "/api/alerts")).alerts;

let documents = 0;
/** Users title their documents, and each asks once for a shorter title: two calls per document, one session. */
async function traffic(s: Service, n: number): Promise<{ sessions: string[]; titles: string[] }> {
  const sessions: string[] = [];
  const titles: string[] = [];
  const start = documents;
  const one = async (k: number) => {
    const documentId = `doc-${k}`;
    const post = async (p: string, body: unknown) => {
      const r = await fetch(`${s.url}${p}`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(body),
      });
      if (!r.ok) throw new Error(`${p}: ${r.status} ${await r.text()}`);
      return (await r.json()) as { titleId: string; title: string };
    };
    const first = await post("/titles", { documentId, text: `Meeting notes ${k}: the roadmap` });
    const refined = await post(`/titles/${first.titleId}/refine`, { instruction: "Shorter, please." });
    // In document order, whichever answered first.
    sessions[k - start - 1] = documentId;
    titles[2 * (k - start - 1)] = first.title;
    titles[2 * (k - start - 1) + 1] = refined.title;
  };
  documents += n;
  for (let i = 0; i < n; i += 8)
    await Promise.all(Array.from({ length: Math.min(8, n - i) }, (_, j) => one(start + i + j + 1)));
  return { sessions, titles };
}

/** Waits until the live evaluator has checked `calls` calls in all (it runs in the background). */
async function evaluated(calls: number): Promise<void> {
  await eventually(
    async () => {
      const { evaluators } = await api<{ evaluators: Array<{ counters: { done: number } }> }>(
        "GET",
        "/api/evaluators",
      );
      return (evaluators[0]?.counters.done ?? 0) >= calls ? true : undefined;
    },
    30_000,
    `${calls} calls evaluated`,
  );
}

// 1. A live evaluator on every title the service asks for, and an alert on its format check.
await intersebd("evaluators", "create", "--file", "examples/title-generator/evaluator.json");
const rule = await api<{ name: string; minCalls: number; window: string }>(
  "POST",
  "/api/alerts/rules",
  readJson("alert-rule.json"),
);
console.log(
  `\nPOST /api/alerts/rules (alert-rule.json): ${rule.name}, when over ${pct(0.2)} of the checked calls fail ` +
    `title-format over ${rule.window}, with at least ${rule.minCalls} calls; evaluated every second`,
);

// 2. Version 1, the current prompt: every title passes.
let service = await deploy();
const v1 = await traffic(service, 12);
await evaluated(24);
console.log(`\nv1: ${v1.sessions.length} documents titled and refined, e.g. "${v1.titles[0]}"`);
await intersebd("evaluators", "list");
await new Promise((r) => setTimeout(r, 1500)); // an evaluation of the rules sees these calls
console.log(`open alerts: ${(await alerts()).filter((a) => a.status === "open").length}`);

// 3. Version 2 ships a prompt that makes the model explain its title: the titles break.
await stop(service);
service = await deploy("Write a title for the document, then explain in brackets why you chose it. [[BAD]]");
const v2 = await traffic(service, 8);
console.log(`\nv2 deployed: ${v2.sessions.length} documents titled and refined, e.g. "${v2.titles[0]}"`);
await evaluated(40);
const fired = await eventually(
  async () => {
    const open = (await alerts()).find((a) => a.status === "open");
    return open && received.length >= 1 ? open : undefined;
  },
  30_000,
  "the alert to fire",
);
console.log(
  `ALERT FIRED: ${fired.rule}: ${fired.condition} at ${pct(fired.value)} ` +
    `(threshold ${pct(fired.threshold)}, ${fired.window}, ${fired.calls} checked calls)`,
);
showWebhook(0);

// 4. Roll back to version 1: new titles pass again, and the failure rate falls back under the threshold.
await stop(service);
service = await deploy();
const back = await traffic(service, 24);
console.log(
  `\nrolled back to v1: ${back.sessions.length} documents titled and refined, e.g. "${back.titles[0]}"`,
);
await evaluated(88);
const resolved = await eventually(
  async () => {
    const a = (await alerts()).find((x) => x.status === "resolved");
    return a && received.length >= 2 ? a : undefined;
  },
  30_000,
  "the alert to resolve",
);
const all = await alerts();
console.log(
  `ALERT RESOLVED: ${resolved.rule}: below ${pct(resolved.threshold)} at two evaluations in a row ` +
    `(${all.length} alert in all, ${all.filter((a) => a.status === "open").length} open)`,
);
showWebhook(1);
console.log(
  `webhooks: ${received.map((r) => r.type).join(", ")}; ` +
    `${received.filter((r) => r.verified).length} of ${received.length} signatures verified`,
);
const floor = await api<{ data: unknown[] }>("GET", "/api/floor");
console.log(`floor view: ${floor.data.length} calls flagged by moderation`);
await stop(service);

// 5. Would a second model have answered the users' follow-up turns better? v1's sessions are two-turn
//    conversations; the last assistant turn is regenerated with each candidate (with the whole conversation,
//    and with only the last message) and compared with the original on the three default criteria.
const spec = readJson("conversation-eval.json");
const created = await api<{ id: string; total: number; sessions: number; slices: number }>(
  "POST",
  "/api/conversations/evals",
  { ...spec, sessions: v1.sessions },
);
console.log(
  `\nPOST /api/conversations/evals (conversation-eval.json, v1's sessions): ${created.sessions} sessions, ` +
    `${created.slices} slices, ${created.total} regenerations`,
);
type Interval2 = [number, number];
interface Report {
  status: string;
  progress: { done: number; failed: number; total: number };
  caveat: string;
  results: Array<{
    source: string;
    comparisons: number;
    candidates: Array<{
      candidate: string;
      criteria: Array<{
        criterion: string;
        byContext: Array<{
          contextLength: number | null;
          n: number;
          wins: number;
          ties: number;
          losses: number;
          winRate: Interval2 | null;
        }>;
      }>;
    }>;
    ranking: Array<{
      criterion: string;
      ranked: Array<{ name: string; pBeatsOriginal: number; pInterval: Interval2 }> | null;
    }> | null;
  }>;
}
const report = await eventually(
  async () => {
    const r = await api<Report>("GET", `/api/conversations/evals/${created.id}`);
    return r.status === "done" ? r : undefined;
  },
  60_000,
  "the conversation evaluation",
);
const judge = report.results.find((r) => r.source === "judge");
console.log(
  `conversation evaluation: ${report.status}, ${report.progress.done} done, ${report.progress.failed} failed; ` +
    `${judge?.comparisons ?? 0} judge verdicts (fake-judge)`,
);
const fmt = (i: Interval2 | null) => (i ? `[${i[0].toFixed(2)}, ${i[1].toFixed(2)}]` : "—");
for (const c of judge?.candidates ?? []) {
  for (const crit of c.criteria) {
    for (const x of crit.byContext) {
      const ctx = x.contextLength === null ? "whole slice" : `last ${x.contextLength}`;
      console.log(
        `  ${c.candidate.padEnd(24)} ${crit.criterion.padEnd(12)} ${ctx.padEnd(11)} ` +
          `win/tie/loss ${x.wins}/${x.ties}/${x.losses} of ${x.n}, win rate ${fmt(x.winRate)}`,
      );
    }
  }
}
for (const r of judge?.ranking ?? []) {
  const order = (r.ranked ?? []).map((x) => `${x.name} ${x.pBeatsOriginal.toFixed(2)} ${fmt(x.pInterval)}`);
  console.log(`  ranking on ${r.criterion} (P preferred to the original): ${order.join(" > ")}`);
}
console.log(`  ${report.caveat}`);
console.log(`report in the app: ${server.url}/conversations/evals/${created.id}`);

await server.close();
await fake.close();
await new Promise<void>((resolve) => receiver.close(() => resolve()));
fs.rmSync(dataDir, { recursive: true, force: true });
