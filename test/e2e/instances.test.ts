/**
 * Several instances on one PostgreSQL (issue 14, item 5): three `intersebd serve` processes, each with its own data
 * directory, share a private PostgreSQL cluster and sit behind a round-robin client that sends steady concurrent
 * chat completions (plain and streamed) and, for every answered call, a link from its completion id to a
 * downstream id through one instance and an annotation on that downstream id through another. While the traffic
 * runs, one instance is killed with SIGKILL and started again on the same data directory (it replays its journal
 * and spool), and PostgreSQL is stopped the hard way (`pg_ctl stop -m immediate`) and started again.
 *
 * What must hold:
 * - no client error on the surviving instances; requests the round-robin client sends to the killed instance
 *   while it is down are retried on the next one (counted apart); a response from the killed instance cut before
 *   its end may fail, nothing else may;
 * - every call whose response the client received completely (its `x-intersebd-call-id`) is stored, once;
 * - links and annotations resolve across instances: `GET /api/calls/{completionId}` on the third instance shows
 *   the link made through one and the annotation made through another.
 */
import assert from "node:assert/strict";
import type { ChildProcessWithoutNullStreams } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import pg from "pg";
import {
  chatCompletionBody,
  DIALECTS,
  eventually,
  type FakeUpstream,
  startFakeUpstream,
  startServeBin,
} from "../../packages/server/src/testing/index.ts";
import {
  type PgCluster,
  pgClusterUnavailable,
  startPgCluster,
} from "../../packages/server/src/testing/pg-cluster.ts";

const INSTANCES = 3;
const CLIENTS = 12;
/** Links and annotations are sent in batches, as the SDKs send them, by a few workers of their own. */
const GRAPH_WORKERS = 3;
const GRAPH_BATCH = 25;

interface Instance {
  index: number;
  dataDir: string;
  port: number;
  base: string;
  child: ChildProcessWithoutNullStreams;
  /** stdout and stderr of every run of this instance, for the failure message. */
  output: string[];
  /** When it was killed and when it answered again: errors from it in between are the kill's doing. */
  killedAt?: number;
  backAt?: number;
}

async function startInstance(
  index: number,
  dataDir: string,
  db: string,
  upstream: string,
  output: string[],
  port = 0,
): Promise<Instance> {
  const run = output.length;
  output.push("");
  const keep = (d: Buffer) => {
    output[run] = (output[run] + d.toString()).slice(-20_000);
  };
  // The database comes from DATABASE_URL, as a platform sets it (and no INTERSEBD_DB this environment may have).
  const { child, base } = await startServeBin(
    ["--port", String(port), "--data-dir", dataDir, "-u", upstream],
    {
      env: { DATABASE_URL: db, INTERSEBD_LOG_LEVEL: "warn", INTERSEBD_DB: undefined },
      stdout: keep,
      stderr: keep,
    },
  );
  return { index, dataDir, port: Number(new URL(base).port), base, child, output };
}

function exited(child: ChildProcessWithoutNullStreams): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once("exit", () => resolve()));
}

/** An error thrown by `fetch` before any response came: the instance could not be reached or dropped the request. */
class BeforeResponse extends Error {}
/** The response started (status and headers) but its body did not arrive whole. */
class CutResponse extends Error {}

interface Answered {
  callId: string;
  completionId: string;
  instance: number;
  stream: boolean;
  at: number;
}

