/**
 * Fault test: PostgreSQL stopped with `pg_ctl stop -m immediate` (every backend killed at once, as a crash or
 * a failover does) several times under steady concurrent proxy traffic. The proxy must answer every request,
 * the API must answer 503 `store_unavailable` while the database is gone and 200 once it is back, the process
 * must stay up, and every call must be stored exactly once in the end. The background workers (evaluations,
 * webhook delivery) ride the same outage: they back off, say so once, and resume.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { EvalWorker } from "../evals/worker.ts";
import { startWebhookWorker } from "../notifications/webhooks.ts";
import {
  chatCompletionBody,
  DIALECTS,
  eventually,
  startFakeUpstream,
  startTestServer,
} from "../testing/index.ts";
import { pgClusterUnavailable, startPgCluster } from "../testing/pg-cluster.ts";
import type { Logger } from "../util/log.ts";
import { openStore } from "./index.ts";

const CLIENTS = 10;
const OUTAGES = 3;

/** One chat completion through the proxy, alternating plain and streamed; resolves to the call id or throws. */
async function chatOnce(base: string, stream: boolean, text: string): Promise<string> {
  const res = await fetch(`${base}/v1/chat/completions`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: chatCompletionBody(text, stream),
  });
  const body = await res.text();
  if (res.status !== 200) throw new Error(`HTTP ${res.status}: ${body.slice(0, 200)}`);
  if (stream ? !body.includes("data: [DONE]") : !body.includes(`echo: ${text}`))
    throw new Error(`incomplete answer: ${body.slice(0, 200)}`);
  const id = res.headers.get("x-intersebd-call-id");
  if (!id) throw new Error("no x-intersebd-call-id header");
  return id;
}

