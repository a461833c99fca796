/**
 * Test harness: starts a real server on a random port against a fresh store, on SQLite or PostgreSQL.
 * Every store test runs once per dialect in `DIALECTS` (narrow with `INTERSEBD_TEST_DIALECTS=sqlite`).
 */
import assert from "node:assert/strict";
import { type ChildProcessWithoutNullStreams, spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, type TestContext } from "node:test";
import pg from "pg";
import type { RouteMount } from "../api/index.ts";
import { type Config, loadConfig } from "../config/index.ts";
import { type RunningServer, startServer } from "../server.ts";
import { createLogger } from "../util/log.ts";

export type Dialect = "sqlite" | "postgres";

/** Admin connection for creating throwaway databases; the machine's local PostgreSQL by default. */
export const PG_ADMIN_URL =
  process.env.INTERSEBD_TEST_PG_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";

let pgAvailable: Promise<boolean> | undefined;

/** Whether the test PostgreSQL answers; when it does not, PostgreSQL tests are skipped and say so loudly. */
export function postgresAvailable(): Promise<boolean> {
  pgAvailable ??= (async () => {
    const client = new pg.Client({ connectionString: PG_ADMIN_URL, connectionTimeoutMillis: 2000 });
    try {
      await client.connect();
      await client.end();
      return true;
    } catch (err) {
      process.stderr.write(
        `\n!!! PostgreSQL tests SKIPPED: cannot reach ${PG_ADMIN_URL} (${(err as Error).message}).\n` +
          "!!! Start it (pg_ctlcluster <version> main start) or set INTERSEBD_TEST_PG_URL.\n\n",
      );
      return false;
    }
  })();
  return pgAvailable;
}

export const DIALECTS: Dialect[] = (process.env.INTERSEBD_TEST_DIALECTS ?? "sqlite,postgres")
  .split(",")
  .map((d) => d.trim() as Dialect)
  .filter((d) => d === "sqlite" || d === "postgres");

