/**
 * Alerts on both stores: each condition kind fires once per episode and resolves after two clear evaluations
 * (time driven by the `now` given to evaluateRules, calls seeded at chosen times), filters narrow what is
 * measured, two evaluations at once open one episode, the fire and resolve webhooks arrive signed as
 * notifications' are (verified here independently), and bad rules are 400s naming the field.
 */
import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, it } from "node:test";
import { type Outcome, toCallRow } from "../calls/record.ts";
import { insertAnnotations } from "../graph/index.ts";
import { capturedCall } from "../testing/calls.ts";
import { DIALECTS, eventually, serverForSuite, type TestServer } from "../testing/harness.ts";
import { evaluateRules, type Transition } from "./episodes.ts";

const MIN = 60_000;
const HOUR = 60 * MIN;
const WEEK = 7 * 24 * HOUR;
// A timer that never runs during a test: evaluations are driven by the test's clock.
const QUIET = { INTERSEBD_ALERTS_EVAL_MS: String(24 * HOUR) };

let seq = 0;

interface Seed {
  at: number;
  outcome?: Outcome;
  model?: string;
  upstream?: string;
  tags?: string[];
  /** Annotations on the call: name -> reward. */
  ann?: Record<string, number>;
}

async function seed(s: TestServer, calls: Seed[]): Promise<void> {
  const rows = calls.map((c) => {
    const id = `call_alert_${++seq}`;
    return {
      row: {
        ...toCallRow(
          capturedCall({
            id,
            startedAt: c.at,
            endedAt: c.at + 50,
            outcome: c.outcome ?? "ok",
            status: c.outcome && c.outcome !== "ok" ? 500 : 200,
            upstream: c.upstream ?? "default",
            request: { model: c.model ?? "m", messages: [{ role: "user", content: "hi" }] },
          }),
          "full",
        ),
      },
      id,
      c,
    };
  });
  await s.ctx.store.db
    .insertInto("calls")
    .values(rows.map((r) => r.row))
    .execute();
  const tags = rows.flatMap((r) => (r.c.tags ?? []).map((tag) => ({ tag, callId: r.id })));
  if (tags.length) await s.ctx.store.db.insertInto("callTags").values(tags).execute();
  const anns = rows.flatMap((r) =>
    Object.entries(r.c.ann ?? {}).map(([name, reward]) => ({
      annotationKey: r.id,
      name,
      numericReward: reward,
      source: "code" as const,
      data: { detail: "seeded" },
    })),
  );
  if (anns.length) await insertAnnotations(s.ctx.store, anns, s.config.linkDepth);
}

const mine = (ts: Transition[], rule: string) => ts.filter((t) => t.rule === rule).map((t) => t.event);

async function rule(s: TestServer, body: Record<string, unknown>) {
  const r = await s.api("/api/alerts/rules", { body });
  assert.equal(r.status, 201, JSON.stringify(r.body));
}

interface AlertOut {
  id: string;
  rule: string;
  status: string;
  value: number;
  threshold: number;
  window: string;
  calls: number;
  resolvedAt: string | null;
}