describe("three instances on one PostgreSQL", () => {
  it("answer and store every call once, and resolve links and annotations across instances, through a SIGKILL and a database restart", async (t) => {
    if (!DIALECTS.includes("postgres")) return t.skip("INTERSEBD_TEST_DIALECTS leaves PostgreSQL out");
    const why = await pgClusterUnavailable();
    if (why) return t.skip(`no private PostgreSQL cluster (${why}): this test did NOT run`);

    const began = Date.now();
    const cluster: PgCluster = await startPgCluster();
    const fake: FakeUpstream = await startFakeUpstream({ keepRequests: false });
    const root = fs.mkdtempSync(path.join(os.tmpdir(), "intersebd-instances-"));
    const instances: Instance[] = [];
    let stopping = false;
    const loops: Array<Promise<void>> = [];
    try {
      const db = await cluster.createDatabase("intersebd_instances");
      const outputs = Array.from({ length: INSTANCES }, () => [] as string[]);
      // Started together: the migrator's lock must let exactly one of them migrate.
      instances.push(
        ...(await Promise.all(
          outputs.map((out, i) => {
            const dir = path.join(root, `instance-${i}`);
            fs.mkdirSync(dir);
            return startInstance(i, dir, db, fake.url, out);
          }),
        )),
      );

      /**
       * Whether a request to instance `i` from `start` to `end` overlapped its down time (killed and not yet back):
       * its failure is then the kill's doing. By overlap, not by the time of the error: a refused connection made
       * just before the restart may be reported just after it.
       */
      const downDuring = (i: number, start: number, end: number) => {
        const inst = instances[i];
        return (
          inst?.killedAt !== undefined &&
          end >= inst.killedAt &&
          (inst.backAt === undefined || start <= inst.backAt)
        );
      };

      const answered: Answered[] = [];
      const clientErrors: string[] = [];
      /** Requests sent to the killed instance while it was down and sent again to the next one. */
      let retriedElsewhere = 0;
      /** Responses of the killed instance cut by the kill: allowed to fail, not counted as answered. */
      const cutByKill: string[] = [];
      /** The API's 503 store_unavailable answers while PostgreSQL was down (retried after a pause). */
      let unavailable = 0;
      let turn = 0;

      /** One chat completion on instance `i`; throws BeforeResponse or CutResponse, or returns what was answered. */
      const chatOn = async (i: number, stream: boolean, text: string): Promise<Answered> => {
        const inst = instances[i] as Instance;
        let res: Response;
        try {
          res = await fetch(`${inst.base}/v1/chat/completions`, {
            method: "POST",
            headers: { "content-type": "application/json" },
            body: chatCompletionBody(text, stream),
          });
        } catch (err) {
          throw new BeforeResponse(`${String(err)} (${String((err as { cause?: unknown }).cause)})`);
        }
        let body: string;
        try {
          body = await res.text();
        } catch (err) {
          throw new CutResponse(`${String(err)} (${String((err as { cause?: unknown }).cause)})`);
        }
        if (res.status !== 200) throw new Error(`HTTP ${res.status}: ${body.slice(0, 300)}`);
        const callId = res.headers.get("x-intersebd-call-id");
        if (!callId) throw new Error("no x-intersebd-call-id header");
        let completionId: string | undefined;
        if (stream) {
          if (!body.includes("data: [DONE]"))
            throw new CutResponse(`stream without [DONE]: ${body.slice(-200)}`);
          completionId = /"id":"(chatcmpl-[^"]+)"/.exec(body)?.[1];
        } else {
          const parsed = JSON.parse(body) as {
            id?: string;
            choices?: Array<{ message?: { content?: string } }>;
          };
          if (parsed.choices?.[0]?.message?.content !== `echo: ${text}`)
            throw new Error(`wrong answer: ${body.slice(0, 300)}`);
          completionId = parsed.id;
        }
        if (!completionId) throw new Error(`no completion id in ${body.slice(0, 300)}`);
        return { callId, completionId, instance: i, stream, at: Date.now() };
      };

      /**
       * The round-robin client: the next instance in turn; a request the killed instance could not take while
       * down goes to the next one. Returns what was answered, or undefined when the kill cut the response.
       */
      const chat = async (stream: boolean, text: string): Promise<Answered | undefined> => {
        let i = turn++ % INSTANCES;
        for (let tries = 0; ; tries++) {
          const start = Date.now();
          try {
            return await chatOn(i, stream, text);
          } catch (err) {
            const down = downDuring(i, start, Date.now());
            if (down && err instanceof BeforeResponse && tries < INSTANCES) {
              retriedElsewhere++;
              i = (i + 1) % INSTANCES;
              continue;
            }
            if (down && (err instanceof CutResponse || err instanceof BeforeResponse)) {
              cutByKill.push(`instance ${i}: ${(err as Error).message}`);
              return undefined;
            }
            clientErrors.push(`instance ${i} (${stream ? "stream" : "plain"}): ${String(err)}`);
            return undefined;
          }
        }
      };

      /**
       * A batch of links or annotations through instance `i`, retried on the next instance when it is down and
       * after a pause when the database is (503 store_unavailable). Both are idempotent, so a retry of a request
       * whose answer was lost stores nothing twice. Returns the instance that took it.
       */
      const apiWrite = async (i: number, pathname: string, items: unknown[]): Promise<number> => {
        const until = Date.now() + 30_000;
        for (;;) {
          const inst = instances[i] as Instance;
          let status = 0;
          let text = "";
          const start = Date.now();
          try {
            const res = await fetch(`${inst.base}${pathname}`, {
              method: "POST",
              headers: { "content-type": "application/json" },
              body: JSON.stringify(items),
            });
            status = res.status;
            text = await res.text();
          } catch (err) {
            if (!downDuring(i, start, Date.now())) {
              clientErrors.push(`instance ${i} POST ${pathname}: ${String(err)}`);
              throw err;
            }
            retriedElsewhere++;
            i = (i + 1) % INSTANCES;
            continue;
          }
          if (status === 201) return i;
          if (status === 503 && text.includes("store_unavailable") && Date.now() < until) {
            unavailable++;
            await sleep(200);
            continue;
          }
          clientErrors.push(`instance ${i} POST ${pathname}: HTTP ${status} ${text.slice(0, 300)}`);
          throw new Error(`POST ${pathname} failed`);
        }
      };

      // Answered calls wait here for their link and annotation.
      const toLink: Answered[] = [];
      const graph: Array<{
        call: Answered;
        down: string;
        annotationId: string;
        linkOn: number;
        annotationOn: number;
      }> = [];
      let graphTurn = 0;

      const clients = Array.from({ length: CLIENTS }, async (_, c) => {
        for (let n = 0; !stopping; n++) {
          const a = await chat(n % 2 === 1, `client ${c} request ${n}`);
          if (a) {
            answered.push(a);
            toLink.push(a);
          }
        }
      });
      const graphWorkers = Array.from({ length: GRAPH_WORKERS }, async () => {
        while (!stopping || toLink.length > 0) {
          const batch = toLink.splice(0, GRAPH_BATCH);
          if (batch.length === 0) {
            await sleep(20);
            continue;
          }
          const first = graphTurn++ % INSTANCES;
          const items = batch.map((call) => ({
            call,
            down: `down_${call.callId}`,
            annotationId: `ann_${call.callId}`,
          }));
          try {
            const linkOn = await apiWrite(
              first,
              "/api/links",
              items.map((x) => ({ upstreamTag: x.call.completionId, downstreamTag: x.down })),
            );
            const annotationOn = await apiWrite(
              (linkOn + 1) % INSTANCES,
              "/api/annotations",
              items.map((x) => ({
                id: x.annotationId,
                annotationKey: x.down,
                name: "instances",
                numericReward: 1,
                source: "code",
              })),
            );
            for (const x of items) graph.push({ ...x, linkOn, annotationOn });
          } catch {
            // Counted in clientErrors by apiWrite.
          }
        }
      });
      loops.push(...clients, ...graphWorkers);

      // Steady traffic first, then the SIGKILL of one instance and its restart on the same data directory.
      await sleep(1500);
      const victim = instances[1] as Instance;
      const kill = Date.now();
      victim.killedAt = kill;
      victim.child.kill("SIGKILL");
      await exited(victim.child);
      await sleep(1000);
      const again = await startInstance(1, victim.dataDir, db, fake.url, victim.output, victim.port);
      instances[1] = { ...again, killedAt: victim.killedAt };
      (instances[1] as Instance).backAt = Date.now();
      const answeredBeforeKill = answered.filter((a) => a.instance === 1 && a.at <= kill);
      await sleep(1000);

      // Then PostgreSQL, stopped the hard way under every instance, and started again.
      await cluster.stopImmediate();
      await sleep(1000);
      await cluster.start();
      for (const inst of instances) {
        await eventually(
          async () => {
            const r = await fetch(`${inst.base}/healthz`);
            return (
              r.status === 200 && ((await r.json()) as { storeReachable?: boolean }).storeReachable === true
            );
          },
          15_000,
          `instance ${inst.index} writing to the database again`,
        );
      }
      await sleep(1000);
      stopping = true;
      await Promise.all(loops);

      t.diagnostic(`traffic and its drain over ${Date.now() - began} ms into the test`);
      t.diagnostic(
        `${answered.length} calls answered, ${retriedElsewhere} requests retried on another instance, ` +
          `${cutByKill.length} responses cut by the SIGKILL, ${unavailable} API answers 503 while PostgreSQL was down, ` +
          `${answeredBeforeKill.length} calls answered by the killed instance before the kill`,
      );
      assert.deepEqual(clientErrors, [], "no client error on the surviving instances");
      assert.ok(answered.length >= 300, `steady traffic ran (${answered.length} calls answered)`);
      assert.ok(answeredBeforeKill.length > 0, "the killed instance had answered calls before the kill");
      assert.ok(
        retriedElsewhere > 0,
        "requests reached the killed instance while it was down, and were retried",
      );

      // Every check below adds what it finds here, so that one run reports every kind of loss at once.
      const problems: string[] = [];

      // Every answered call stored, once: by its call id, and no completion id twice (a replay under a new id).
      const want = new Map(answered.map((a) => [a.callId, a]));
      let missing: Answered[] = [];
      const admin = new pg.Client({ connectionString: db });
      await admin.connect();
      try {
        await eventually(
          async () => {
            const rows = await admin.query<{ id: string }>("select id from calls");
            const have = new Set(rows.rows.map((r) => r.id));
            missing = [...want.values()].filter((a) => !have.has(a.callId));
            return missing.length === 0;
          },
          20_000,
          "every answered call stored",
        ).catch(() => {
          const when = (a: Answered) => {
            if (a.instance !== victim.index) return "by a surviving instance";
            const ms = kill - a.at;
            return ms >= 0 ? `${ms} ms before the SIGKILL` : `${-ms} ms after the SIGKILL was sent`;
          };
          problems.push(
            `${missing.length} of ${want.size} answered calls are not stored (answered means stored, issue 14 item 4):\n` +
              missing
                .map(
                  (a) =>
                    `  ${a.callId} (${a.stream ? "stream" : "plain"}, instance ${a.instance}, answered ${when(a)})`,
                )
                .join("\n") +
              `\nkilled instance's output:\n${victim.output.join("\n--- restart ---\n").slice(-3000)}`,
          );
        });
        const doubled = await admin.query<{ completion_id: string; n: string }>(
          "select completion_id, count(*) as n from calls where completion_id is not null group by completion_id having count(*) > 1",
        );
        for (const r of doubled.rows) problems.push(`completion ${r.completion_id} stored ${r.n} times`);
        const outcomes = await admin.query<{ id: string; outcome: string }>(
          "select id, outcome from calls where id = any($1) and outcome <> 'ok'",
          [[...want.keys()]],
        );
        for (const r of outcomes.rows) problems.push(`answered call ${r.id} stored as ${r.outcome}, not ok`);

        // Every annotation resolved to its call (the materialized resolution every read uses), whichever
        // instances took the call, the link and the annotation, and in whatever order they landed. A call that
        // is not stored is reported above, not again here.
        const lost = new Set(missing.map((a) => a.callId));
        if (graph.length !== answered.length)
          problems.push(
            `${answered.length - graph.length} answered calls got no link and annotation (see client errors)`,
          );
        const resolved = await admin.query<{ call_id: string; annotation_id: string }>(
          "select call_id, annotation_id from call_annotations where annotation_id = any($1)",
          [graph.map((g) => g.annotationId)],
        );
        const pairs = new Set(resolved.rows.map((r) => `${r.call_id} ${r.annotation_id}`));
        const unresolved = graph.filter(
          (g) => !lost.has(g.call.callId) && !pairs.has(`${g.call.callId} ${g.annotationId}`),
        );
        if (unresolved.length)
          problems.push(
            `${unresolved.length} annotations do not resolve to their call:\n` +
              unresolved
                .slice(0, 20)
                .map(
                  (g) =>
                    `  ${g.annotationId} (call on instance ${g.call.instance}, link via ${g.linkOn}, annotation via ${g.annotationOn})`,
                )
                .join("\n"),
          );
      } finally {
        await admin.end();
      }
      const lost = new Set(missing.map((a) => a.callId));

      // And through the API, read on the instance that took neither the link nor the annotation: every call the
      // killed instance answered in its last second, and an even sample of the rest (reading thousands of
      // calls one by one would be most of the test's time).
      const every = Math.max(1, Math.ceil(graph.length / 300));
      const queue = graph.filter(
        (g, n) =>
          !lost.has(g.call.callId) &&
          (n % every === 0 ||
            (g.call.instance === victim.index && g.call.at > kill - 1000 && g.call.at <= kill + 100)),
      );
      const sampled = queue.length;
      await Promise.all(
        Array.from({ length: 6 }, async () => {
          for (let g = queue.shift(); g; g = queue.shift()) {
            const readOn = [0, 1, 2].find((i) => i !== g.linkOn && i !== g.annotationOn) ?? g.call.instance;
            const inst = instances[readOn] as Instance;
            const r = await fetch(`${inst.base}/api/calls/${g.call.completionId}`);
            const body = (await r.json()) as {
              id?: string;
              links?: Array<{ upstreamTag: string; downstreamTag: string }>;
              annotations?: Array<{ id: string; path: string[] }>;
            };
            const link = body.links?.some(
              (l) => l.upstreamTag === g.call.completionId && l.downstreamTag === g.down,
            );
            const ann = body.annotations?.find((a) => a.id === g.annotationId);
            if (r.status !== 200 || body.id !== g.call.callId || !link || ann?.path.at(-1) !== g.down)
              problems.push(
                `${g.call.completionId} read on instance ${readOn} (link via ${g.linkOn}, annotation via ${g.annotationOn}): ` +
                  `HTTP ${r.status}, id ${body.id}, link ${link ? "found" : "missing"}, annotation ${ann ? JSON.stringify(ann.path) : "missing"}`,
              );
          }
        }),
      );
      t.diagnostic(
        `read ${sampled} calls' links and annotations through the API (${Date.now() - began} ms so far)`,
      );
      // The list as the message, not a diff of it against [] (which would print every line twice).
      assert.equal(problems.length, 0, problems.join("\n"));
    } finally {
      stopping = true;
      await Promise.allSettled(loops);
      await Promise.all(
        instances.map(async (inst) => {
          inst.child.kill("SIGTERM");
          const timer = setTimeout(() => inst.child.kill("SIGKILL"), 5000);
          await exited(inst.child);
          clearTimeout(timer);
        }),
      );
      await fake.close();
      await cluster.destroy();
      fs.rmSync(root, { recursive: true, force: true });
    }
  });
});
