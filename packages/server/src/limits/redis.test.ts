/**
 * Rate limits shared through Redis: two server instances on one database count one budget (requests and tokens);
 * Redis unreachable, stopped or its connection killed fails open (every request answered, one warning per
 * outage) and limits apply again once it is back. Needs the machine's Redis (127.0.0.1:6379, or
 * INTERSEBD_TEST_REDIS_URL) and the redis-server binary for the outage test: without them these tests skip,
 * loudly.
 */
import assert from "node:assert/strict";
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { randomUUID } from "node:crypto";
import net from "node:net";
import { after, before, describe, it, type TestContext } from "node:test";
import { loadConfig } from "../config/index.ts";
import { type RunningServer, startServer } from "../server.ts";
import {
  DIALECTS,
  type Dialect,
  eventually,
  type FakeUpstream,
  freePort,
  freshDatabase,
  postgresAvailable,
  startFakeUpstream,
} from "../testing/index.ts";
import { createLogger } from "../util/log.ts";

const REDIS_URL = process.env.INTERSEBD_TEST_REDIS_URL ?? "redis://127.0.0.1:6379";

function reachable(url: string): Promise<boolean> {
  const u = new URL(url);
  return new Promise((resolve) => {
    const socket = net.connect(Number(u.port || 6379), u.hostname);
    socket.setTimeout(1000);
    socket.once("connect", () => {
      socket.end("QUIT\r\n");
      resolve(true);
    });
    socket.once("error", () => resolve(false));
    socket.once("timeout", () => {
      socket.destroy();
      resolve(false);
    });
  });
}

let redisUp: Promise<boolean> | undefined;
function redisAvailable(): Promise<boolean> {
  redisUp ??= reachable(REDIS_URL).then((up) => {
    if (!up)
      process.stderr.write(
        `\n!!! Redis rate limit tests SKIPPED: nothing answers at ${REDIS_URL}.\n` +
          "!!! Start it (redis-server --daemonize yes --port 6379 --save '') or set INTERSEBD_TEST_REDIS_URL.\n\n",
      );
    return up;
  });
  return redisUp;
}

interface Instance {
  server: RunningServer;
  lines: string[];
}

/** A server whose log lines are kept, on `db` (shared by the instances of a test). */
async function instance(
  db: string,
  dataDir: string,
  upstream: string,
  env: Record<string, string>,
): Promise<Instance> {
  const lines: string[] = [];
  const config = loadConfig(
    {
      INTERSEBD_PORT: "0",
      INTERSEBD_UPSTREAM: upstream,
      INTERSEBD_FLUSH_MS: "5",
      INTERSEBD_LOG_LEVEL: "info",
      ...env,
    },
    { db, dataDir },
  );
  const server = await startServer(config, { log: createLogger("info", (l) => lines.push(l)) });
  return { server, lines };
}

async function chat(s: RunningServer, key: string, content = "hi"): Promise<number> {
  const res = await fetch(`${s.url}/v1/chat/completions`, {
    method: "POST",
    headers: { "content-type": "application/json", "x-intersebd-key": key },
    body: JSON.stringify({ model: "m", messages: [{ role: "user", content }] }),
  });
  await res.arrayBuffer();
  return res.status;
}

const warnings = (i: Instance) => i.lines.filter((l) => /warn .*rate limits: Redis/.test(l));

