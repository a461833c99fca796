/**
 * `intersebd export` and `intersebd datasets` as a user runs them: a real process against a SQLite store
 * filled through the API with the golden fixture. Files must equal what the API streams (the golden files).
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { loadFixture } from "../exports/golden-fixture.ts";
import { startTestServer } from "../testing/index.ts";

const MAIN = path.resolve(import.meta.dirname, "main.ts");
const DATASETS = path.resolve(import.meta.dirname, "datasets.ts");
const GOLDEN = path.resolve(import.meta.dirname, "../exports/__golden__");

function run(args: string[], cwd: string, script?: string) {
  const argv = script ? ["--input-type=module", "-e", script, "--", ...args] : [MAIN, ...args];
  return new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    execFile(
      process.execPath,
      argv,
      { cwd, env: { ...process.env, INTERSEBD_LOG_LEVEL: "silent" } },
      (err, stdout, stderr) =>
        resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

// `datasets` is registered in main.ts by the lead; until then it runs through its own entry point.
const datasets = (args: string[], cwd: string) =>
  run(
    args,
    cwd,
    `import { datasetsCommand } from ${JSON.stringify(DATASETS)}; await datasetsCommand().parseAsync(process.argv.slice(1), { from: "user" });`,
  );

const golden = (name: string) => fs.readFileSync(path.join(GOLDEN, name), "utf8");

describe("intersebd export (CLI)", () => {
  let dir: string;
  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "intersebd-cli-export-"));
    const s = await startTestServer("sqlite", { db: path.join(dir, "db.sqlite"), dataDir: dir });
    await loadFixture(s);
    await s.close();
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it("should write the same rows and manifest as the API, and summarise what it dropped", async () => {
    const r = await run(
      [
        "export",
        "--db",
        "db.sqlite",
        "--format",
        "openai-sft",
        "--out",
        "sft.jsonl",
        "--manifest",
        "sft.manifest.jsonl",
      ],
      dir,
    );
    assert.equal(r.code, 0, r.stderr);
    assert.equal(fs.readFileSync(path.join(dir, "sft.jsonl"), "utf8"), golden("openai-sft.jsonl"));
    assert.equal(
      fs.readFileSync(path.join(dir, "sft.manifest.jsonl"), "utf8"),
      golden("openai-sft.manifest.jsonl"),
    );
    assert.match(r.stderr, /openai-sft: 7 rows written → sft\.jsonl/);
    assert.match(r.stderr, /dropped 8:/);
    assert.match(r.stderr, /duplicate\s+2\s+identical to an earlier row/);
    assert.match(r.stderr, /unanswered_tool_call\s+1/);
  });

  it("should split into train and validation files by session", async () => {
    const r = await run(
      ["export", "--db", "db.sqlite", "-f", "trl-sft", "--split", "0.5", "-o", "t.jsonl"],
      dir,
    );
    assert.equal(r.code, 0, r.stderr);
    assert.equal(fs.readFileSync(path.join(dir, "t.jsonl"), "utf8"), golden("trl-sft.split-0.5.train.jsonl"));
    assert.equal(
      fs.readFileSync(path.join(dir, "t.validation.jsonl"), "utf8"),
      golden("trl-sft.split-0.5.validation.jsonl"),
    );
    assert.match(r.stderr, /train 3 → t\.jsonl, validation 3 → t\.validation\.jsonl/);
  });

  it("should filter with --where and print the report as JSON with --json", async () => {
    const r = await run(
      [
        "export",
        "--db",
        "db.sqlite",
        "-f",
        "trl-kto",
        "--where",
        "reward >= 1 by human",
        "-o",
        "k.jsonl",
        "--json",
      ],
      dir,
    );
    assert.equal(r.code, 0, r.stderr);
    const report = JSON.parse(r.stdout);
    assert.equal(report.scanned.calls, 1);
    assert.deepEqual(report.written, { train: 1, validation: 0, total: 1 });
  });

  it("should write to stdout without --out", async () => {
    const r = await run(["export", "--db", "db.sqlite", "-f", "trl-dpo", "--no-progress"], dir);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, golden("trl-dpo.jsonl"));
  });

  it("should refuse bad input with exit code 2 and one line naming the flag", async () => {
    const cases: Array<[string[], RegExp]> = [
      [
        ["-f", "trl-sft", "--where", "reward >= 1 or has correction"],
        /^intersebd: --where: "or" is not supported/,
      ],
      [["-f", "trl-sft", "--min-reward", "high"], /^intersebd: --min-reward:/],
      [["-f", "trl-sft", "--split", "0.1"], /^intersebd: --split writes two files/],
      [["-f", "trl-sft", "--split", "3", "-o", "x.jsonl"], /^intersebd: --split: split must be from 0 to 1/],
    ];
    for (const [args, message] of cases) {
      const r = await run(["export", "--db", "db.sqlite", ...args], dir);
      assert.equal(r.code, 2, args.join(" "));
      assert.match(r.stderr, message);
    }
    const missing = await run(["export", "--db", "db.sqlite", "-f", "trl-sft", "--dataset", "nope"], dir);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /no dataset named "nope"/);
  });
});

describe("intersebd datasets (CLI)", () => {
  let dir: string;
  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "intersebd-cli-datasets-"));
    const s = await startTestServer("sqlite", { db: path.join(dir, "db.sqlite"), dataDir: dir });
    await loadFixture(s);
    await s.close();
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it("should create, show, export, list snapshots, rename and delete a dataset", async () => {
    const db = ["--db", "db.sqlite"];
    const created = await datasets(
      ["create", "capitals", ...db, "--q", "Capital", "--where", "has reward", "--description", "capitals"],
      dir,
    );
    assert.equal(created.code, 0, created.stderr);
    assert.match(created.stdout, /saved dataset capitals/);
    const dupe = await datasets(["create", "capitals", ...db], dir);
    assert.equal(dupe.code, 1);
    assert.match(dupe.stderr, /already exists/);

    const shown = await datasets(["show", "capitals", ...db, "--json"], dir);
    assert.equal(shown.code, 0, shown.stderr);
    const d = JSON.parse(shown.stdout);
    assert.equal(d.size, 3);
    assert.equal(d.corrections, 1);
    const text = await datasets(["show", "capitals", ...db], dir);
    assert.match(text.stdout, /calls:\s+3/);

    const exported = await run(
      ["export", ...db, "-f", "openai-sft", "--dataset", "capitals", "-o", "c.jsonl"],
      dir,
    );
    assert.equal(exported.code, 0, exported.stderr);
    const snaps = await datasets(["snapshots", "capitals", ...db, "--json"], dir);
    const list = JSON.parse(snaps.stdout);
    assert.equal(list.length, 1);
    assert.equal(list[0].format, "openai-sft");
    assert.equal(
      list[0].rowCount,
      fs.readFileSync(path.join(dir, "c.jsonl"), "utf8").trim().split("\n").length,
    );

    const renamed = await datasets(["update", "capitals", ...db, "--rename", "italy", "--q", "Italy"], dir);
    assert.equal(renamed.code, 0, renamed.stderr);
    const listed = await datasets(["list", ...db], dir);
    assert.match(listed.stdout, /^italy\tcapitals\t\{"q":"Italy"\}/m);
    const nothing = await datasets(["update", "italy", ...db], dir);
    assert.equal(nothing.code, 2);

    assert.equal((await datasets(["delete", "italy", ...db], dir)).code, 0);
    const gone = await datasets(["show", "italy", ...db], dir);
    assert.equal(gone.code, 1);
    assert.match(gone.stderr, /no dataset named "italy"/);
  });
});
