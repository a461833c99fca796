/**
 * What counts as "the store is unavailable" (a 503 and a back-off) and what does not (a bug, a refused query,
 * an HTTP server that is not the database), from errors the drivers really throw where that is cheap.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { DatabaseSync } from "node:sqlite";
import { describe, it } from "node:test";
import pg from "pg";
import { OutageLog, storeUnavailableReason } from "./errors.ts";

/** A port nothing listens on (bound, then released). */
async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((r) => server.close(r));
  return port;
}

async function caught(fn: () => Promise<unknown>): Promise<unknown> {
  try {
    await fn();
  } catch (err) {
    return err;
  }
  throw new Error("expected a failure");
}

describe("storeUnavailableReason", () => {
  it("recognises a PostgreSQL that refuses connections, from the pool and from a client", async () => {
    const port = await closedPort();
    const pool = new pg.Pool({ connectionString: `postgres://x@127.0.0.1:${port}/x`, max: 1 });
    const fromPool = await caught(() => pool.query("select 1"));
    await pool.end();
    assert.equal(storeUnavailableReason(fromPool), "connection refused");
    const client = new pg.Client({ connectionString: `postgres://x@127.0.0.1:${port}/x` });
    assert.equal(storeUnavailableReason(await caught(() => client.connect())), "connection refused");
  });

  it("recognises a pool that cannot get a connection in time (a stalled database)", async () => {
    // A listener that accepts TCP and never answers the startup message.
    const sockets: net.Socket[] = [];
    const silent = net.createServer((s) => sockets.push(s));
    await new Promise<void>((r) => silent.listen(0, "127.0.0.1", () => r()));
    const { port } = silent.address() as net.AddressInfo;
    const pool = new pg.Pool({
      connectionString: `postgres://x@127.0.0.1:${port}/x`,
      max: 1,
      connectionTimeoutMillis: 100,
    });
    const err = await caught(() => pool.query("select 1"));
    await pool.end();
    for (const s of sockets) s.destroy();
    await new Promise((r) => silent.close(r));
    assert.ok(storeUnavailableReason(err), `classified: ${String(err)}`);
  });

  it("recognises PostgreSQL's shutdown, crash, start-up, connection and too-many-connections states", () => {
    for (const code of ["57P01", "57P02", "57P03", "53300", "08006", "08001", "08P01"]) {
      const err = Object.assign(new Error("from the server"), { code, severity: "FATAL" });
      assert.ok(storeUnavailableReason(err), code);
    }
    for (const message of [
      "Connection terminated unexpectedly",
      "Connection terminated due to connection timeout",
      "timeout exceeded when trying to connect",
      "Client has encountered a connection error and is not queryable",
    ])
      assert.ok(storeUnavailableReason(new Error(message)), message);
    // Node's connect to a name with several addresses fails with one error per address.
    const aggregate = new AggregateError([Object.assign(new Error("connect"), { code: "ECONNREFUSED" })], "");
    assert.equal(storeUnavailableReason(aggregate), "connection refused");
  });

  it("recognises a SQLite database locked by another writer", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "intersebd-locked-"));
    const file = path.join(dir, "db.sqlite");
    const holder = new DatabaseSync(file);
    const other = new DatabaseSync(file, { timeout: 0 });
    try {
      holder.exec("create table t (x); begin immediate; insert into t values (1)");
      let err: unknown;
      try {
        other.exec("insert into t values (2)");
      } catch (e) {
        err = e;
      }
      assert.equal(storeUnavailableReason(err), "database is locked");
    } finally {
      holder.close();
      other.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it("does not mistake a query the database refuses, a bug, or an unreachable HTTP server for an outage", async () => {
    const constraint = Object.assign(new Error("duplicate key value"), { code: "23505" });
    assert.equal(storeUnavailableReason(constraint), undefined);
    assert.equal(storeUnavailableReason(new TypeError("x is undefined")), undefined);
    assert.equal(storeUnavailableReason("a string"), undefined);
    assert.equal(storeUnavailableReason(undefined), undefined);
    // `fetch` to a closed port: a TypeError whose cause is ECONNREFUSED (an evaluation's candidate, a webhook).
    const port = await closedPort();
    const fetchErr = await caught(() => fetch(`http://127.0.0.1:${port}/`));
    assert.equal(storeUnavailableReason(fetchErr), undefined);
  });
});

describe("OutageLog", () => {
  it("warns once per outage, then rarely while it lasts, and says when the database is back", () => {
    const lines: string[] = [];
    const log = new OutageLog("worker", {
      warn: (m) => lines.push(`warn ${m}`),
      info: (m) => lines.push(`info ${m}`),
    });
    for (let i = 0; i < 100; i++) log.failed("connection refused");
    assert.equal(lines.length, 1);
    assert.match(
      lines[0] ?? "",
      /^warn worker: the database is unavailable \(connection refused\); retrying$/,
    );
    assert.equal(log.down, true);
    log.succeeded();
    log.succeeded();
    assert.equal(lines.length, 2);
    assert.match(lines[1] ?? "", /^info worker: the database answers again after \d+ ms$/);
    log.failed("connection lost");
    assert.equal(lines.length, 3, "a new outage warns again");
  });
});
