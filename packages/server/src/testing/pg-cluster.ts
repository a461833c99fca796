/**
 * A private PostgreSQL cluster for fault tests: its own data directory and socket in a temp folder, on a free
 * port, so a test can stop it the hard way (`pg_ctl stop -m immediate`, as a crash or an operator would) and
 * start it again without touching the machine's shared server or other tests' databases.
 *
 * PostgreSQL refuses to run as root, so when the tests run as root (CI) every binary runs as the `postgres`
 * user (`runuser -u postgres --`) and the temp folder is handed to that user.
 */
import { execFile } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import pg from "pg";
import { freePort } from "./ports.ts";

const run = promisify(execFile);

export interface PgCluster {
  /** TCP port the cluster listens on (127.0.0.1), the same across restarts. */
  port: number;
  /** Connection URL of a database on this cluster (`postgres` by default). */
  url(database?: string): string;
  /** Creates an empty database and returns its URL. */
  createDatabase(name: string): Promise<string>;
  /** Starts the cluster (again), waiting until it accepts connections. */
  start(): Promise<void>;
  /** `pg_ctl stop -m immediate`: every backend is killed at once, clients see their connections dropped. */
  stopImmediate(): Promise<void>;
  /** Stops the cluster (if running) and deletes its files. */
  destroy(): Promise<void>;
}

interface Binaries {
  bin: string;
  /** The command prefix that runs a binary as a user PostgreSQL accepts (empty unless we are root). */
  asUser: string[];
  user: string | undefined;
}

/** The directory holding initdb and pg_ctl: INTERSEBD_TEST_PG_BIN, else the newest /usr/lib/postgresql/<v>/bin. */
function findBinDir(): string | undefined {
  const fromEnv = process.env.INTERSEBD_TEST_PG_BIN;
  if (fromEnv) return fs.existsSync(path.join(fromEnv, "pg_ctl")) ? fromEnv : undefined;
  const root = "/usr/lib/postgresql";
  let versions: string[] = [];
  try {
    versions = fs.readdirSync(root);
  } catch {
    return undefined;
  }
  return versions
    .sort((a, b) => Number(b) - Number(a))
    .map((v) => path.join(root, v, "bin"))
    .find((dir) => fs.existsSync(path.join(dir, "initdb")) && fs.existsSync(path.join(dir, "pg_ctl")));
}

let binaries: Promise<Binaries | string> | undefined;

/** The binaries and how to run them, or the reason a private cluster cannot be made here. */
function locate(): Promise<Binaries | string> {
  binaries ??= (async () => {
    const bin = findBinDir();
    if (!bin)
      return "no initdb/pg_ctl found (looked in INTERSEBD_TEST_PG_BIN and /usr/lib/postgresql/<version>/bin)";
    if (process.getuid?.() !== 0) return { bin, asUser: [], user: undefined };
    try {
      await run("runuser", ["-u", "postgres", "--", path.join(bin, "pg_ctl"), "--version"]);
    } catch (err) {
      return `running as root, and cannot run pg_ctl as the postgres user (${(err as Error).message.split("\n")[0]})`;
    }
    return { bin, asUser: ["runuser", "-u", "postgres", "--"], user: "postgres" };
  })();
  return binaries;
}

/**
 * Whether a private cluster can be started here; when it cannot, says why on stderr, loudly, once, and returns
 * the reason (for `t.skip`).
 */
export async function pgClusterUnavailable(): Promise<string | undefined> {
  const found = await locate();
  if (typeof found !== "string") return undefined;
  if (!warned) {
    warned = true;
    process.stderr.write(
      `\n!!! PostgreSQL fault tests SKIPPED: ${found}.\n` +
        "!!! Install PostgreSQL's server binaries or set INTERSEBD_TEST_PG_BIN to their directory.\n\n",
    );
  }
  return found;
}
let warned = false;

/** Initialises and starts a private cluster. Throws if `pgClusterUnavailable()` has a reason. */
export async function startPgCluster(): Promise<PgCluster> {
  const found = await locate();
  if (typeof found === "string") throw new Error(`cannot start a private PostgreSQL cluster: ${found}`);
  const { bin, asUser, user } = found;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "intersebd-pg-"));
  const data = path.join(dir, "data");
  const logFile = path.join(dir, "postgres.log");
  if (user) {
    const { uid, gid } = lookupUser(user);
    fs.chownSync(dir, uid, gid);
  }
  const pgRun = async (name: string, args: string[]) => {
    const [cmd, ...rest] = [...asUser, path.join(bin, name), ...args] as [string, ...string[]];
    try {
      return await run(cmd, rest, { cwd: dir });
    } catch (err) {
      const e = err as Error & { stderr?: string };
      let tail = "";
      try {
        tail = fs.readFileSync(logFile, "utf8").split("\n").slice(-10).join("\n");
      } catch {}
      throw new Error(`${name} ${args.join(" ")} failed: ${e.stderr || e.message}\n${tail}`);
    }
  };
  await pgRun("initdb", ["-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"]);
  const port = await freePort();
  // fsync off: what PostgreSQL has written survives an immediate stop in the kernel's page cache, and only a
  // power cut would lose it. synchronous_commit stays on: with it off, an immediate stop loses commits the
  // clients were already told about, which is exactly what the fault tests check never happens.
  fs.appendFileSync(
    path.join(data, "postgresql.conf"),
    [
      `port = ${port}`,
      "listen_addresses = '127.0.0.1'",
      `unix_socket_directories = '${dir}'`,
      "fsync = off",
      "full_page_writes = off",
      "max_connections = 50",
      "",
    ].join("\n"),
  );
  let running = false;
  const url = (database = "postgres") => `postgres://postgres@127.0.0.1:${port}/${database}`;
  const cluster: PgCluster = {
    port,
    url,
    createDatabase: async (name) => {
      const admin = new pg.Client({ connectionString: url(), connectionTimeoutMillis: 5000 });
      await admin.connect();
      try {
        await admin.query(`create database ${pg.escapeIdentifier(name)}`);
      } finally {
        await admin.end();
      }
      return url(name);
    },
    start: async () => {
      await pgRun("pg_ctl", ["-D", data, "-l", logFile, "-w", "-t", "30", "start"]);
      running = true;
    },
    stopImmediate: async () => {
      await pgRun("pg_ctl", ["-D", data, "-w", "stop", "-m", "immediate"]);
      running = false;
    },
    destroy: async () => {
      if (running) await pgRun("pg_ctl", ["-D", data, "-w", "stop", "-m", "immediate"]).catch(() => {});
      running = false;
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
  try {
    await cluster.start();
  } catch (err) {
    fs.rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  return cluster;
}

function lookupUser(name: string): { uid: number; gid: number } {
  const line = fs
    .readFileSync("/etc/passwd", "utf8")
    .split("\n")
    .find((l) => l.startsWith(`${name}:`));
  const [, , uid, gid] = line?.split(":") ?? [];
  if (uid === undefined || gid === undefined) throw new Error(`no user ${name} in /etc/passwd`);
  return { uid: Number(uid), gid: Number(gid) };
}