for (const dialect of DIALECTS) {
  describe(`alerts on ${dialect}`, () => {
    const server = serverForSuite(dialect, QUIET, { inProcess: true });
    const ev = (s: TestServer, now: number) => evaluateRules({ store: s.ctx.store }, now);

    it("rate: a check failing on more than 5% of at least 50 calls in the hour fires once, and resolves", async (t) => {
      const s = server(t);
      if (!s) return;
      const T = Date.UTC(2030, 0, 1);
      const calls: Seed[] = Array.from({ length: 60 }, (_, i) => ({
        at: T - 30 * MIN + i * 1000,
        tags: ["rate-test"],
        ann: { "check:json-schema": i < 5 ? 0 : 1 },
      }));
      await seed(s, calls);
      await rule(s, {
        name: "json-rate",
        condition: { kind: "rate", check: "json-schema", above: 0.05 },
        window: "1h",
        minCalls: 50,
        filter: { tags: ["rate-test"] },
      });
      // Too few calls for this one: it never fires.
      await rule(s, {
        name: "json-rate-100",
        condition: { kind: "rate", check: "json-schema", above: 0.05 },
        window: "1h",
        minCalls: 100,
        filter: { tags: ["rate-test"] },
      });
      const first = await ev(s, T);
      assert.deepEqual(mine(first, "json-rate"), ["fired"]);
      assert.deepEqual(mine(first, "json-rate-100"), []);
      assert.deepEqual(mine(await ev(s, T + MIN), "json-rate"), [], "fires once per episode");

      const open = await s.api<{ open: number; alerts: AlertOut[] }>("/api/alerts?status=open");
      const a = open.body.alerts.find((x) => x.rule === "json-rate");
      assert.ok(a);
      assert.equal(a.calls, 60);
      assert.ok(Math.abs(a.value - 5 / 60) < 1e-9, String(a.value));
      assert.equal(a.threshold, 0.05);
      assert.equal(a.window, "1h");
      assert.ok(open.body.open >= 1);

      // Two hours on the window is empty: the first clear evaluation keeps it open, the second resolves it.
      assert.deepEqual(mine(await ev(s, T + 2 * HOUR), "json-rate"), []);
      assert.deepEqual(mine(await ev(s, T + 2 * HOUR + MIN), "json-rate"), ["resolved"]);
      assert.deepEqual(mine(await ev(s, T + 2 * HOUR + 2 * MIN), "json-rate"), []);
      const all = await s.api<{ alerts: AlertOut[] }>("/api/alerts");
      const ep = all.body.alerts.filter((x) => x.rule === "json-rate");
      assert.equal(ep.length, 1);
      assert.equal(ep[0]?.status, "resolved");
      assert.equal(ep[0]?.resolvedAt, new Date(T + 2 * HOUR + MIN).toISOString());

      // The condition holding again is a new episode.
      assert.deepEqual(mine(await ev(s, T), "json-rate"), ["fired"]);
      const again = await s.api<{ alerts: AlertOut[] }>("/api/alerts");
      const eps = again.body.alerts.filter((x) => x.rule === "json-rate");
      assert.deepEqual(
        eps.map((x) => x.status),
        ["open", "resolved"],
        "open first",
      );
    });

    it("a clear evaluation between two holding ones does not resolve (hysteresis)", async (t) => {
      const s = server(t);
      if (!s) return;
      const T = Date.UTC(2030, 1, 1);
      await seed(s, [{ at: T - MIN, tags: ["hyst"], outcome: "upstream_error" }]);
      await rule(s, {
        name: "hyst-errors",
        condition: { kind: "error-rate", above: 0.5 },
        window: "15m",
        filter: { tags: ["hyst"] },
      });
      assert.deepEqual(mine(await ev(s, T), "hyst-errors"), ["fired"]);
      assert.deepEqual(mine(await ev(s, T + HOUR), "hyst-errors"), [], "one clear evaluation");
      assert.deepEqual(mine(await ev(s, T), "hyst-errors"), [], "holds again: the same episode");
      assert.deepEqual(mine(await ev(s, T + HOUR), "hyst-errors"), []);
      assert.deepEqual(mine(await ev(s, T + HOUR), "hyst-errors"), ["resolved"]);
    });

    it("floor: any flagged call in the window fires; clean ones do not", async (t) => {
      const s = server(t);
      if (!s) return;
      const T = Date.UTC(2030, 2, 1);
      await seed(s, [
        { at: T - 10 * MIN, upstream: "floor-up", ann: { floor: 1 } },
        { at: T - 9 * MIN, upstream: "floor-up", ann: { floor: 1 } },
      ]);
      await rule(s, {
        name: "floor-any",
        condition: { kind: "floor" },
        window: "1h",
        filter: { upstream: "floor-up" },
      });
      assert.deepEqual(mine(await ev(s, T), "floor-any"), [], "clean");
      await seed(s, [{ at: T - 5 * MIN, upstream: "floor-up", ann: { floor: 0 } }]);
      const fired = (await ev(s, T)).filter((x) => x.rule === "floor-any");
      assert.deepEqual(
        fired.map((x) => x.event),
        ["fired"],
      );
      assert.equal(fired[0]?.alert.value, 1, "one flagged call");
      assert.equal(fired[0]?.alert.calls, 3);
    });

    it("reward-drop: the mean down by more than `by` against the same window a week before, per model", async (t) => {
      const s = server(t);
      if (!s) return;
      const T = Date.UTC(2030, 3, 1);
      const at = (base: number, i: number) => base - 50 * MIN + i * MIN;
      await seed(s, [
        // A week ago: 0.9 on model a; now 0.5 on model a. Model b stayed at 0.9.
        ...Array.from({ length: 10 }, (_, i) => ({ at: at(T - WEEK, i), model: "a", ann: { helpful: 0.9 } })),
        ...Array.from({ length: 10 }, (_, i) => ({ at: at(T, i), model: "a", ann: { helpful: 0.5 } })),
        ...Array.from({ length: 10 }, (_, i) => ({ at: at(T - WEEK, i), model: "b", ann: { helpful: 0.9 } })),
        ...Array.from({ length: 10 }, (_, i) => ({ at: at(T, i), model: "b", ann: { helpful: 0.9 } })),
      ]);
      const drop = (name: string, model: string, by: number) =>
        rule(s, {
          name,
          condition: { kind: "reward-drop", annotation: "helpful", by },
          window: "1h",
          minCalls: 5,
          filter: { model },
        });
      await drop("drop-a", "a", 0.2);
      await drop("drop-a-big", "a", 0.5);
      await drop("drop-b", "b", 0.2);
      const ts = await ev(s, T);
      assert.deepEqual(mine(ts, "drop-a"), ["fired"]);
      assert.ok(Math.abs((ts.find((x) => x.rule === "drop-a")?.alert.value ?? 0) - 0.4) < 1e-9);
      assert.deepEqual(mine(ts, "drop-a-big"), [], "dropped 0.4, not more than 0.5");
      assert.deepEqual(mine(ts, "drop-b"), [], "model b held");
      // Without a week-old window there is nothing to compare against.
      assert.deepEqual(mine(await ev(s, T - WEEK), "drop-a"), []);
    });

    it("error-rate: outcomes other than ok over the window's calls, narrowed by the filter", async (t) => {
      const s = server(t);
      if (!s) return;
      const T = Date.UTC(2030, 4, 1);
      const calls: Seed[] = [
        ...Array.from({ length: 8 }, (_, i) => ({
          at: T - i * MIN,
          tags: ["err"],
          outcome: (i < 2 ? "upstream_error" : "ok") as Outcome,
        })),
        // Errors outside the filter or the window do not count.
        ...Array.from({ length: 8 }, (_, i) => ({
          at: T - i * MIN,
          tags: ["other"],
          outcome: "upstream_error" as const,
        })),
        ...Array.from({ length: 8 }, (_, i) => ({
          at: T - 2 * HOUR - i * MIN,
          tags: ["err"],
          outcome: "timeout" as const,
        })),
      ];
      await seed(s, calls);
      await rule(s, {
        name: "err-20",
        condition: { kind: "error-rate", above: 0.2 },
        window: "1h",
        filter: { tags: ["err"] },
      });
      await rule(s, {
        name: "err-30",
        condition: { kind: "error-rate", above: 0.3 },
        window: "1h",
        filter: { tags: ["err"] },
      });
      const ts = await ev(s, T + 1);
      assert.deepEqual(mine(ts, "err-20"), ["fired"], "2 of 8 = 25% > 20%");
      assert.deepEqual(mine(ts, "err-30"), [], "25% is not above 30%");
      assert.equal(ts.find((x) => x.rule === "err-20")?.alert.calls, 8);
    });

    it("two evaluations at once open one episode", async (t) => {
      const s = server(t);
      if (!s) return;
      const T = Date.UTC(2030, 5, 1);
      await seed(s, [{ at: T - MIN, tags: ["race"], outcome: "upstream_error" }]);
      await rule(s, {
        name: "race",
        condition: { kind: "error-rate", above: 0 },
        window: "15m",
        filter: { tags: ["race"] },
      });
      const both = await Promise.all([ev(s, T), ev(s, T), ev(s, T)]);
      assert.equal(both.flatMap((x) => mine(x, "race")).length, 1);
      const open = await s.api<{ alerts: AlertOut[] }>("/api/alerts?status=open");
      assert.equal(open.body.alerts.filter((x) => x.rule === "race").length, 1);
    });

    it("rules: list, replace (200), delete (its open alert resolves), 404", async (t) => {
      const s = server(t);
      if (!s) return;
      const T = Date.UTC(2030, 6, 1);
      await seed(s, [{ at: T - MIN, tags: ["del"], outcome: "upstream_error" }]);
      const body = {
        name: "del-me",
        condition: { kind: "error-rate", above: 0 },
        window: "15m",
        filter: { tags: ["del"] },
      };
      await rule(s, body);
      const replaced = await s.api<{ minCalls: number }>("/api/alerts/rules", {
        body: { ...body, minCalls: 1 },
      });
      assert.equal(replaced.status, 200);
      const list = await s.api<{ rules: Array<{ name: string; window: string }> }>("/api/alerts/rules");
      assert.equal(list.body.rules.find((r) => r.name === "del-me")?.window, "15m");
      assert.deepEqual(mine(await ev(s, T), "del-me"), ["fired"]);
      assert.equal((await s.api("/api/alerts/rules/del-me", { method: "DELETE" })).status, 200);
      assert.equal((await s.api("/api/alerts/rules/del-me", { method: "DELETE" })).status, 404);
      assert.deepEqual(mine(await ev(s, T), "del-me"), ["resolved"]);
    });

    it("bad rules and queries are 400s naming the field", async (t) => {
      const s = server(t);
      if (!s) return;
      const ok = { name: "bad", condition: { kind: "error-rate", above: 0.1 }, window: "1h" };
      const cases: Array<[Record<string, unknown>, string]> = [
        [{ ...ok, window: "1w" }, "window"],
        [{ ...ok, window: "0h" }, "window"],
        [{ ...ok, condition: { kind: "latency", above: 1 } }, "condition.kind"],
        [{ ...ok, condition: { kind: "error-rate", above: 1.5 } }, "condition.above"],
        [{ ...ok, condition: { kind: "rate", above: 0.1 } }, "condition.check"],
        [{ ...ok, condition: { kind: "reward-drop", annotation: "r", by: -1 } }, "condition.by"],
        [{ ...ok, minCalls: 0 }, "minCalls"],
        [{ ...ok, webhookUrl: "not a url" }, "webhookUrl"],
        [{ ...ok, filter: { tag: "x" } }, "filter"],
        [{ ...ok, name: "has space" }, "name"],
        [{ ...ok, surprise: 1 }, ""],
      ];
      for (const [body, field] of cases) {
        const r: { status: number; body: { error: { field: string | null } } } = await s.api(
          "/api/alerts/rules",
          {
            body,
          },
        );
        assert.equal(r.status, 400, JSON.stringify(body));
        assert.ok(
          (r.body.error.field ?? "").startsWith(field),
          `${JSON.stringify(body)}: ${r.body.error.field}`,
        );
      }
      assert.equal((await s.api("/api/alerts?status=closed")).status, 400);
      const list = await s.api<{ rules: Array<{ name: string }> }>("/api/alerts/rules");
      assert.ok(!list.body.rules.some((r) => r.name === "bad" || r.name === "has space"));
    });
  });

  describe(`alert webhooks on ${dialect}`, () => {
    const SECRET_BYTES = Buffer.from("fedcba9876543210fedcba9876543210");
    const SECRET = `whsec_${SECRET_BYTES.toString("base64")}`;
    const receipts: Array<{ id: string; timestamp: string; signature: string | undefined; body: string }> =
      [];
    const rcv = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        receipts.push({
          id: String(req.headers["webhook-id"]),
          timestamp: String(req.headers["webhook-timestamp"]),
          signature: req.headers["webhook-signature"] as string | undefined,
          body: Buffer.concat(chunks).toString("utf8"),
        });
        res.writeHead(204, { connection: "close" }).end();
      });
    });
    let url = "";
    before(async () => {
      await new Promise<void>((resolve) => rcv.listen(0, "127.0.0.1", resolve));
      url = `http://127.0.0.1:${(rcv.address() as AddressInfo).port}/alerts`;
    });
    after(() => new Promise<void>((resolve) => rcv.close(() => resolve())));
    // No notification webhook: the alerts' own worker delivers, to the rule's URL.
    const server = serverForSuite(
      dialect,
      { ...QUIET, INTERSEBD_WEBHOOK_SECRET: SECRET, INTERSEBD_WEBHOOK_RETRY_BASE_MS: "50" },
      { inProcess: true },
    );

    it("fire and resolve each arrive once, signed with the Standard Webhooks scheme", async (t) => {
      const s = server(t);
      if (!s) return;
      const T = Date.UTC(2030, 7, 1);
      await seed(s, [{ at: T - MIN, tags: ["hook"], outcome: "upstream_error" }]);
      await rule(s, {
        name: "hooked",
        condition: { kind: "error-rate", above: 0 },
        window: "15m",
        filter: { tags: ["hook"] },
        webhookUrl: url,
      });
      // The server's alerts service would evaluate on its timer; here the test's clock drives it, and the
      // delivery worker the server started when a rule named a webhook sends what is enqueued.
      const deps = { store: s.ctx.store };
      assert.deepEqual(mine(await evaluateRules(deps, T), "hooked"), ["fired"]);
      await evaluateRules(deps, T + HOUR);
      assert.deepEqual(mine(await evaluateRules(deps, T + HOUR), "hooked"), ["resolved"]);
      // The worker polls every 50 ms (the retry base): both arrive without a nudge.
      await eventually(() => receipts.length >= 2, 10_000, "two webhooks");
      await new Promise((r) => setTimeout(r, 200));
      assert.equal(receipts.length, 2, "each sent once");
      const bodies = receipts.map(
        (r) => JSON.parse(r.body) as { type: string; data: { alert: AlertOut; rule: { name: string } } },
      );
      assert.deepEqual(
        bodies.map((b) => b.type),
        ["alert.fired", "alert.resolved"],
      );
      assert.equal(bodies[0]?.data.alert.rule, "hooked");
      assert.equal(bodies[0]?.data.alert.id, bodies[1]?.data.alert.id, "one episode");
      assert.equal(bodies[1]?.data.alert.resolvedAt, new Date(T + HOUR).toISOString());
      assert.equal(bodies[0]?.data.rule.name, "hooked");
      for (const r of receipts) {
        const mac = createHmac("sha256", SECRET_BYTES)
          .update(`${r.id}.${r.timestamp}.${r.body}`)
          .digest("base64");
        assert.equal(r.signature, `v1,${mac}`);
        assert.ok(Math.abs(Number(r.timestamp) - Date.now() / 1000) < 300);
      }
      assert.notEqual(receipts[0]?.id, receipts[1]?.id);
    });
  });
}
