/**
 * `intersebd experiments` as a user runs it: a real process against a test server with an API key (the command
 * talks to a server over HTTP, so the socket is the behaviour here). Usage errors exit 2, server refusals
 * other than 400 exit 1, each with one line that says what to do.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { toCallRow } from "../calls/record.ts";
import type { Experiment, ExperimentReport } from "../experiments/index.ts";
import { capturedCall } from "../testing/calls.ts";
import { startTestServer, type TestServer } from "../testing/harness.ts";
import { parseWeights } from "./experiments.ts";

const MAIN = path.resolve(import.meta.dirname, "main.ts");
const KEY = "test-key-experiments";

function run(args: string[], opts: { cwd: string; stdin?: string; env?: Record<string, string> }) {
  return new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    const child = execFile(
      process.execPath,
      [MAIN, "experiments", ...args],
      { cwd: opts.cwd, env: { ...process.env, INTERSEBD_LOG_LEVEL: "silent", ...opts.env } },
      (err, stdout, stderr) =>
        resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
    child.stdin?.end(opts.stdin ?? "");
  });
}

describe("parseWeights", () => {
  it("should read variant=weight pairs and refuse anything else with the fix", () => {
    assert.deepEqual(parseWeights(["control=80", "short=20"]), { control: 80, short: 20 });
    assert.deepEqual(parseWeights(["a=0.5"]), { a: 0.5 });
    assert.throws(
      () => parseWeights(["short"]),
      /expected variant=weight with a weight >= 0 \(e\.g\. short=20\)/,
    );
    assert.throws(() => parseWeights(["short=-1"]), /weight >= 0/);
    assert.throws(() => parseWeights(["short=lots"]), /weight >= 0/);
  });
});

describe("intersebd experiments (CLI)", () => {
  let dir: string;
  let s: TestServer;
  let cli: (args: string[], stdin?: string) => ReturnType<typeof run>;
  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "intersebd-cli-experiments-"));
    s = await startTestServer("sqlite", { env: { INTERSEBD_API_KEY: KEY } });
    cli = (args, stdin) =>
      run([...args, "--url", s.url], { cwd: dir, stdin, env: { INTERSEBD_API_KEY: KEY } });
  });
  after(async () => {
    await s.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const definition = {
    name: "titles",
    variants: [
      { name: "control", weight: 50 },
      { name: "short", weight: 50, systemPrompt: "Answer in five words." },
    ],
  };

  it("should explain itself with --help, each subcommand too", async () => {
    const top = await run(["--help"], { cwd: os.tmpdir() });
    assert.equal(top.code, 0);
    for (const sub of ["list", "show", "create", "set", "promote", "rollback"])
      assert.match(top.stdout, new RegExp(sub));
    const set = await run(["set", "--help"], { cwd: os.tmpdir() });
    assert.equal(set.code, 0);
    assert.match(set.stdout, /--weight <variant=weight>/);
    assert.match(set.stdout, /--url <url>/);
    assert.match(set.stdout, /--key <key>/);
  });

  it("should create from a file and from standard input, and refuse bad definitions with exit 2", async () => {
    fs.writeFileSync(path.join(dir, "titles.json"), JSON.stringify(definition));
    const created = await cli(["create", "--file", "titles.json", "--by", "ana"]);
    assert.equal(created.code, 0, created.stderr);
    assert.match(created.stdout, /^created titles: draft, version 1, unit userId; control 50%, short 50%/);

    const piped = await cli(
      ["create", "--file", "-", "--json"],
      JSON.stringify({ ...definition, name: "piped", by: "bo" }),
    );
    assert.equal(piped.code, 0, piped.stderr);
    assert.equal((JSON.parse(piped.stdout) as Experiment).createdBy, "bo");

    fs.writeFileSync(path.join(dir, "broken.json"), "{ name: ");
    const broken = await cli(["create", "--file", "broken.json", "--by", "ana"]);
    assert.equal(broken.code, 2);
    assert.match(broken.stderr, /--file broken\.json: not valid JSON/);

    const nobody = await cli(["create", "--file", "titles.json"]);
    assert.equal(nobody.code, 2);
    assert.match(nobody.stderr, /"by" in the file or --by <who>/);

    // The server's 400 names the field.
    fs.writeFileSync(
      path.join(dir, "one.json"),
      JSON.stringify({ name: "one", variants: [{ name: "a" }], by: "ana" }),
    );
    const one = await cli(["create", "--file", "one.json"]);
    assert.equal(one.code, 2);
    assert.match(one.stderr, /at least two variants/);

    const taken = await cli(["create", "--file", "titles.json", "--by", "ana"]);
    assert.equal(taken.code, 1, "a conflict is not a usage error");
    assert.match(taken.stderr, /exists already/);
  });

  it("should list experiments, as text and JSON, and need the key", async () => {
    const list = await cli(["list"]);
    assert.equal(list.code, 0, list.stderr);
    assert.match(list.stdout, /^titles: draft/m);
    const json = await cli(["list", "--json"]);
    assert.deepEqual((JSON.parse(json.stdout) as Experiment[]).map((e) => e.name).sort(), [
      "piped",
      "titles",
    ]);
    const noKey = await run(["list", "--url", s.url], { cwd: dir, env: { INTERSEBD_API_KEY: "" } });
    assert.equal(noKey.code, 1);
    assert.match(noKey.stderr, /pass --key or set INTERSEBD_API_KEY/);
    const withFlag = await run(["list", "--url", s.url, "--key", KEY], {
      cwd: dir,
      env: { INTERSEBD_API_KEY: "" },
    });
    assert.equal(withFlag.code, 0, withFlag.stderr);
    const away = await run(["list", "--url", "http://127.0.0.1:9"], { cwd: dir });
    assert.equal(away.code, 1);
    assert.match(away.stderr, /cannot reach http:\/\/127\.0\.0\.1:9 .*--url \(or INTERSEBD_URL\)/);
  });

  it("should change status and weights, and refuse bad changes with the fix and exit 2", async () => {
    const set = await cli([
      "set",
      "titles",
      "--status",
      "running",
      "--weight",
      "control=80",
      "--weight",
      "short=20",
      "--by",
      "ana",
    ]);
    assert.equal(set.code, 0, set.stderr);
    assert.match(set.stdout, /^changed titles: running, version 2, unit userId; control 80%, short 20%/);

    const cases: Array<[string[], RegExp]> = [
      [["set", "titles", "--weight", "short", "--by", "ana"], /expected variant=weight/],
      [
        ["set", "titles", "--status", "paused", "--by", "ana"],
        /Allowed choices are draft, shadow, running, stopped/,
      ],
      [["set", "titles", "--status", "running"], /required option '--by <who>' not specified/],
      [["set", "titles", "--by", "ana"], /nothing to change: give --status and\/or --weight/],
      [
        ["set", "titles", "--weight", "long=1", "--by", "ana"],
        /weights\.long: no such variant \(variants: control, short\)/,
      ],
      [["show", "titles", "--alpha", "2"], /expected a number between 0 and 0\.5/],
      [["show", "titles", "--metric", "thumbs"], /metric must be reward:<name>/],
      [["promote", "titles", "--variant", "short"], /required option '--approved-by <who>' not specified/],
    ];
    // None of them changes anything, so they may run at once.
    const results = await Promise.all(cases.map(([args]) => cli(args)));
    cases.forEach(([args, message], i) => {
      const r = results[i] as Awaited<ReturnType<typeof cli>>;
      assert.equal(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
      assert.match(r.stderr, message, args.join(" "));
    });
  });

  it("should show the report: variants, differences with verdicts, the SRM line and the verdict line", async () => {
    // Calls as the proxy records them: 20 users on the control (a quarter of them failed), 5 on short.
    const rows = Array.from({ length: 25 }, (_, i) => {
      const variant = i < 20 ? "control" : "short";
      return {
        ...toCallRow(
          capturedCall({
            id: `call_${i}`,
            startedAt: Date.UTC(2026, 0, 5) + i * 1000,
            endedAt: Date.UTC(2026, 0, 5) + i * 1000 + 100 + i,
            outcome: variant === "control" && i % 4 === 0 ? "upstream_error" : "ok",
          }),
          "full",
        ),
        costUsd: 0.001,
        experiment: "titles",
        variant,
        assignmentUnit: `userId:u${i}`,
        shadowOf: null,
      };
    });
    await s.ctx.store.db.insertInto("calls").values(rows).execute();
    const annotated = await fetch(`${s.url}/api/annotations`, {
      method: "POST",
      headers: { "content-type": "application/json", "x-intersebd-key": KEY },
      body: JSON.stringify(
        rows.map((r, i) => ({ annotationKey: r.id, name: "thumbs", numericReward: i % 3 === 0 ? 0 : 1 })),
      ),
    });
    assert.equal(annotated.status, 201);

    const shown = await cli(["show", "titles"]);
    if (process.env.SHOW_REPORT) process.stderr.write(shown.stdout);
    assert.equal(shown.code, 0, shown.stderr);
    const text = shown.stdout;
    assert.match(text, /^experiment titles: running, version 2, unit userId, control control/);
    assert.match(text, /arXiv:2103\.06476/);
    assert.match(text, /control \(control\)/);
    assert.match(text, /reward thumbs/);
    assert.match(text, /error rate/);
    assert.match(text, /latency p50 \/ p95/);
    assert.match(text, /vs control/);
    assert.match(text, /reward:thumbs/);
    // 20 against 5 on an 80/20 split is what was configured.
    assert.match(
      text,
      /sample ratio: control 20 \(expected 80\.0%\), short 5 \(expected 20\.0%\); p = 1\.000, as configured/,
    );
    assert.match(
      text,
      /^verdict: not yet known: about [\d,]+ more units would settle short vs control on reward:thumbs$/m,
    );

    const json = await cli(["show", "titles", "--json", "--metric", "errorRate", "--alpha", "0.1"]);
    assert.equal(json.code, 0, json.stderr);
    const report = JSON.parse(json.stdout) as ExperimentReport;
    assert.equal(report.experiment, "titles");
    assert.equal(report.alpha, 0.1);
    assert.equal(report.verdict.metric, "errorRate");
    assert.deepEqual(
      report.variants.map((v) => [v.name, v.units, v.calls]),
      [
        ["control", 20, 20],
        ["short", 5, 5],
      ],
    );

    const missing = await cli(["show", "nope"]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /no experiment named nope/);
  });

  it("should promote with the approver's name and roll back", async () => {
    const unknown = await cli(["promote", "titles", "--variant", "long", "--approved-by", "ana"]);
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /titles has no variant long/);
    const promoted = await cli([
      "promote",
      "titles",
      "--variant",
      "short",
      "--approved-by",
      "ana",
      "--comment",
      "shorter wins",
    ]);
    assert.equal(promoted.code, 0, promoted.stderr);
    assert.match(promoted.stdout, /^promoted titles: promoted, .*; promoted short \(approved by ana\)/);
    const again = await cli(["promote", "titles", "--variant", "short", "--approved-by", "ana"]);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /already promoted/);
    const rolled = await cli(["rollback", "titles", "--by", "bo", "--json"]);
    assert.equal(rolled.code, 0, rolled.stderr);
    const e = JSON.parse(rolled.stdout) as Experiment;
    assert.equal(e.status, "stopped");
    assert.equal(e.promoted, undefined);
    const detail = (await (
      await fetch(`${s.url}/api/experiments/titles`, { headers: { "x-intersebd-key": KEY } })
    ).json()) as { changes: Array<{ action: string; by: string }> };
    assert.deepEqual(
      detail.changes.map((c) => [c.action, c.by]),
      [
        ["create", "ana"],
        ["update", "ana"],
        ["promote", "ana"],
        ["rollback", "bo"],
      ],
    );
  });
});
