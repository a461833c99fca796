/**
 * The worked example's quality watch, run as a user would (issue 17's "done when"): a live evaluator catches a
 * prompt regression in the title service, its alert fires once and resolves after the rollback (signed webhooks
 * verified by the example's receiver), and a conversation evaluation of a second model on the service's
 * two-turn sessions reports what the fake judge decided. On each store: the example's server uses the
 * PostgreSQL database it is given.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import path from "node:path";
import { describe, it } from "node:test";
import { DIALECTS, freshDatabase, postgresAvailable } from "../../packages/server/src/testing/harness.ts";

const QUALITY = path.resolve(import.meta.dirname, "../../examples/title-generator/quality.ts");

for (const dialect of DIALECTS) {
  describe(`worked example: the title service's quality watch on ${dialect}`, () => {
    it("fires one alert on the regression, resolves it after the rollback, and reports the conversation evaluation", async (t) => {
      if (dialect === "postgres" && !(await postgresAvailable())) return t.skip("PostgreSQL unavailable");
      const fresh = dialect === "postgres" ? await freshDatabase("postgres") : undefined;
      try {
        const env = { ...process.env, ...(fresh ? { INTERSEBD_DB: fresh.db } : {}) };
        const r = spawnSync(process.execPath, [QUALITY], { encoding: "utf8", timeout: 180_000, env });
        assert.equal(r.status, 0, `quality.ts failed:\n${r.stdout}\n${r.stderr}`);
        const out = r.stdout;

        // The evaluator checked every call of the service: 12 documents, two calls each, before the regression.
        assert.match(
          out,
          /\$ intersebd evaluators create --file examples\/title-generator\/evaluator\.json\n/,
        );
        assert.match(out, /title-quality \(lev_\S+\): enabled, sample 1, .*done 24, failed 0/);
        assert.match(out, /v1: 12 documents titled and refined, e\.g\. "echo: Meeting notes 1: the roadmap"/);
        assert.match(out, /open alerts: 0\n/);

        // The regression: 16 of 40 checked calls fail the format check; the alert fires once, with a webhook.
        assert.match(
          out,
          /v2 deployed: 8 documents titled and refined, e\.g\. "echo: Meeting notes 13: the roadmap \[\[BAD\]\]"/,
        );
        assert.match(
          out,
          /ALERT FIRED: title-format: rate at 40\.0% \(threshold 20\.0%, 1h, 40 checked calls\)\n {2}webhook received: alert\.fired for title-format, signature verified\n/,
        );
        assert.equal(out.match(/ALERT FIRED/g)?.length, 1, "fires once");

        // The rollback: the rate falls under the threshold and the same episode resolves.
        assert.match(
          out,
          /rolled back to v1: 24 documents titled and refined, e\.g\. "echo: Meeting notes 21: the roadmap"/,
        );
        assert.match(
          out,
          /ALERT RESOLVED: title-format: below 20\.0% at two evaluations in a row \(1 alert in all, 0 open\)\n {2}webhook received: alert\.resolved for title-format, signature verified\n/,
        );
        assert.equal(out.match(/ALERT RESOLVED/g)?.length, 1, "resolves once");
        assert.match(out, /webhooks: alert\.fired, alert\.resolved; 2 of 2 signatures verified/);
        assert.match(out, /floor view: 0 calls flagged by moderation/);

        // The conversation evaluation: 12 sessions × 2 candidates × 2 context lengths, 3 criteria each.
        assert.match(out, /12 sessions, 12 slices, 48 regenerations/);
        assert.match(
          out,
          /conversation evaluation: done, 48 done, 0 failed; 144 judge verdicts \(fake-judge\)/,
        );
        // The second model answers as the original did: every verdict a tie. With the [[GOOD]] prompt: every one
        // a win, 12 of 12 (Wilson's 95% interval [0.76, 1.00]).
        const rows = (name: string) =>
          [
            ...out.matchAll(
              new RegExp(
                `^ {2}${name.replace(/[+.]/g, "\\$&")} +(in character|scenario|engagement) +(whole slice|last 1) +win/tie/loss (\\d+/\\d+/\\d+) of (\\d+), win rate (\\[[\\d.]+, [\\d.]+\\])$`,
                "gm",
              ),
            ),
          ].map((m) => `${m[1]}|${m[2]}|${m[3]}|${m[4]}|${m[5]}`);
        const criteria = ["in character", "scenario", "engagement"];
        const expect = (wtl: string, interval: string) =>
          criteria.flatMap((c) => ["whole slice", "last 1"].map((l) => `${c}|${l}|${wtl}|12|${interval}`));
        assert.deepEqual(rows("gpt-4.1"), expect("0/12/0", "[0.00, 0.24]"));
        assert.deepEqual(rows("gpt-4.1 + punchy prompt"), expect("12/0/0", "[0.76, 1.00]"));
        for (const c of criteria)
          assert.match(
            out,
            new RegExp(
              `ranking on ${c} \\(P preferred to the original\\): gpt-4\\.1 \\+ punchy prompt 0\\.9\\d \\[[\\d.]+, 1\\.00\\] > gpt-4\\.1 0\\.50 \\[[\\d.]+, [\\d.]+\\]`,
            ),
          );
        assert.match(
          out,
          /Distribution shift: each regeneration answers a context the original model produced/,
        );
        assert.match(out, /report in the app: http:\/\/127\.0\.0\.1:\d+\/conversations\/evals\/conv_\S+\n/);
      } finally {
        await fresh?.drop();
      }
    });
  });
}
