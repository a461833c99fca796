/**
 * `serve` waits for a database that is not up yet (compose starts services together) instead of exiting.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import net from "node:net";
import path from "node:path";
import { describe, it } from "node:test";
import { DIALECTS, freePort, freshDatabase, postgresAvailable, startupLine } from "../testing/index.ts";
import { describeDatabase, startWhenStoreAnswers } from "./wait-for-store.ts";

const CLI = path.resolve(import.meta.dirname, "main.ts");
const refused = () =>
  Object.assign(new Error("connect ECONNREFUSED 10.0.0.5:5432"), { code: "ECONNREFUSED" });
const PG = { kind: "postgres", url: "postgres://app:s3cret@db:5432/intersebd" } as const;

/** A clock that `sleep` advances, so the tests take no time. */
function fakeClock() {
  let t = 0;
  return {
    now: () => t,
    sleep: async (ms: number) => {
      t += ms;
    },
  };
}

describe("startWhenStoreAnswers", () => {
  it("retries while the database refuses, saying where it waits and why, without the credentials", async () => {
    const lines: string[] = [];
    let attempts = 0;
    const started = await startWhenStoreAnswers(
      async () => {
        if (++attempts < 3) throw refused();
        return "server";
      },
      PG,
      { waitSeconds: 60, write: (l) => lines.push(l), ...fakeClock() },
    );
    assert.equal(started, "server");
    assert.equal(attempts, 3);
    assert.equal(lines.length, 3);
    assert.match(
      lines[0] ?? "",
      /waiting for the database at db:5432\/intersebd \(connection refused\); retrying/,
    );
    assert.match(lines[2] ?? "", /answered \(attempt 3\)/);
    assert.ok(!lines.join("").includes("s3cret"));
  });

  it("throws at once an error that is not the database being unreachable", async () => {
    let attempts = 0;
    const wrong = new Error('password authentication failed for user "app"');
    await assert.rejects(
      startWhenStoreAnswers(
        async () => {
          attempts++;
          throw wrong;
        },
        PG,
        { waitSeconds: 60, write: () => {}, ...fakeClock() },
      ),
      (e) => e === wrong,
    );
    assert.equal(attempts, 1);
  });

  it("gives up after INTERSEBD_DB_WAIT_SECONDS with the last error, backing off up to the cap", async () => {
    const clock = fakeClock();
    const delays: number[] = [];
    await assert.rejects(
      startWhenStoreAnswers(
        async () => {
          throw refused();
        },
        PG,
        {
          waitSeconds: 20,
          write: () => {},
          now: clock.now,
          sleep: (ms) => {
            delays.push(ms);
            return clock.sleep(ms);
          },
        },
      ),
      /ECONNREFUSED/,
    );
    assert.deepEqual(delays, [500, 1000, 2000, 4000, 5000, 5000, 2500]);
    assert.equal(clock.now(), 20_000);
  });

  it("tries once when the wait is 0", async () => {
    let attempts = 0;
    await assert.rejects(
      startWhenStoreAnswers(
        async () => {
          attempts++;
          throw refused();
        },
        PG,
        { waitSeconds: 0, write: () => {}, ...fakeClock() },
      ),
    );
    assert.equal(attempts, 1);
  });

  it("describes a database by host, port and name only", () => {
    assert.equal(describeDatabase(PG), "db:5432/intersebd");
    assert.equal(
      describeDatabase({ kind: "sqlite", file: "/data/intersebd.sqlite" }),
      "/data/intersebd.sqlite",
    );
    assert.equal(describeDatabase({ kind: "postgres", url: "not a url" }), "DATABASE_URL");
  });
});

describe("intersebd serve, database not up yet", () => {
  it("waits for PostgreSQL to accept connections, then starts", async (t) => {
    if (!DIALECTS.includes("postgres")) return t.skip("INTERSEBD_TEST_DIALECTS leaves PostgreSQL out");
    if (!(await postgresAvailable())) return t.skip("PostgreSQL not reachable");
    const db = await freshDatabase("postgres");
    // The database "comes up" when a TCP relay to the real one starts listening on a port that refused so far.
    const target = new URL(db.db);
    const port = await freePort();
    const late = new URL(db.db);
    late.host = `127.0.0.1:${port}`;
    const child = spawn(process.execPath, [CLI, "serve", "--port", "0", "--db", late.href], {
      env: { ...process.env, INTERSEBD_DATA_DIR: db.dataDir, INTERSEBD_LOG_LEVEL: "warn" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let relay: net.Server | undefined;
    const sockets: net.Socket[] = [];
    try {
      let stderr = "";
      const waiting = new Promise<void>((resolve) => {
        child.stderr.on("data", (d: Buffer) => {
          stderr += d.toString();
          if (stderr.includes("waiting for the database")) resolve();
        });
      });
      const started = startupLine(child);
      await waiting;
      assert.match(
        stderr,
        new RegExp(`waiting for the database at 127\\.0\\.0\\.1:${port}/\\w+ \\(connection refused\\)`),
      );
      relay = net.createServer((sock) => {
        const up = net.connect(Number(target.port || 5432), target.hostname);
        sockets.push(sock, up);
        sock.pipe(up).pipe(sock);
        sock.on("error", () => up.destroy());
        up.on("error", () => sock.destroy());
      });
      await new Promise<void>((r) => relay?.listen(port, "127.0.0.1", r));
      const { base } = await started;
      const health = (await (await fetch(`${base}/healthz`)).json()) as { store: string };
      assert.equal(health.store, "postgres");
      assert.match(stderr, /the database at .* answered/);
    } finally {
      child.kill("SIGTERM");
      await new Promise((r) => child.once("exit", r));
      for (const s of sockets) s.destroy();
      await new Promise((r) => (relay ? relay.close(r) : r(undefined)));
      await db.drop();
    }
  });

  it("exits on SIGTERM while it waits (a container's PID 1 has no default action for it)", async () => {
    const port = await freePort();
    const child = spawn(
      process.execPath,
      [CLI, "serve", "--port", "0", "--db", `postgres://127.0.0.1:${port}/x`],
      {
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    let stderr = "";
    await new Promise<void>((resolve) => {
      child.stderr.on("data", (d: Buffer) => {
        stderr += d.toString();
        if (stderr.includes("waiting for the database")) resolve();
      });
    });
    const exited = new Promise((r) => child.once("exit", (code) => r(code)));
    child.kill("SIGTERM");
    assert.equal(await exited, 143);
    assert.match(stderr, /SIGTERM before the server started; exiting/);
  });

  it("exits with the reason once INTERSEBD_DB_WAIT_SECONDS have passed", async () => {
    const port = await freePort();
    const child = spawn(
      process.execPath,
      [CLI, "serve", "--port", "0", "--db", `postgres://app:s3cret@127.0.0.1:${port}/nowhere`],
      { env: { ...process.env, INTERSEBD_DB_WAIT_SECONDS: "1" }, stdio: ["ignore", "pipe", "pipe"] },
    );
    let stderr = "";
    child.stderr.on("data", (d: Buffer) => {
      stderr += d.toString();
    });
    const code = await new Promise((r) => child.once("exit", r));
    assert.equal(code, 1);
    assert.match(stderr, /waiting for the database at 127\.0\.0\.1:\d+\/nowhere/);
    assert.match(stderr, /could not start: .*ECONNREFUSED.*is PostgreSQL running/);
    assert.ok(!stderr.includes("s3cret"));
  });
});
