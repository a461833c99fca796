/**
 * Experiments as the API stores them, on every dialect: create, read, change (sticky weights), promote with an
 * approval, roll back, every change recorded with who and when; bad input is a 400 naming the field.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { assignVariant, shares } from "intersebd/experiments";
import { DIALECTS, serverForSuite } from "../testing/harness.ts";
import type { Experiment } from "./schemas.ts";

type Detail = Experiment & { changes: Array<{ version: number; action: string; by: string; at: number }> };

const titles = {
  name: "titles",
  by: "ana",
  variants: [
    { name: "control", weight: 50 },
    { name: "short", weight: 50, systemPrompt: "Answer in five words." },
  ],
};

for (const dialect of DIALECTS) {
  describe(`experiments API (${dialect})`, () => {
    const server = serverForSuite(dialect, {}, { inProcess: true });

    it("creates, lists and reads an experiment with its changes", async (t) => {
      const s = server(t);
      if (!s) return;
      const created = await s.api<Experiment>("/api/experiments", { body: titles });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      assert.equal(created.body.status, "draft");
      assert.equal(created.body.control, "control");
      assert.equal(created.body.unit, "userId");
      assert.deepEqual(Object.fromEntries(shares(created.body.allocation)), { control: 5000, short: 5000 });
      const again = await s.api("/api/experiments", { body: titles });
      assert.equal(again.status, 409);
      const list = await s.api<{ experiments: Experiment[] }>("/api/experiments");
      assert.deepEqual(
        list.body.experiments.map((e) => e.name),
        ["titles"],
      );
      const one = await s.api<Detail>("/api/experiments/titles");
      assert.equal(one.body.changes.length, 1);
      assert.equal(one.body.changes[0]?.by, "ana");
      assert.equal(one.body.changes[0]?.action, "create");
      assert.equal((await s.api("/api/experiments/nope")).status, 404);
    });

    it("keeps units where they were when weights change, and records who changed them", async (t) => {
      const s = server(t);
      if (!s) return;
      const before = (await s.api<Experiment>("/api/experiments", { body: { ...titles, name: "sticky" } }))
        .body;
      const changed = await s.api<Experiment>("/api/experiments/sticky", {
        body: { weights: { control: 80, short: 20 }, status: "running", by: "bo" },
      });
      assert.equal(changed.status, 200, JSON.stringify(changed.body));
      const after = changed.body;
      assert.equal(after.version, 2);
      assert.equal(after.status, "running");
      let moved = 0;
      let movedWrongWay = 0;
      for (let i = 0; i < 20_000; i++) {
        const a = assignVariant(before, `user-${i}`);
        const b = assignVariant(after, `user-${i}`);
        if (a !== b) moved++;
        if (a === "control" && b !== "control") movedWrongWay++;
      }
      // Exactly the 30 % the shrinking variant gave up moves, and only from short to control.
      assert.equal(movedWrongWay, 0);
      assert.ok(Math.abs(moved / 20_000 - 0.3) < 0.02, `moved ${moved}`);
      const detail = (await s.api<Detail>("/api/experiments/sticky")).body;
      assert.deepEqual(
        detail.changes.map((c) => [c.version, c.action, c.by]),
        [
          [1, "create", "ana"],
          [2, "update", "bo"],
        ],
      );
      const unknown = await s.api<{ error: { field?: string } }>("/api/experiments/sticky", {
        body: { weights: { long: 1 }, by: "bo" },
      });
      assert.equal(unknown.status, 400);
      assert.equal(unknown.body.error.field, "weights.long");
    });

    it("promotes with a named approver and rolls back", async (t) => {
      const s = server(t);
      if (!s) return;
      await s.api("/api/experiments", { body: { ...titles, name: "promo" } });
      const noApprover = await s.api<{ error: { field?: string } }>("/api/experiments/promo/promote", {
        body: { variant: "short" },
      });
      assert.equal(noApprover.status, 400);
      assert.equal(noApprover.body.error.field, "approvedBy");
      const promoted = await s.api<Experiment>("/api/experiments/promo/promote", {
        body: { variant: "short", approvedBy: "carla" },
      });
      assert.equal(promoted.status, 200, JSON.stringify(promoted.body));
      assert.equal(promoted.body.status, "promoted");
      assert.equal(promoted.body.promoted?.variant, "short");
      assert.equal(promoted.body.promoted?.approvedBy, "carla");
      const blocked = await s.api("/api/experiments/promo", { body: { status: "running", by: "x" } });
      assert.equal(blocked.status, 409);
      const rolled = await s.api<Experiment>("/api/experiments/promo/rollback", { body: { by: "dan" } });
      assert.equal(rolled.body.status, "stopped");
      assert.equal(rolled.body.promoted, undefined);
      const detail = (await s.api<Detail>("/api/experiments/promo")).body;
      assert.deepEqual(
        detail.changes.map((c) => [c.action, c.by]),
        [
          ["create", "ana"],
          ["promote", "carla"],
          ["rollback", "dan"],
        ],
      );
    });

    it("names the field of a bad definition", async (t) => {
      const s = server(t);
      if (!s) return;
      const cases: Array<[unknown, string]> = [
        [{ ...titles, name: "has space" }, "name"],
        [{ ...titles, variants: [titles.variants[0]] }, "variants"],
        [{ ...titles, variants: [titles.variants[0], titles.variants[0]] }, "variants[1].name"],
        [{ ...titles, control: "nope" }, "control"],
        [{ ...titles, unit: "ip" }, "unit"],
        [{ ...titles, by: undefined }, "by"],
      ];
      for (const [body, field] of cases) {
        const res: { status: number; body: { error: { field?: string } } } = await s.api("/api/experiments", {
          body,
        });
        assert.equal(res.status, 400, JSON.stringify(body));
        assert.equal(res.body.error.field, field, JSON.stringify(res.body));
      }
    });

    it("refuses a shadow judge or check the evaluations would refuse, naming its field, at create and change", async (t) => {
      const s = server(t);
      if (!s) return;
      const judge = { model: "fake-judge", mode: "pairwise" };
      const cases: Array<[Record<string, unknown>, string]> = [
        [{ judge: { ...judge, scale: [1, 5] } }, "shadow.judge.scale"],
        [{ judge: { ...judge, upstream: "nowhere" } }, "shadow.judge.upstream"],
        [{ checks: ["no such shorthand"] }, "shadow.checks[0]"],
        [{ checks: [{ type: "regex", pattern: "(" }] }, "shadow.checks[0].pattern"],
        [{ checks: [{ type: "custom", name: "mine" }] }, "shadow.checks[0].type"],
        [
          {
            checks: [
              "json-schema",
              { type: "contains", against: "baseline" },
              { type: "judge", ...judge, upstream: "x" },
            ],
          },
          "shadow.checks[2].upstream",
        ],
      ];
      for (const [i, [shadow, field]] of cases.entries()) {
        const created: { status: number; body: { error: { field?: string; message: string } } } = await s.api(
          "/api/experiments",
          { body: { ...titles, name: `bad-shadow-${i}`, status: "shadow", shadow } },
        );
        assert.equal(created.status, 400, JSON.stringify([shadow, created.body]));
        assert.equal(created.body.error.field, field, JSON.stringify(created.body));
        assert.match(created.body.error.message, /^shadow\.(judge|checks\[\d\])/);
      }
      assert.equal((await s.api("/api/experiments/bad-shadow-0")).status, 404, "nothing was stored");

      const ok = await s.api<Experiment>("/api/experiments", {
        body: { ...titles, name: "shadowed", status: "shadow", shadow: { judge, checks: ["json-schema"] } },
      });
      assert.equal(ok.status, 201, JSON.stringify(ok.body));
      const changed = await s.api<{ error: { field?: string } }>("/api/experiments/shadowed", {
        body: { shadow: { checks: [{ type: "regex", pattern: "[" }] }, by: "bo" },
      });
      assert.equal(changed.status, 400, JSON.stringify(changed.body));
      assert.equal(changed.body.error.field, "shadow.checks[0].pattern");
      assert.equal((await s.api<Experiment>("/api/experiments/shadowed")).body.version, 1);
    });
  });
}
