/**
 * The server as an operator runs it: auth with an API key, capture modes, the CLI's start and shutdown.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import OpenAI from "openai";
import {
  type FakeUpstream,
  freePort,
  freshDatabase,
  startFakeUpstream,
  startTestServer,
  startupLine,
} from "../../packages/server/src/testing/index.ts";

const CLI = path.resolve(import.meta.dirname, "../../packages/server/src/cli/main.ts");
const BIN = path.resolve(import.meta.dirname, "../../packages/server/bin/intersebd.js");

// biome-ignore lint/suspicious/noExplicitAny: response bodies are read loosely in assertions
type Body = Record<string, any>;

describe("server", () => {
  let fake: FakeUpstream;
  before(async () => {
    fake = await startFakeUpstream({ keepRequests: false });
  });
  after(async () => fake.close());

  it("requires the API key on /api and the proxy when one is configured, in either header", async () => {
    const s = await startTestServer("sqlite", {
      upstream: fake.url,
      env: { INTERSEBD_API_KEY: "team-key-123" },
    });
    try {
      assert.equal((await s.api("/api/calls")).status, 401);
      assert.equal((await s.api("/api/calls", { headers: { "x-intersebd-key": "wrong" } })).status, 401);
      assert.equal(
        (await s.api("/api/calls", { headers: { "x-intersebd-key": "team-key-123" } })).status,
        200,
      );
      assert.equal(
        (await s.api("/api/calls", { headers: { authorization: "Bearer team-key-123" } })).status,
        200,
      );
      const denied = new OpenAI({ baseURL: `${s.url}/v1`, apiKey: "sk-x", maxRetries: 0 });
      await assert.rejects(
        denied.chat.completions.create({ model: "m", messages: [] }),
        (e: unknown) => e instanceof OpenAI.AuthenticationError,
      );
      const allowed = new OpenAI({
        baseURL: `${s.url}/v1`,
        apiKey: "sk-x",
        maxRetries: 0,
        defaultHeaders: { "x-intersebd-key": "team-key-123" },
      });
      const r = await allowed.chat.completions.create({
        model: "m",
        messages: [{ role: "user", content: "k" }],
      });
      assert.equal(r.choices[0]?.message.content, "echo: k");
      assert.equal((await s.api("/healthz")).status, 200, "health stays open for load balancers");
      assert.equal((await s.api("/metrics")).status, 401, "metrics need the key");
    } finally {
      await s.stop();
    }
  });

  it("masks personal data and secrets before storage in redacted mode", async () => {
    const s = await startTestServer("sqlite", {
      upstream: fake.url,
      env: { INTERSEBD_CAPTURE: "redacted", INTERSEBD_REDACT_PATTERNS: "ACME-\\d+" },
    });
    try {
      const text =
        "mail ana@example.com, call +33 6 12 34 56 78, card 4111 1111 1111 1111, key sk-proj-abcdefghijklmnop1234, order ACME-991";
      const client = new OpenAI({ baseURL: `${s.url}/v1`, apiKey: "sk-x", maxRetries: 0 });
      const r = await client.chat.completions.create({
        model: "m",
        messages: [{ role: "user", content: text }],
      });
      assert.equal(r.choices[0]?.message.content, `echo: ${text}`, "the client still gets the real answer");
      await s.ctx.recorder.flush();
      const call = (await s.api<Body>(`/api/calls/${r.id}`)).body;
      const stored = JSON.stringify([call.request, call.response]);
      for (const secret of [
        "ana@example.com",
        "12 34 56 78",
        "4111 1111 1111 1111",
        "sk-proj-abcdefghijklmnop1234",
        "ACME-991",
      ]) {
        assert.ok(!stored.includes(secret), `${secret} is masked`);
      }
      assert.match(stored, /\[EMAIL\].*\[PHONE\].*\[CARD\].*\[API_KEY\].*\[REDACTED\]/);
    } finally {
      await s.stop();
    }
  });

  it("keeps no message text in metadata mode, but keeps usage and models", async () => {
    const s = await startTestServer("sqlite", { upstream: fake.url, env: { INTERSEBD_CAPTURE: "metadata" } });
    try {
      const client = new OpenAI({ baseURL: `${s.url}/v1`, apiKey: "sk-x", maxRetries: 0 });
      const r = await client.chat.completions.create({
        model: "gpt-4o",
        messages: [{ role: "user", content: "private words" }],
      });
      await s.ctx.recorder.flush();
      const call = (await s.api<Body>(`/api/calls/${r.id}`)).body;
      assert.ok(!JSON.stringify(call).includes("private words"));
      assert.equal(call.capture, "metadata");
      assert.equal(call.requestedModel, "gpt-4o");
      assert.ok(call.usage.totalTokens > 0);
    } finally {
      await s.stop();
    }
  });

  it("prints a startup line, and drains queued calls on SIGTERM", async () => {
    const fresh = await freshDatabase("sqlite");
    const child = spawn(
      process.execPath,
      [CLI, "serve", "--port", "0", "--db", fresh.db, "--data-dir", fresh.dataDir, "-u", fake.url],
      {
        // A long flush interval: only the shutdown drain can store the call.
        env: { ...process.env, INTERSEBD_FLUSH_MS: "600000", INTERSEBD_LOG_LEVEL: "error" },
        stdio: ["ignore", "pipe", "inherit"],
      },
    );
    const { base, out } = await startupLine(child);
    assert.match(out, /store: +SQLite/);
    assert.match(out, /\/v1 → http:\/\/127\.0\.0\.1:\d+\/v1/);
    const r = await fetch(`${base}/v1/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ model: "m", messages: [{ role: "user", content: "drain me" }] }),
    });
    const id = r.headers.get("x-intersebd-call-id");
    const code = await new Promise<number | null>((resolve) => {
      child.on("exit", (c) => resolve(c));
      child.kill("SIGTERM");
    });
    assert.equal(code, 0);
    const s = await startTestServer("sqlite", { db: fresh.db, dataDir: fresh.dataDir });
    try {
      assert.equal((await s.api(`/api/calls/${id}`)).status, 200, "the queued call was written before exit");
    } finally {
      await s.stop();
    }
  });

  it("exits on a SIGTERM sent as soon as its port accepts, before or after its startup line", async () => {
    // The window this covers: listening, but the startup work after it still holding the event loop. A SIGTERM
    // there was dropped (the early-exit listener was removed before the signal was dispatched), and the server
    // ran on until a second one.
    for (let i = 0; i < 5; i++) {
      const fresh = await freshDatabase("sqlite");
      const port = await freePort();
      const child = spawn(
        process.execPath,
        [BIN, "serve", "--port", String(port), "--db", fresh.db, "--data-dir", fresh.dataDir, "-u", fake.url],
        { env: { ...process.env, INTERSEBD_LOG_LEVEL: "error" }, stdio: ["ignore", "ignore", "ignore"] },
      );
      const exited = new Promise<number | null>((resolve) => child.on("exit", (c) => resolve(c)));
      for (;;) {
        const open = await new Promise<boolean>((resolve) => {
          const socket = net.connect(port, "127.0.0.1", () => {
            socket.destroy();
            resolve(true);
          });
          socket.on("error", () => resolve(false));
        });
        if (open) break;
        await new Promise((r) => setTimeout(r, 5));
      }
      child.kill("SIGTERM");
      const code = await Promise.race([
        exited,
        new Promise((r) => setTimeout(() => r("still running"), 10_000)),
      ]);
      if (code === "still running") child.kill("SIGKILL");
      assert.ok(
        code === 0 || code === 143,
        `start ${i + 1}: the server exited on its first SIGTERM (got ${code})`,
      );
      await fresh.drop();
    }
  });

  it("writes Node's compile cache once listening, so a server killed with SIGKILL starts lean next time", async () => {
    const fresh = await freshDatabase("sqlite");
    const cacheDir = fs.mkdtempSync(path.join(os.tmpdir(), "intersebd-compile-cache-"));
    const { NODE_DISABLE_COMPILE_CACHE: _, ...env } = process.env;
    // Through the bin, as users start it: the bin is what turns the compile cache on.
    const child = spawn(
      process.execPath,
      [BIN, "serve", "--port", "0", "--db", fresh.db, "--data-dir", fresh.dataDir, "-u", fake.url],
      { env: { ...env, NODE_COMPILE_CACHE: cacheDir }, stdio: ["ignore", "pipe", "inherit"] },
    );
    try {
      await startupLine(child);
      await new Promise<void>((resolve) => {
        child.on("exit", () => resolve());
        child.kill("SIGKILL");
      });
      // Without the flush, a killed process leaves no cache at all; the server loads about a hundred modules.
      const entries = fs.readdirSync(cacheDir, { recursive: true });
      assert.ok(entries.length > 50, `compile cache holds ${entries.length} entries`);
    } finally {
      child.kill("SIGKILL");
      fs.rmSync(cacheDir, { recursive: true, force: true });
      await fresh.drop();
    }
  });

  it("explains a bad flag on the command line", async () => {
    const child = spawn(process.execPath, [CLI, "serve", "--capture", "all"], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    let err = "";
    child.stderr.on("data", (d: Buffer) => {
      err += d.toString();
    });
    const code = await new Promise<number | null>((r) => child.on("exit", (c) => r(c)));
    assert.equal(code, 2);
    assert.match(err, /--capture: "all" must be one of full, redacted, metadata/);
  });
});
