/**
 * The SDKs' `variant()` against a real server and its proxy, on each dialect: an experiment runs 50/50 by user;
 * for 200 users the TypeScript SDK's variant (computed locally from the fetched definition) equals the variant the
 * proxy recorded for a call by that user, sent with the official `openai` client and only the experiment and user
 * headers, so the proxy decides by itself; the Python SDK (a subprocess) agrees for 40 of them. A call sent with
 * the SDK's full headers is recorded under the SDK's variant. Changing the weights through the API is seen by the
 * SDK after a refresh (and by the proxy at once, for the same users); a server that is down leaves `variant()`
 * answering the cached definition, or the control when it never had one, without throwing.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { assignVariant } from "intersebd/experiments";
import OpenAI from "openai";
import { Intersebd } from "../../packages/sdk/src/index.ts";
import {
  DIALECTS,
  eventually,
  type FakeUpstream,
  freePort,
  postgresAvailable,
  startFakeUpstream,
  startTestServer,
  type TestServer,
} from "../../packages/server/src/testing/index.ts";
import { describeRun, ROOT, run } from "../install/support.ts";

const PYTHON = process.env.PYTHON ?? "python3";
const NAME = "titles-e2e";
const USERS = Array.from({ length: 200 }, (_, i) => `e2e-user-${i}`);

interface StoredCall {
  id: string;
  userId: string | null;
  experiment: string | null;
  variant: string | null;
  assignmentUnit: string | null;
  preview?: { output: string | null };
}

interface Definition {
  name: string;
  salt: string;
  allocation: Array<{ variant: string; from: number; to: number }>;
}

function pythonMissing(): string | undefined {
  const r = spawnSync(PYTHON, ["-c", "import sys; assert sys.version_info >= (3, 9)"], { timeout: 10_000 });
  return r.error || r.status !== 0 ? `${PYTHON} (3.9+) not found` : undefined;
}
const noPython = pythonMissing();
if (noPython)
  process.stderr.write(`\n!!! sdk-variant: the Python half SKIPPED: ${noPython}. Set PYTHON.\n\n`);

/** The Python SDK's answers for some users, against a server and against a dead one. */
const PY_SCRIPT = `
import json, sys
import intersebd
base, dead, name, users = sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.argv[4])
errors = []
client = intersebd.Intersebd(base_url=base, enabled=True, on_error=errors.append)
first = client.variant(name, user_id=users[0]).variant
ready = client.experiments.ready(name, timeout=20)
out = {"first": first, "ready": ready, "variants": {u: client.variant(name, user_id=u).variant for u in users},
       "headers": client.variant(name, user_id=users[0]).headers}
down = intersebd.Intersebd(base_url=dead, enabled=True, on_error=errors.append)
out["downReady"] = down.experiments.ready(name, timeout=20)
out["down"] = down.variant(name, user_id=users[0]).variant
out["errors"] = [e.code for e in errors]
print(json.dumps(out))
`;

/** The latest call of each of `users` through the experiment since `since`, once all are stored (writes are batched). */
async function callsOf(server: TestServer, users: string[], since = 0): Promise<Map<string, StoredCall>> {
  return eventually(
    async () => {
      const byUser = new Map<string, StoredCall>();
      let cursor: string | null = null;
      do {
        const q = new URLSearchParams({ experiment: NAME, limit: "1000", from: String(since) });
        if (cursor) q.set("cursor", cursor);
        const res = await fetch(`${server.url}/api/calls?${q}`);
        assert.equal(res.status, 200);
        const page = (await res.json()) as { data: StoredCall[]; nextCursor: string | null };
        // Newest first: the first call seen for a user is its latest.
        for (const c of page.data) if (c.userId && !byUser.has(c.userId)) byUser.set(c.userId, c);
        cursor = page.nextCursor;
      } while (cursor);
      return users.every((u) => byUser.has(u)) && byUser;
    },
    20_000,
    `${users.length} calls stored`,
  );
}

