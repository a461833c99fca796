/**
 * Resume after a crash, on each dialect: `intersebd eval` (in-process engine) is killed with SIGKILL in the
 * middle of a run with slow items, then `intersebd eval --resume <id>` finishes it. Every item must end done
 * exactly once: those finished before the kill are not replayed, those in flight are claimed again (and
 * replayed, unless their call was already logged), and the report matches the hand count.
 */
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { after, before, describe, it } from "node:test";
import { loadConfig } from "../config/index.ts";
import { openStore, type Store } from "../store/index.ts";
import {
  CLI_MAIN,
  DIALECTS,
  eventually,
  type FakeUpstream,
  freshDatabase,
  postgresAvailable,
  startFakeUpstream,
  startTestServer,
} from "../testing/index.ts";
import { wilson } from "./stats.ts";

const N = 8;

/** Item i asks a question whose echo the fake judge scores 1 + i % 5; odd items are padded to be longer. */
const question = (i: number) => `[[SCORE:${1 + (i % 5)}]] q${i}${i % 2 ? " pad pad" : ""}`;

function cli(args: string[]): {
  child: ChildProcess;
  out: Promise<{ code: number | null; stdout: string; stderr: string }>;
} {
  const child = spawn(process.execPath, [CLI_MAIN, "eval", ...args], {
    env: { ...process.env, INTERSEBD_LOG_LEVEL: "warn" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout?.on("data", (d) => {
    stdout += d;
  });
  child.stderr?.on("data", (d) => {
    stderr += d;
  });
  const out = new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) =>
    child.on("exit", (code) => resolve({ code, stdout, stderr })),
  );
  return { child, out };
}

/** How many candidate requests for item i the fake upstream has received. */
function candidateRequestsFor(fake: FakeUpstream, i: number): number {
  return fake.requests
    .map((r) => JSON.parse(r.body) as { model: string; messages: Array<{ content: string }> })
    .filter((b) => b.model === "fake-model" && b.messages[0]?.content === question(i)).length;
}

for (const dialect of DIALECTS) {
  describe(`an evaluation killed mid-run (${dialect})`, async () => {
    const skip = dialect === "postgres" && !(await postgresAvailable());
    let fake: FakeUpstream;
    let fresh: Awaited<ReturnType<typeof freshDatabase>>;
    let store: Store;

    before(async () => {
      if (skip) return;
      fake = await startFakeUpstream();
      fresh = await freshDatabase(dialect);
      const seed = await startTestServer(dialect, {
        upstream: fake.url,
        db: fresh.db,
        dataDir: fresh.dataDir,
      });
      const calls = Array.from({ length: N }, (_, i) => ({
        id: `base-${i}`,
        startedAt: 1_700_000_000_000 + i,
        endedAt: 1_700_000_000_000 + i + 100 * (i + 1),
        request: { model: "fake-model", messages: [{ role: "user", content: question(i) }] },
        response: {
          object: "chat.completion",
          model: "fake-model",
          choices: [
            { index: 0, message: { role: "assistant", content: `baseline ${i}` }, finish_reason: "stop" },
          ],
        },
      }));
      assert.equal((await seed.api("/api/calls", { body: calls })).status, 201);
      await seed.stop();
      store = await openStore(loadConfig({}, { db: fresh.db, dataDir: fresh.dataDir }).db);
    });
    after(async () => {
      await store?.close();
      await fresh?.drop();
      await fake?.close();
    });

    it("should continue where it stopped and finish every item exactly once", {
      skip,
      timeout: 60_000,
    }, async () => {
      const common = ["--db", fresh.db, "--data-dir", fresh.dataDir, "--upstream", fake.url, "--json"];
      const first = cli([
        ...common,
        "--calls",
        Array.from({ length: N }, (_, i) => `base-${i}`).join(","),
        "--candidate",
        "model=fake-model",
        "--candidate",
        "header.x-fake-delay-ms=400",
        "--check",
        "regex:^echo:",
        "--check",
        "tokens.completion <= 5",
        "--judge",
        "absolute:fake-judge",
        "--concurrency",
        "2",
        "--yes",
      ]);
      const runId = await eventually(
        async () => (await store.db.selectFrom("evalRuns").select("id").executeTakeFirst())?.id,
        20_000,
        "the CLI to create the run",
      );
      // Kill while an item is in flight: right after two finish, both slots may be between items.
      await eventually(
        async () => {
          const items = await store.db
            .selectFrom("evalItems")
            .select("status")
            .where("runId", "=", runId)
            .execute();
          const count = (status: string) => items.filter((r) => r.status === status).length;
          return count("done") >= 2 && count("running") >= 1;
        },
        20_000,
        "two items to finish while another is running",
      );
      first.child.kill("SIGKILL");
      const killed = await first.out;
      const seenAtKill = Array.from({ length: N }, (_, i) => candidateRequestsFor(fake, i));
      assert.equal(killed.code, null, "the first CLI was killed, not finished");

      const before = await store.db
        .selectFrom("evalItems")
        .selectAll()
        .where("runId", "=", runId)
        .orderBy("itemIndex")
        .execute();
      const doneBefore = before.filter((r) => r.status === "done");
      const inFlight = before.filter((r) => r.status === "running");
      assert.ok(doneBefore.length >= 2 && doneBefore.length < N, `${doneBefore.length} done at the kill`);
      assert.ok(inFlight.length >= 1, "an item was in flight at the kill");
      // The dead worker's leases would run out after 30 s; let that time pass.
      await store.db
        .updateTable("evalItems")
        .set({ lockedUntil: 0 })
        .where("status", "=", "running")
        .execute();

      const second = cli([...common, "--resume", runId]);
      const { code, stdout, stderr } = await second.out;
      assert.equal(code, 0, stderr);
      const state = JSON.parse(stdout.trim().split("\n").at(-1) as string);
      assert.equal(state.run.id, runId);
      assert.equal(state.run.status, "done");
      assert.deepEqual(state.progress, { total: N, done: N, failed: 0, pending: 0, running: 0 });

      const after = await store.db
        .selectFrom("evalItems")
        .selectAll()
        .where("runId", "=", runId)
        .orderBy("itemIndex")
        .execute();
      for (const b of doneBefore) {
        const a = after.find((x) => x.itemIndex === b.itemIndex);
        assert.equal(a?.candidateCallId, b.candidateCallId, `item ${b.itemIndex} was not replayed`);
        assert.equal(a?.attempts, 1);
      }
      for (const b of inFlight) assert.equal(after.find((x) => x.itemIndex === b.itemIndex)?.attempts, 2);
      // After the kill the upstream saw one more request per item not finished before it, except where an
      // interrupted item's call had already been logged and was reused rather than paid twice.
      for (let i = 0; i < N; i++) {
        const a = after.find((x) => x.itemIndex === i);
        const reused = Boolean(JSON.parse(a?.results ?? "{}").candidate?.reused);
        const finishedBefore = doneBefore.some((r) => r.itemIndex === i);
        const expected = (seenAtKill[i] ?? 0) + (finishedBefore || reused ? 0 : 1);
        assert.equal(
          candidateRequestsFor(fake, i),
          expected,
          `item ${i}: requests at the kill ${seenAtKill[i]}`,
        );
        assert.ok(finishedBefore || !reused || seenAtKill[i] === 1);
      }
      const checkRows = await store.db
        .selectFrom("evalCheckResults")
        .select(["itemIndex", "checkName"])
        .where("runId", "=", runId)
        .execute();
      assert.equal(checkRows.length, N * 3);

      // By hand: every answer starts with "echo:"; completion tokens = len("echo: " + question) / 4 is 5 for
      // even items and 7 for odd ones; judge scores 1 2 3 4 5 1 2 3 (pass at 3 or more: 4 of 8, mean 2.625).
      const [regex, tokens, judge] = state.report.checks;
      assert.deepEqual([regex.name, regex.passed, regex.failed], ["regex:^echo:", 8, 0]);
      assert.deepEqual(regex.passRate.ci, wilson(8, 8));
      assert.deepEqual([tokens.passed, tokens.failed], [4, 4]);
      assert.deepEqual([judge.name, judge.passed, judge.failed, judge.meanScore], ["judge", 4, 4, 2.625]);
      assert.deepEqual(judge.passRate, { rate: 0.5, ci: wilson(4, 8) });
      // Baseline durations 100, 200, … 800 ms.
      assert.equal(state.report.latency.baseline.mean, 450);
    });
  });
}
