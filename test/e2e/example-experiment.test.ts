/**
 * The worked example's experiment, run as a user would (issue 16's end-to-end test): the title service on the
 * official openai client through the proxy, a prompt change shadowed and judged by a fake judge, then split
 * 50/50 by user with the users' choices (annotations from the service's SDK) as rewards; the report says which
 * prompt is better and the winner is promoted with a named approver.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import path from "node:path";
import { describe, it } from "node:test";

const EXPERIMENT = path.resolve(import.meta.dirname, "../../examples/title-generator/experiment.ts");

describe("worked example: an experiment on the title prompt", () => {
  it("shadows the new prompt and judges it, splits users 50/50, finds it better and promotes it", () => {
    const r = spawnSync(process.execPath, [EXPERIMENT], { encoding: "utf8", timeout: 240_000 });
    assert.equal(r.status, 0, `experiment.ts failed:\n${r.stdout}\n${r.stderr}`);
    const out = r.stdout;
    // In the shadow nobody sees the new prompt's titles, and every copy was judged against the live one.
    assert.match(out, /40 users got titles; 0 came from the new prompt/);
    assert.match(out, /calls \(shadow\)\s+│ 40 \(0\)\s+│ 0 \(40\)/);
    assert.match(
      out,
      /pairwise title-judge \(win\/tie\/loss\) │ —\s+│ 1\.00 \[[\d.]+, 1\.00\] n=40 40\/0\/0/,
    );
    assert.match(out, /verdict: punchy is better than control on pairwise:title-judge/);
    // Split by user: the users' choices decide, with no sample-ratio mismatch.
    assert.match(out, /changed titles: running, version 2/);
    assert.match(
      out,
      /sample ratio: control \d+ \(expected 50\.0%\), punchy \d+ \(expected 50\.0%\); p = [\d.]+, as configured/,
    );
    assert.match(
      out,
      /verdict: punchy is better than control on reward:reward \(\+0\.\d+, 95% CS \[\+0\.\d+, \+0\.\d+\], 600 units\)/,
    );
    // Promoted once a named person approved it.
    assert.match(out, /promoted titles: promoted, version 3,.*promoted punchy \(approved by carla\)/);
    assert.match(out, /After the promotion, 20 of 20 new users got the new prompt's titles/);
  });
});
