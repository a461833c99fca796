/**
 * The README's worked example, run as a user would: both SDKs, three processes, one resolution report.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import path from "node:path";
import { describe, it } from "node:test";

const DRIVE = path.resolve(import.meta.dirname, "../../examples/title-generator/drive.ts");
const hasPython = spawnSync("python3", ["--version"]).status === 0;

describe("worked example: title generator", () => {
  it("resolves user choices and the Python job's metrics back to each call, then exports and evaluates them", {
    skip: !hasPython && "python3 is not installed",
  }, () => {
    const r = spawnSync(process.execPath, [DRIVE], { encoding: "utf8", timeout: 120_000 });
    assert.equal(r.status, 0, `drive.ts failed:\n${r.stdout}\n${r.stderr}`);
    const out = r.stdout;
    assert.match(out, /published 2 titles/);
    // Ana accepted: reward 1 through two links, and the Python job's ctr through three.
    assert.match(out, /reward = 1 \(user by ana\)\n\s+via chatcmpl-\S+ → title_\S+ → sel_\S+\n/);
    assert.match(out, /ctr = 0\.05 \(code\)\n\s+via chatcmpl-\S+ → title_\S+ → sel_\S+ → pub_\S+\n/);
    // Ben edited: reward 0 with his correction, and the editor was notified.
    assert.match(out, /reward = 0 \(user by ben, correction "Halving our LLM bill"\)/);
    // Chloe rejected: reward 0 and nothing published.
    assert.match(out, /reward = 0 \(user by chloe\)/);
    assert.equal(out.match(/ctr = /g)?.length, 2);
    // The same judgements as training sets: Ben's correction is an SFT row and a DPO pair against the original.
    assert.match(out, /openai-sft: 3 rows \(2 from call, 1 from correction\), 0 dropped/);
    assert.match(out, /openai-dpo: 1 rows \(1 from correction\), 0 dropped/);
    assert.match(out, /trl-kto: 4 rows \(3 from call, 1 from correction\), 0 dropped/);
    // And an evaluation of a second model against the logged answers, read in the CLI.
    assert.match(out, /evaluation evl_\S+: done, 3 done, 0 failed of 3 \(dataset titles\)/);
    assert.match(out, /regex:\^echo: +│ 100\.0% +│ \[43\.9%, 100\.0%\]/);
  });
});