/** Sends one call per user through the proxy, a few at a time. */
async function callAll(openai: OpenAI, users: string[], headersOf: (u: string) => Record<string, string>) {
  const queue = [...users];
  await Promise.all(
    Array.from({ length: 16 }, async () => {
      for (let u = queue.shift(); u !== undefined; u = queue.shift()) {
        await openai.chat.completions.create(
          { model: "gpt-4o-mini", messages: [{ role: "user", content: `a title for ${u}` }] },
          { headers: headersOf(u) },
        );
      }
    }),
  );
}

for (const dialect of DIALECTS) {
  const skip = dialect === "postgres" && !(await postgresAvailable()) ? "PostgreSQL not available" : false;
  describe(`SDK variant() against the proxy (${dialect})`, { skip, timeout: 180_000 }, () => {
    let fake: FakeUpstream;
    let server: TestServer;
    let openai: OpenAI;
    let sdk: Intersebd;
    let def: Definition;

    before(async () => {
      fake = await startFakeUpstream({ keepRequests: false });
      server = await startTestServer(dialect, { upstream: fake.url });
      openai = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: "sk-test", maxRetries: 0 });
      const created = await server.api<Definition>("/api/experiments", {
        method: "POST",
        body: {
          name: NAME,
          status: "running",
          unit: "userId",
          variants: [
            { name: "control", weight: 50 },
            { name: "candidate", weight: 50, systemPrompt: "Answer well. [[GOOD]]" },
          ],
          by: "sdk-variant test",
        },
      });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      def = created.body;
      sdk = new Intersebd({ baseURL: server.url, enabled: true, onError: () => {} });
    });
    after(async () => {
      await sdk?.shutdown();
      await server?.stop();
      await fake?.close();
    });

    it("the TypeScript SDK's variant is the proxy's for 200 users, and the Python SDK's for 40", async () => {
      const before = sdk.variant(NAME, { userId: USERS[0] });
      assert.equal(before.variant, null, "nothing is known before the first fetch");
      assert.equal(await sdk.experiments.ready(NAME, { timeoutMs: 20_000 }), true);
      const local = new Map(USERS.map((u) => [u, sdk.variant(NAME, { userId: u })]));

      // Only the experiment and the user: the proxy assigns on its own.
      await callAll(openai, USERS, (u) => ({ "x-intersebd-experiment": NAME, "x-intersebd-user-id": u }));
      const stored = await callsOf(server, USERS);
      const counts = { control: 0, candidate: 0 };
      for (const u of USERS) {
        const c = stored.get(u);
        const a = local.get(u);
        assert.ok(c && a);
        assert.equal(c.variant, a.variant, u);
        assert.equal(c.assignmentUnit, a.assignmentUnit);
        counts[a.variant as "control" | "candidate"]++;
        // The proxy applied the variant's overrides: the fake upstream echoes the candidate's [[GOOD]] marker.
        const answer = c.preview?.output ?? "";
        assert.equal(answer.includes("[[GOOD]]"), a.variant === "candidate", `${u}: ${answer}`);
        assert.deepEqual(
          a.overrides,
          a.variant === "candidate" ? { systemPrompt: "Answer well. [[GOOD]]" } : {},
        );
      }
      // 50/50 over 200 users: both sides well represented (each below 60 has probability < 1e-8).
      assert.ok(counts.control >= 60 && counts.candidate >= 60, JSON.stringify(counts));

      if (noPython) return;
      const some = USERS.slice(0, 40);
      const deadPort = await freePort();
      const r = await run(
        PYTHON,
        ["-c", PY_SCRIPT, server.url, `http://127.0.0.1:${deadPort}`, NAME, JSON.stringify(some)],
        {
          cwd: ROOT,
          env: {
            ...process.env,
            PYTHONPATH: path.join(ROOT, "packages", "python"),
            PYTHONDONTWRITEBYTECODE: "1",
          },
          timeoutMs: 60_000,
        },
      );
      assert.equal(r.code, 0, describeRun("python variant", r));
      const py = JSON.parse(r.stdout) as {
        first: string | null;
        ready: boolean;
        variants: Record<string, string | null>;
        headers: Record<string, string>;
        downReady: boolean;
        down: string | null;
        errors: string[];
      };
      assert.equal(py.first, null);
      assert.equal(py.ready, true);
      for (const u of some) assert.equal(py.variants[u], stored.get(u)?.variant, `python ${u}`);
      assert.deepEqual(py.headers, local.get(some[0] as string)?.headers);
      assert.equal(py.downReady, false);
      assert.equal(py.down, null, "a server that is down: the control");
      assert.deepEqual(py.errors, ["network_error"]);
    });

    it("a call sent with the SDK's headers is recorded under the SDK's variant", async () => {
      const users = USERS.slice(0, 20).map((u) => `${u}-full`);
      await callAll(openai, users, (u) => sdk.variant(NAME, { userId: u }).headers);
      const stored = await callsOf(server, users);
      for (const u of users) {
        const a = sdk.variant(NAME, { userId: u });
        assert.equal(stored.get(u)?.variant, a.variant, u);
        assert.equal(stored.get(u)?.assignmentUnit, `userId:${u}`);
      }
    });

    it("sees changed weights after a refresh, as the proxy does", async () => {
      const changed = await server.api<Definition>(`/api/experiments/${NAME}`, {
        method: "POST",
        body: { weights: { control: 10, candidate: 90 }, by: "sdk-variant test" },
      });
      assert.equal(changed.status, 200, JSON.stringify(changed.body));
      const beforeRefresh = USERS.map((u) => sdk.variant(NAME, { userId: u }).variant);
      assert.equal(await sdk.experiments.refresh(NAME), true);
      const now = USERS.map((u) => sdk.variant(NAME, { userId: u }).variant);
      const expected = USERS.map((u) => assignVariant(changed.body, u));
      assert.deepEqual(now, expected);
      const moved = USERS.filter((_, i) => now[i] !== beforeRefresh[i]);
      assert.ok(moved.length > 0, "90/10 moves some of 200 users");
      // Sticky: the candidate grew, so only control users moved, to the candidate.
      for (const u of moved) assert.equal(sdk.variant(NAME, { userId: u }).variant, "candidate");
      const since = Date.now();
      await callAll(openai, moved, (u) => ({ "x-intersebd-experiment": NAME, "x-intersebd-user-id": u }));
      const stored = await callsOf(server, moved, since);
      for (const u of moved) assert.equal(stored.get(u)?.variant, "candidate", u);
      assert.notDeepEqual(def.allocation, changed.body.allocation);
    });

    it("keeps answering from the cached definition when the server goes down", async () => {
      const cached = USERS.map((u) => sdk.variant(NAME, { userId: u }).variant);
      const errors: string[] = [];
      const fresh = new Intersebd({
        baseURL: server.url,
        enabled: true,
        onError: (e) => errors.push(e.code),
      });
      assert.equal(await fresh.experiments.ready(NAME), true);
      await server.stop();
      assert.equal(await fresh.experiments.refresh(NAME), true, "the last definition is kept");
      assert.equal(await sdk.experiments.refresh(NAME), true);
      assert.deepEqual(
        USERS.map((u) => sdk.variant(NAME, { userId: u }).variant),
        cached,
      );
      assert.deepEqual(
        USERS.map((u) => fresh.variant(NAME, { userId: u }).variant),
        cached,
      );
      assert.deepEqual(errors, ["network_error"]);
      const never = new Intersebd({ baseURL: server.url, enabled: true, onError: () => {} });
      assert.equal(await never.experiments.ready(NAME), false);
      assert.equal(never.variant(NAME, { userId: USERS[0] }).variant, null);
      await Promise.all([fresh.shutdown(), never.shutdown()]);
    });
  });
}