/** A fresh, empty database of the given dialect; `drop()` removes it. */
export async function freshDatabase(
  dialect: Dialect,
): Promise<{ db: string; dataDir: string; drop(): Promise<void> }> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "intersebd-test-"));
  if (dialect === "sqlite") {
    return {
      db: path.join(dataDir, "test.sqlite"),
      dataDir,
      drop: async () => fs.rmSync(dataDir, { recursive: true, force: true }),
    };
  }
  const name = `intersebd_test_${process.pid}_${Math.random().toString(36).slice(2, 10)}`;
  const admin = new pg.Client({ connectionString: PG_ADMIN_URL });
  await admin.connect();
  await admin.query(`create database ${name}`);
  await admin.end();
  const url = new URL(PG_ADMIN_URL);
  url.pathname = `/${name}`;
  return {
    db: url.toString(),
    dataDir,
    drop: async () => {
      const a = new pg.Client({ connectionString: PG_ADMIN_URL });
      await a.connect();
      await a.query(`drop database if exists ${name} with (force)`);
      await a.end();
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

export interface TestServer extends RunningServer {
  config: Config;
  /**
   * `fetch` against the server's base URL, parsing JSON: through the socket, or in-process (`server.fetch`) when
   * the server was started with `inProcess`.
   */
  api<T = unknown>(
    pathname: string,
    init?: { method?: string; body?: unknown; headers?: Record<string, string> },
  ): Promise<{ status: number; body: T; headers: Headers }>;
  stop(): Promise<void>;
}

/**
 * Starts a server on a fresh store. `env` adds `INTERSEBD_*` variables; `upstream` sets the default upstream.
 */
export async function startTestServer(
  dialect: Dialect,
  opts: {
    upstream?: string;
    env?: Record<string, string>;
    db?: string;
    dataDir?: string;
    /** Extra route groups, as `startServer` takes them (a test can read the app's routes from `root`). */
    mounts?: RouteMount[];
    /**
     * `api()` calls the app in-process (no socket): for handler tests, whose behaviour is not the socket's. The
     * server still listens, for what a test sends to `url` itself.
     */
    inProcess?: boolean;
    /** `inline`: calls are written on this thread (startServer's `writer`), for tests that close `ctx.store`. */
    writer?: "inline";
  } = {},
): Promise<TestServer> {
  const fresh = opts.db ? undefined : await freshDatabase(dialect);
  const config = loadConfig(
    {
      INTERSEBD_PORT: "0",
      INTERSEBD_UPSTREAM: opts.upstream ?? "http://127.0.0.1:9/v1",
      INTERSEBD_FLUSH_MS: "5",
      // The writer at the ordinary CPU class: `npm test` runs four files at once on as few as two cores, which a writer
      // that went idle (the default, after 5 s of calm) would leave only the gaps of, so a call could reach the store
      // seconds after its answer. The idle class has its own tests (writer.test.ts); the bin's tests run the default.
      INTERSEBD_WRITER_PRIORITY: "normal",
      // Every answer a test reads is checked against its route's response schema (a mismatch is a 500).
      INTERSEBD_CHECK_RESPONSES: "1",
      INTERSEBD_LOG_LEVEL: process.env.INTERSEBD_TEST_LOG ?? "silent",
      ...opts.env,
    },
    { db: opts.db ?? fresh?.db, dataDir: opts.dataDir ?? fresh?.dataDir },
  );
  const server = await startServer(config, {
    log: createLogger(config.logLevel),
    mounts: opts.mounts,
    writer: opts.writer,
  });
  return {
    ...server,
    config,
    api: async (pathname, init = {}) => {
      const sent =
        init.body === undefined
          ? undefined
          : typeof init.body === "string"
            ? init.body
            : JSON.stringify(init.body);
      const request = {
        method: init.method ?? (init.body === undefined ? "GET" : "POST"),
        headers: { "content-type": "application/json", ...init.headers },
        body: sent,
      };
      const res = opts.inProcess
        ? await server.fetch(inProcessRequest(server.url + pathname, request))
        : await fetch(server.url + pathname, request);
      const text = await res.text();
      let body: unknown = text;
      try {
        body = JSON.parse(text);
      } catch {}
      return { status: res.status, body: body as never, headers: res.headers };
    },
    stop: async () => {
      await server.close();
      await fresh?.drop();
    },
  };
}

/**
 * The proxy's paths, `/v1/...` and `/<name>/v1/...` (not `/api/v1`, nor OTLP's `/v1/traces`, which the app
 * serves, as `proxy/route.ts` leaves it): its behaviour is the socket.
 */
const PROXY_PATH = /^\/(?!v1\/traces$)(?:(?!api\/)[^/]+\/)?v1(?:\/|$)/;

/**
 * The Request a socket would hand the app, for `server.fetch`: the Host and Content-Length the client sends. It
 * refuses, loudly, what only the socket answers as it should: the proxy's paths, and requests that the browser
 * guard (which runs before the app, in the `node:http` listener) would judge (an Origin, a Sec-Fetch-* header,
 * a body that is not JSON). Those tests keep the socket (`fetch(s.url + ...)`, or a server without `inProcess`).
 */
function inProcessRequest(
  url: string,
  init: { method: string; headers: Record<string, string>; body: string | undefined },
): Request {
  const u = new URL(url);
  const where = `${init.method} ${u.pathname}`;
  if (PROXY_PATH.test(u.pathname)) throw new Error(`${where} is the proxy's: send it through the socket`);
  const headers = new Headers(init.headers);
  for (const name of headers.keys())
    if (name === "origin" || name.startsWith("sec-fetch-"))
      throw new Error(`${where} carries ${name}, which the browser guard judges: send it through the socket`);
  if (init.body !== undefined) {
    const essence = headers.get("content-type")?.split(";")[0]?.trim().toLowerCase();
    if (essence !== "application/json")
      throw new Error(
        `${where} has a body that is not JSON, which the browser guard refuses: use the socket`,
      );
    headers.set("content-length", String(Buffer.byteLength(init.body)));
  }
  if (!headers.has("host")) headers.set("host", u.host);
  return new Request(url, { method: init.method, headers, body: init.body });
}

/**
 * `POST path` through `s.api`, asserting the 201 (a failure names the path, what was sent and the answer);
 * returns the answer's body.
 */
export async function postCreated<T = unknown>(s: TestServer, path: string, body: unknown): Promise<T> {
  const r = await s.api<T>(path, { body });
  assert.equal(
    r.status,
    201,
    `POST ${path} ${JSON.stringify(body).slice(0, 300)} → ${r.status} ${JSON.stringify(r.body)}`,
  );
  return r.body;
}

/** Waits until `check` returns a truthy value (polling), or fails after `timeoutMs`. */
type Falsy = undefined | null | false | 0 | "";

export async function eventually<T>(
  check: () => Promise<T> | T,
  timeoutMs = 5000,
  what: string | (() => string) = "condition",
): Promise<Exclude<T, Falsy>> {
  const until = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v) return v as Exclude<T, Falsy>;
    } catch (err) {
      last = err;
    }
    if (Date.now() > until)
      throw new Error(
        `timed out waiting for ${typeof what === "function" ? what() : what}${last ? `: ${String(last)}` : ""}`,
      );
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * One server for a `describe` block: started before its tests, stopped (and its database dropped) after.
 * Returns, for a test, the server, or undefined with the test marked skipped, loudly, when PostgreSQL is
 * unreachable.
 * @example
 * const server = serverForSuite(dialect, { INTERSEBD_LINK_DEPTH: "3" });
 * it("...", async (t) => { const s = server(t); if (!s) return; ... });
 */
export function serverForSuite(
  dialect: Dialect,
  env: Record<string, string> = {},
  opts: { inProcess?: boolean } = {},
) {
  let s: TestServer | undefined;
  let skipped = false;
  before(async () => {
    if (dialect === "postgres" && !(await postgresAvailable())) {
      skipped = true;
      return;
    }
    s = await startTestServer(dialect, { env, inProcess: opts.inProcess });
  });
  after(async () => {
    await s?.stop();
  });
  return (t: TestContext): TestServer | undefined => {
    if (skipped) {
      t.skip("PostgreSQL unreachable (see the message above): this test did NOT run on postgres");
      return undefined;
    }
    assert.ok(s, "server did not start");
    return s;
  };
}

/**
 * Waits for `intersebd serve`'s whole startup line on a child process's stdout; the output so far is the error
 * if the process exits first.
 */
export function startupLine(child: {
  stdout: NodeJS.ReadableStream;
  on(event: "exit", fn: () => void): unknown;
}): Promise<{ base: string; out: string }> {
  return new Promise((resolve, reject) => {
    let out = "";
    child.stdout.on("data", (d: Buffer) => {
      out += d.toString();
      const m = /listening on (http:\/\/\S+)/.exec(out);
      if (m?.[1] && out.includes("baseURL")) resolve({ base: m[1], out });
    });
    child.on("exit", () => reject(new Error(out)));
  });
}

/** The CLI's source (`cli/main.ts`): what a test spawns with this process's node to run the CLI unbuilt. */
export const CLI_MAIN = path.resolve(import.meta.dirname, "../cli/main.ts");

/** The server's bin, the file `npx intersebd` runs. */
export const SERVER_BIN = path.resolve(import.meta.dirname, "../../bin/intersebd.js");

/**
 * Spawns `intersebd serve` from `entry` (`SERVER_BIN` as deployed, or `CLI_MAIN`, the source) with this process's
 * node, on port 0 over `fresh`'s database and data dir; the environment is this process's with `env` over it.
 * The caller reads its output and waits for its startup line (`startupLine`, or the JSON log's).
 */
export function spawnServe(
  entry: string,
  fresh: { db: string; dataDir: string },
  env: Record<string, string>,
): ChildProcessWithoutNullStreams {
  return spawn(
    process.execPath,
    [entry, "serve", "--port", "0", "--db", fresh.db, "--data-dir", fresh.dataDir],
    { env: { ...process.env, ...env }, stdio: ["pipe", "pipe", "pipe"] },
  );
}

/**
 * Starts `intersebd serve <args>` through its bin, as deployed, and waits for its startup line. The environment is
 * this process's with `env` over it (an undefined value removes the variable) and without INTERSEBD_FLUSH_MS, so
 * the default flush interval holds: the calls still queued when a test kills the process are what it is about.
 * `stdout` and `stderr` get what it writes there.
 */
export async function startServeBin(
  args: string[],
  opts: {
    env?: Record<string, string | undefined>;
    stdout?: (d: Buffer) => void;
    stderr?: (d: Buffer) => void;
  } = {},
): Promise<{ child: ChildProcessWithoutNullStreams; base: string }> {
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env.INTERSEBD_FLUSH_MS;
  for (const [k, v] of Object.entries(opts.env ?? {})) {
    if (v === undefined) delete env[k];
    else env[k] = v;
  }
  const child = spawn(process.execPath, [SERVER_BIN, "serve", ...args], {
    env,
    stdio: ["pipe", "pipe", "pipe"],
  });
  if (opts.stdout) child.stdout.on("data", opts.stdout);
  if (opts.stderr) child.stderr.on("data", opts.stderr);
  const { base } = await startupLine(child);
  return { child, base };
}
