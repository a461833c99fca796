/**
 * `intersebd conversations` as a user runs it: a real process against a test server with an API key and the
 * fake upstream (the command talks to a server over HTTP, so the socket is the behaviour here). A session of
 * three exchanges is one slice; the candidate carries the fake judge's `[[GOOD]]` marker, so it wins each
 * criterion, and the printed report says so.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import type { ConversationEvalReport } from "../conversations/index.ts";
import { type FakeUpstream, startFakeUpstream, startTestServer, type TestServer } from "../testing/index.ts";

const MAIN = path.resolve(import.meta.dirname, "main.ts");
const KEY = "test-key-conversations";

function run(args: string[], opts: { cwd: string; env?: Record<string, string> }) {
  return new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    const child = execFile(
      process.execPath,
      [MAIN, "conversations", ...args],
      { cwd: opts.cwd, env: { ...process.env, INTERSEBD_LOG_LEVEL: "silent", ...opts.env } },
      (err, stdout, stderr) =>
        resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
    child.stdin?.end("");
  });
}

const SYSTEM = { role: "system", content: "You are Bob the pirate." };
const TURNS = Array.from({ length: 6 }, (_, k) => ({
  role: k % 2 === 0 ? "user" : "assistant",
  content: k % 2 === 0 ? `question ${k / 2 + 1}` : `arr, answer ${(k + 1) / 2}`,
}));
const calls = Array.from({ length: 3 }, (_, i) => ({
  id: `cli-call-${i + 1}`,
  sessionId: "cli-bob",
  startedAt: Date.UTC(2025, 4, 1, 12) + i * 1000,
  endedAt: Date.UTC(2025, 4, 1, 12) + i * 1000 + 100,
  upstream: "default",
  request: { model: "gpt-4.1-mini", messages: [SYSTEM, ...TURNS.slice(0, 2 * i + 1)] },
  response: {
    id: `chatcmpl-cli-${i}`,
    object: "chat.completion",
    model: "gpt-4.1-mini",
    choices: [{ index: 0, message: TURNS[2 * i + 1], finish_reason: "stop" }],
    usage: { prompt_tokens: 100, completion_tokens: 10, total_tokens: 110 },
  },
}));

describe("intersebd conversations (CLI)", () => {
  let dir: string;
  let fake: FakeUpstream;
  let s: TestServer;
  let cli: (args: string[]) => ReturnType<typeof run>;
  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "intersebd-cli-conversations-"));
    fake = await startFakeUpstream();
    s = await startTestServer("sqlite", { upstream: fake.url, env: { INTERSEBD_API_KEY: KEY } });
    const r = await s.api("/api/calls", { body: calls, headers: { "x-intersebd-key": KEY } });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    cli = (args) => run([...args, "--url", s.url], { cwd: dir, env: { INTERSEBD_API_KEY: KEY } });
  });
  after(async () => {
    await s?.stop();
    await fake?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const body = {
    sessions: ["cli-bob"],
    candidates: [{ name: "good", systemPrompt: "You are Bob the pirate. [[GOOD]]" }],
    criteria: ["in character", "scenario"],
    contextLengths: [null],
    judge: { model: "fake-judge" },
  };

  it("should explain itself with --help", async () => {
    const top = await run(["--help"], { cwd: os.tmpdir() });
    assert.equal(top.code, 0);
    assert.match(top.stdout, /eval/);
    assert.match(top.stdout, /show/);
    const ev = await run(["eval", "--help"], { cwd: os.tmpdir() });
    assert.match(ev.stdout, /--max-cost-usd <usd>/);
    assert.match(ev.stdout, /--wait/);
  });

  it("should start an evaluation from a file, wait for it, and print the report; show prints it again", async () => {
    fs.writeFileSync(path.join(dir, "bob.json"), JSON.stringify(body));
    const ev = await cli(["eval", "--file", "bob.json", "--wait"]);
    assert.equal(ev.code, 0, ev.stderr);
    const id =
      /conversation evaluation (conv_\S+): done; 1 items: 1 done, 0 failed, 0 skipped, 0 to run/.exec(
        ev.stdout,
      )?.[1];
    assert.ok(id, ev.stdout);
    // One judge call per criterion, "good" wins both: 1 / 0 / 0, a 100% win rate with its Wilson interval.
    assert.match(ev.stdout, /judge fake-judge: 2 comparisons with the original/);
    assert.match(
      ev.stdout,
      /good\s+│?\s*in character\s+│?\s*whole slice\s+│?\s*1 \/ 0 \/ 0\s+│?\s*100\.0% \[/,
    );
    assert.match(ev.stdout, /good\s+│?\s*scenario\s+│?\s*whole slice\s+│?\s*1 \/ 0 \/ 0/);
    assert.match(ev.stdout, /people: 0 comparisons with the original/);
    assert.match(
      ev.stdout,
      /cost: \$\S+ spent \(and 2 calls without a known price\); estimate unknown; cap none/,
    );
    assert.match(ev.stdout, /Distribution shift/);

    const show = await cli(["show", id]);
    assert.equal(show.code, 0, show.stderr);
    assert.equal(show.stdout, ev.stdout);
    const json = await cli(["show", id, "--json"]);
    const report = JSON.parse(json.stdout) as ConversationEvalReport;
    assert.equal(report.id, id);
    assert.equal(report.progress.done, 1);
    assert.ok(report.cost.spentUsd > 0);
  });

  it("should print the estimate when not waiting, and refuse a cap under it with exit 2", async () => {
    fs.writeFileSync(path.join(dir, "bob.json"), JSON.stringify(body));
    const started = await cli(["eval", "--file", "bob.json"]);
    assert.equal(started.code, 0, started.stderr);
    assert.match(
      started.stdout,
      /^started conv_\S+: 1 items from 1 slices of 1 sessions; estimate \$\S+ \+ unpriced fake-judge/,
    );
    assert.match(started.stdout, /intersebd conversations show conv_/);

    const capped = await cli(["eval", "--file", "bob.json", "--max-cost-usd", "0.0000001"]);
    assert.equal(capped.code, 2);
    assert.match(capped.stderr, /maxCostUsd: the estimate .* exceeds \$1e-7/);
    const bad = await cli(["eval", "--file", "bob.json", "--max-cost-usd", "lots"]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /expected a number of USD >= 0/);
    fs.writeFileSync(path.join(dir, "broken.json"), "{ sessions: ");
    const broken = await cli(["eval", "--file", "broken.json"]);
    assert.equal(broken.code, 2);
    assert.match(broken.stderr, /--file broken\.json: not valid JSON/);
    const missing = await cli(["show", "conv_nope"]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /no conversation evaluation "conv_nope"/);
  });
});
