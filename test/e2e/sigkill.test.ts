/**
 * Answered means stored (issue 14 item 4): intersebd, started through its bin, proxies chat completions at
 * concurrency 20 (plain and streamed, some streams ending their body well after `data: [DONE]`) and is killed with
 * SIGKILL in the middle of the traffic, three times, each time started again on the same data directory and
 * database. Every call whose answer a client received completely (the whole body; for a stream, `data: [DONE]`,
 * where the official clients stop reading) must then be stored exactly once, complete and ok. Calls cut by the
 * kill may or may not be stored.
 */
import assert from "node:assert/strict";
import type { ChildProcessWithoutNullStreams } from "node:child_process";
import http from "node:http";
import { after, before, describe, it } from "node:test";
import {
  chatCompletionBody,
  DIALECTS,
  type FakeUpstream,
  freshDatabase,
  postgresAvailable,
  startFakeUpstream,
  startServeBin,
  startTestServer,
} from "../../packages/server/src/testing/index.ts";

const CALLS = 400;
const CONCURRENCY = 20;
const KILLS = 3;

async function startBin(
  db: string,
  dataDir: string,
  upstream: string,
): Promise<{ child: ChildProcessWithoutNullStreams; base: string }> {
  return startServeBin(["--port", "0", "--db", db, "--data-dir", dataDir, "-u", upstream], {
    env: { INTERSEBD_LOG_LEVEL: "error" },
    stderr: (d) => process.stderr.write(d),
  });
}

/**
 * One chat completion over a fresh connection (a kill then cuts only the calls in flight). Resolves with the call
 * id when the client received the answer completely, undefined when the kill cut it.
 */
function call(base: string, i: number): Promise<string | undefined> {
  const stream = i % 2 === 1;
  const body = chatCompletionBody(`call ${i} ${Math.random()}`, stream);
  const headers: Record<string, string> = { "content-type": "application/json", connection: "close" };
  // Some streams end their body 30 ms after [DONE], as real servers sometimes do: the client has its answer first.
  if (i % 4 === 3) headers["x-fake-end-delay-ms"] = "30";
  if (i % 8 === 1) headers["x-fake-chunk-delay-ms"] = "1";
  const url = new URL(`${base}/v1/chat/completions`);
  return new Promise((resolve) => {
    const req = http.request(url, { method: "POST", headers }, (res) => {
      const id = res.headers["x-intersebd-call-id"];
      let text = "";
      let done = false;
      res.setEncoding("utf8");
      res.on("data", (d: string) => {
        text += d;
        if (stream && !done && text.includes("data: [DONE]")) {
          // Where the official clients stop: the answer is complete here, whatever follows.
          done = true;
          resolve(res.statusCode === 200 && typeof id === "string" ? id : undefined);
        }
      });
      res.on("end", () => {
        if (stream) return resolve(undefined);
        let whole = false;
        try {
          whole = (JSON.parse(text) as { object?: string }).object === "chat.completion";
        } catch {}
        resolve(res.statusCode === 200 && whole && typeof id === "string" ? id : undefined);
      });
      res.on("error", () => resolve(done && typeof id === "string" ? id : undefined));
      res.on("aborted", () => resolve(done && typeof id === "string" ? id : undefined));
    });
    req.on("error", () => resolve(undefined));
    req.end(body);
  });
}

describe("SIGKILL under traffic", () => {
  let fake: FakeUpstream;
  before(async () => {
    fake = await startFakeUpstream({ keepRequests: false });
  });
  after(async () => fake.close());

  for (const dialect of DIALECTS) {
    it(`stores every completely answered call exactly once after ${KILLS} SIGKILLs mid-traffic (${dialect})`, async (t) => {
      if (dialect === "postgres" && !(await postgresAvailable())) return t.skip("PostgreSQL unreachable");
      const fresh = await freshDatabase(dialect);
      const answered: string[] = [];
      let cut = 0;
      try {
        for (let round = 0; round < KILLS; round++) {
          const { child, base } = await startBin(fresh.db, fresh.dataDir, fake.url);
          const exited = new Promise<NodeJS.Signals | null>((r) =>
            child.once("exit", (_c, signal) => r(signal)),
          );
          // A random moment while calls are in flight: once between a quarter and nine tenths have been answered.
          const killAt = Math.floor(CALLS * (0.25 + Math.random() * 0.65));
          let next = 0;
          let done = 0;
          let killed = false;
          const roundAnswered: string[] = [];
          let roundCut = 0;
          const worker = async () => {
            while (next < CALLS && !killed) {
              const id = await call(base, round * CALLS + next++);
              if (id) roundAnswered.push(id);
              else roundCut++;
              if (++done === killAt && !killed) {
                killed = true;
                child.kill("SIGKILL");
              }
            }
          };
          await Promise.all(Array.from({ length: CONCURRENCY }, worker));
          assert.equal(await exited, "SIGKILL");
          t.diagnostic(
            `round ${round + 1}: killed after ${killAt} answers; ${roundAnswered.length} completely answered, ${roundCut} cut`,
          );
          assert.ok(roundCut > 0, "the kill came while calls were in flight");
          answered.push(...roundAnswered);
          cut += roundCut;
        }

        const server = await startTestServer(dialect, {
          upstream: fake.url,
          db: fresh.db,
          dataDir: fresh.dataDir,
        });
        try {
          const rows = await server.ctx.store.db
            .selectFrom("calls")
            .select(["id", "outcome", "response", "completionId"])
            .execute();
          const stored = new Map(rows.map((r) => [r.id, r]));
          const lost = answered.filter((id) => !stored.has(id));
          assert.deepEqual(lost, [], `${lost.length} of ${answered.length} completely answered calls lost`);
          for (const id of answered) {
            const row = stored.get(id);
            assert.equal(row?.outcome, "ok", `${id} is stored complete and ok`);
            assert.ok(row?.response && row.completionId, `${id} has its response`);
          }
          // Once: a call's id and completion id are its keys, each once (a replay of a stored call adds none).
          const keys = await server.ctx.store.db
            .selectFrom("callKeys")
            .select(["callId", "tag"])
            .where("callId", "in", answered)
            .execute();
          assert.equal(keys.length, answered.length * 2, "each call's id and completion id once");
          assert.ok(rows.length <= answered.length + cut, "no call stored that was never made");
          t.diagnostic(
            `${answered.length} completely answered, all stored once; ${rows.length - answered.length} of ${cut} cut calls stored too`,
          );
        } finally {
          await server.close();
        }
      } finally {
        await fresh.drop();
      }
    });
  }
});