for (const dialect of DIALECTS) {
  describe(`rate limits through Redis (${dialect})`, () => {
    let fake: FakeUpstream;
    let fresh: Awaited<ReturnType<typeof freshDatabase>> | undefined;
    let skip: string | undefined;
    const started: Instance[] = [];
    before(async () => {
      if (dialect === "postgres" && !(await postgresAvailable()))
        skip = "PostgreSQL unreachable (see the message above): this test did NOT run on postgres";
      else if (!(await redisAvailable())) skip = `Redis unreachable at ${REDIS_URL}: this test did NOT run`;
      fake = await startFakeUpstream();
      if (!skip) fresh = await freshDatabase(dialect as Dialect);
    });
    after(async () => {
      for (const i of started) await i.server.close();
      await fresh?.drop();
      await fake.close();
    });
    const start = async (env: Record<string, string>) => {
      const i = await instance(fresh?.db as string, fresh?.dataDir as string, fake.url, env);
      started.push(i);
      return i;
    };
    const skipped = (t: TestContext) => {
      if (skip) t.skip(skip);
      return skip !== undefined;
    };

    it("two instances share one key's budget of requests and of tokens", async (t) => {
      if (skipped(t)) return;
      // A prefix of its own: earlier runs and parallel test files share the machine's Redis.
      const env = {
        INTERSEBD_RATE_LIMITS: "key:3rpm,key:100tpm",
        REDIS_URL,
        INTERSEBD_RATE_LIMITS_REDIS_PREFIX: `intersebd-test:${randomUUID()}:`,
      };
      const [a, b] = [await start(env), await start(env)];
      const key = randomUUID();
      assert.deepEqual(
        [
          await chat(a.server, key),
          await chat(b.server, key),
          await chat(a.server, key),
          await chat(b.server, key),
        ],
        [200, 200, 200, 429],
      );
      assert.equal(await chat(a.server, key), 429);
      // Tokens: charged by the instance that forwarded the call (after it), refused by the other.
      const heavy = randomUUID();
      assert.equal(await chat(a.server, heavy, "x".repeat(400)), 200);
      await eventually(
        async () => (await chat(b.server, heavy)) === 429,
        5000,
        "the other instance refusing",
      );
      assert.deepEqual([...warnings(a), ...warnings(b)], [], "no Redis warning while it answers");
    });

    it("fails open with one warning when nothing listens at REDIS_URL", async (t) => {
      if (skipped(t)) return;
      const i = await start({
        INTERSEBD_RATE_LIMITS: "key:1rpm",
        REDIS_URL: `redis://:secret-password@127.0.0.1:${await freePort()}`,
      });
      const key = randomUUID();
      for (let n = 0; n < 5; n++) assert.equal(await chat(i.server, key), 200, `request ${n + 1}`);
      assert.equal(warnings(i).length, 1, i.lines.join(""));
      assert.match(warnings(i)[0] as string, /unavailable .*requests go through without limits/);
      assert.ok(!i.lines.join("").includes("secret-password"), "the URL's password is never logged");
    });

    it("fails open while its Redis is stopped or its connection killed, and limits again once it is back", async (t) => {
      if (skipped(t)) return;
      if (spawnSync("redis-server", ["--version"]).status !== 0) {
        process.stderr.write(
          "\n!!! Redis outage test SKIPPED: no redis-server binary to stop and start.\n\n",
        );
        t.skip("no redis-server binary");
        return;
      }
      const port = await freePort();
      let redis: ChildProcess | undefined;
      const up = async () => {
        redis = spawn(
          "redis-server",
          ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
          {
            stdio: "ignore",
          },
        );
        await eventually(() => reachable(`redis://127.0.0.1:${port}`), 5000, "redis-server up");
      };
      const down = async () => {
        const r = redis as ChildProcess;
        if (r.exitCode !== null || r.signalCode !== null) return;
        const exited = new Promise((res) => r.once("exit", res));
        r.kill("SIGKILL");
        await exited;
      };
      await up();
      try {
        const i = await start({ INTERSEBD_RATE_LIMITS: "key:1rpm", REDIS_URL: `redis://127.0.0.1:${port}` });
        const key = randomUUID();
        assert.deepEqual([await chat(i.server, key), await chat(i.server, key)], [200, 429]);

        await down();
        for (let n = 0; n < 4; n++)
          assert.equal(await chat(i.server, key), 200, `request ${n + 1} while down`);
        assert.equal(warnings(i).length, 1, "one warning for the outage");

        // Back (empty: the budget starts afresh), and the instance reconnects on its own.
        await up();
        await eventually(async () => (await chat(i.server, key)) === 429, 10_000, "limits applying again");
        assert.ok(i.lines.some((l) => /info .*rate limits: Redis .* answers again/.test(l)));

        // A killed connection: requests meanwhile go through, the next outage warns once more, limits return.
        const killer = spawnSync("redis-cli", [
          "-p",
          String(port),
          "CLIENT",
          "KILL",
          "TYPE",
          "normal",
          "SKIPME",
          "yes",
        ]);
        assert.equal(killer.status, 0, String(killer.stderr));
        assert.equal(await chat(i.server, randomUUID()), 200);
        await eventually(async () => (await chat(i.server, key)) === 429, 10_000, "limits after the kill");
        assert.ok(warnings(i).length <= 2, "at most one warning for the killed connection");
      } finally {
        await down().catch(() => {});
      }
    });
  });
}