describe("PostgreSQL restarting under traffic", () => {
  it(`keeps the proxy answering, answers 503 on the API, and stores every call once (${OUTAGES} immediate stops)`, async (t) => {
    if (!DIALECTS.includes("postgres")) return t.skip("INTERSEBD_TEST_DIALECTS leaves PostgreSQL out");
    const why = await pgClusterUnavailable();
    if (why) return t.skip(`no private PostgreSQL cluster (${why}): this fault test did NOT run`);
    const cluster = await startPgCluster();
    const fake = await startFakeUpstream({ keepRequests: false });
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "intersebd-faults-"));
    const uncaught: unknown[] = [];
    const onUncaught = (err: unknown) => uncaught.push(err);
    process.on("uncaughtException", onUncaught);
    let server: Awaited<ReturnType<typeof startTestServer>> | undefined;
    // Set when traffic must stop: at the end of the outages, or when the test fails half-way.
    let stopping = false;
    const loops: Array<Promise<void>> = [];
    try {
      const db = await cluster.createDatabase("intersebd_faults");
      server = await startTestServer("postgres", { upstream: fake.url, db, dataDir });
      const base = server.url;
      const s = server;

      const ids: string[] = [];
      const clientErrors: string[] = [];
      const clients = Array.from({ length: CLIENTS }, async (_, c) => {
        for (let n = 0; !stopping; n++) {
          try {
            ids.push(await chatOnce(base, n % 2 === 1, `client ${c} request ${n}`));
          } catch (err) {
            clientErrors.push(String(err));
          }
        }
      });

      // The API while the database comes and goes: each answer's status and error code.
      const apiAnswers: Array<{
        status: number;
        code?: string;
        message?: string;
        retryAfter?: string | null;
      }> = [];
      const healthStore: Array<boolean | number> = [];
      const poller = (async () => {
        while (!stopping) {
          try {
            const r = await s.api<{ error?: { code?: string; message?: string } }>("/api/calls?limit=1");
            apiAnswers.push({
              status: r.status,
              code: r.body.error?.code,
              message: r.body.error?.message,
              retryAfter: r.headers.get("retry-after"),
            });
            const h = await s.api<{ storeReachable: boolean }>("/healthz");
            healthStore.push(h.status === 200 ? h.body.storeReachable : h.status);
          } catch (err) {
            apiAnswers.push({ status: 0, message: String(err) });
          }
          await sleep(25);
        }
      })();
      loops.push(...clients, poller);
      await sleep(800);
      for (let i = 0; i < OUTAGES; i++) {
        await cluster.stopImmediate();
        await sleep(1000);
        await cluster.start();
        // Back to serving, and the recorder writing to the database again, before the next stop: each stop
        // then lands on live inserts and queries, not on a recorder still spooling from the last one.
        await eventually(
          async () => (await s.api("/api/calls?limit=1")).status === 200,
          10_000,
          `the API answering 200 after outage ${i + 1}`,
        );
        await eventually(
          () => s.ctx.recorder.storeReachable,
          10_000,
          `the recorder back after outage ${i + 1}`,
        );
        await sleep(300);
      }
      stopping = true;
      await Promise.all(loops);

      assert.deepEqual(clientErrors, [], "no proxied request failed because of the database");
      assert.deepEqual(uncaught, [], "nothing escaped to the process");
      assert.ok(ids.length > 100, `steady traffic ran (${ids.length} calls)`);

      const unavailable = apiAnswers.filter((a) => a.status === 503);
      assert.ok(unavailable.length > 0, "the API answered 503 while the database was down");
      for (const a of unavailable) {
        assert.equal(a.code, "store_unavailable");
        assert.equal(a.retryAfter, "1");
        assert.match(a.message ?? "", /the database is unavailable .*retry shortly/);
      }
      const other = apiAnswers.filter((a) => a.status !== 200 && a.status !== 503);
      assert.deepEqual(other, [], "the API answered only 200 or 503");
      assert.equal(apiAnswers.at(-1)?.status, 200, "the API answers 200 once the database is back");
      assert.ok(healthStore.includes(false), "/healthz said the store was unreachable during an outage");
      assert.deepEqual(
        healthStore.filter((h) => typeof h !== "boolean"),
        [],
        "/healthz answered 200 throughout",
      );

      const expected = [...ids].sort();
      let stored = 0;
      await eventually(
        async () => {
          await s.ctx.recorder.flush();
          const rows = await s.ctx.store.db.selectFrom("calls").select("id").execute();
          stored = rows.length;
          return s.ctx.recorder.storeReachable && rows.length >= expected.length;
        },
        20_000,
        `all ${expected.length} calls stored after the last outage`,
      ).catch((err: Error) => {
        const spool = fs.readdirSync(path.join(dataDir, "spool"));
        throw new Error(
          `${err.message} (${stored} stored, store reachable: ${s.ctx.recorder.storeReachable}, spool: ${spool.join(", ") || "empty"})`,
        );
      });
      const rows = await s.ctx.store.db.selectFrom("calls").select("id").execute();
      assert.deepEqual(
        rows.map((r) => r.id).sort(),
        expected,
        "every call the clients got is stored exactly once, and nothing else",
      );
      const health = await s.api<{ storeReachable: boolean }>("/healthz");
      assert.equal(health.body.storeReachable, true);
      const left = fs.readdirSync(path.join(dataDir, "spool")).filter((f) => f.startsWith("spool-"));
      assert.deepEqual(left, [], "spool files replayed and removed");
      const rejected = fs
        .readdirSync(dataDir, { recursive: true, encoding: "utf8" })
        .filter((f) => path.basename(f).startsWith("rejected-"));
      assert.deepEqual(rejected, [], "no call set aside as refused: a lost connection is not a refusal");
    } finally {
      stopping = true;
      await Promise.allSettled(loops);
      process.off("uncaughtException", onUncaught);
      await server?.stop().catch(() => {});
      await fake.close();
      await cluster.destroy();
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it("keeps the background workers polling through an outage: one warn line each, no errors, then they resume", async (t) => {
    if (!DIALECTS.includes("postgres")) return t.skip("INTERSEBD_TEST_DIALECTS leaves PostgreSQL out");
    const why = await pgClusterUnavailable();
    if (why) return t.skip(`no private PostgreSQL cluster (${why}): this fault test did NOT run`);
    const cluster = await startPgCluster();
    const lines: Array<{ level: keyof Logger; msg: string }> = [];
    const log: Logger = {
      error: (msg) => lines.push({ level: "error", msg }),
      warn: (msg) => lines.push({ level: "warn", msg }),
      info: (msg) => lines.push({ level: "info", msg }),
      debug: () => {},
    };
    const store = await openStore({
      kind: "postgres",
      url: await cluster.createDatabase("intersebd_workers"),
    });
    const evals = new EvalWorker(
      {
        store,
        config: { upstreams: new Map(), apiKey: undefined, linkDepth: 3 },
        baseUrl: () => "http://127.0.0.1:9",
        log,
      },
      { pollMs: 20 },
    );
    const webhooks = startWebhookWorker(
      store,
      { url: "http://127.0.0.1:9/hook", retryBaseMs: 20, maxAttempts: 3, pollMs: 20 },
      log,
    );
    try {
      evals.start();
      await sleep(200);
      await cluster.stopImmediate();
      await sleep(1500);
      await cluster.start();
      const resumed = (what: string) =>
        lines.some((l) => l.level === "info" && l.msg.startsWith(`${what}: the database answers again`));
      await eventually(
        () => resumed("evals worker") && resumed("webhook delivery"),
        15_000,
        "both workers polling the database again",
      );
      assert.deepEqual(
        lines.filter((l) => l.level === "error"),
        [],
        "a database outage is not an error",
      );
      for (const what of ["evals worker", "webhook delivery"]) {
        const warns = lines.filter((l) => l.level === "warn" && l.msg.startsWith(what));
        // Polling every 20 ms, a warn per poll would be dozens of lines.
        assert.equal(warns.length, 1, `${what}: one warn line for the outage (${JSON.stringify(warns)})`);
        assert.match(warns[0]?.msg ?? "", /the database is unavailable \(.+\); retrying/);
      }
    } finally {
      await evals.stop();
      await webhooks.stop();
      await store.close().catch(() => {});
      await cluster.destroy();
    }
  });
});
