import assert from "node:assert/strict";
import path from "node:path";
import { describe, it } from "node:test";
import { ConfigError, loadConfig } from "./index.ts";

describe("loadConfig", () => {
  it("defaults to SQLite under ./.intersebd and the OpenAI upstream on loopback", () => {
    const c = loadConfig({});
    assert.equal(c.host, "127.0.0.1");
    assert.equal(c.port, 8787);
    assert.deepEqual(c.db, { kind: "sqlite", file: path.resolve(".intersebd/intersebd.sqlite") });
    assert.equal(c.upstreams.get("default")?.baseUrl.href, "https://api.openai.com/v1");
    assert.equal(c.capture, "full");
  });

  it("refuses a non-loopback address without an API key, and says how to fix it", () => {
    assert.throws(
      () => loadConfig({ INTERSEBD_HOST: "0.0.0.0" }),
      (e: unknown) => {
        assert.ok(e instanceof ConfigError);
        assert.match(e.message, /INTERSEBD_API_KEY/);
        return true;
      },
    );
    assert.equal(loadConfig({ INTERSEBD_HOST: "0.0.0.0", INTERSEBD_API_KEY: "k" }).host, "0.0.0.0");
  });

  it("reads named upstreams with their own keys, and CLI flags override the environment", () => {
    const c = loadConfig(
      {
        INTERSEBD_UPSTREAMS: "openrouter=https://openrouter.ai/api/v1/",
        INTERSEBD_UPSTREAM_KEY_OPENROUTER: "sk-or",
      },
      {
        upstream: ["http://localhost:9000/v1", "local=http://127.0.0.1:1234/v1"],
        port: 9999,
        capture: "redacted",
      },
    );
    assert.equal(c.upstreams.get("openrouter")?.baseUrl.href, "https://openrouter.ai/api/v1");
    assert.equal(c.upstreams.get("openrouter")?.apiKey, "sk-or");
    assert.equal(c.upstreams.get("default")?.baseUrl.href, "http://localhost:9000/v1");
    assert.equal(c.upstreams.get("local")?.baseUrl.port, "1234");
    assert.equal(c.port, 9999);
    assert.equal(c.capture, "redacted");
  });

  it("chooses PostgreSQL for a postgres:// DATABASE_URL and SQLite for a path", () => {
    assert.equal(loadConfig({ DATABASE_URL: "postgres://u@h/db" }).db.kind, "postgres");
    assert.deepEqual(loadConfig({}, { db: "x.sqlite" }).db, {
      kind: "sqlite",
      file: path.resolve("x.sqlite"),
    });
    // SQLite's in-memory store is a name, not a path: it stays as it is, and no file is made for it.
    assert.deepEqual(loadConfig({ INTERSEBD_DB: ":memory:" }).db, { kind: "sqlite", file: ":memory:" });
  });

  it("names the variable or flag at fault", () => {
    assert.throws(() => loadConfig({ INTERSEBD_PORT: "abc" }), /INTERSEBD_PORT/);
    assert.throws(() => loadConfig({ INTERSEBD_CAPTURE: "everything" }), /INTERSEBD_CAPTURE/);
    assert.throws(
      () => loadConfig({ INTERSEBD_UPSTREAMS: "noequals" }),
      /INTERSEBD_UPSTREAMS: "noequals" should be name=url/,
    );
    assert.throws(
      () => loadConfig({ INTERSEBD_UPSTREAMS: "api=http://x" }),
      /must be letters.*not "v1" or "api"/,
    );
    assert.throws(
      () => loadConfig({}, { upstream: ["ftp://x"] }),
      /--upstream: "ftp:\/\/x" must be an http\(s\) URL/,
    );
    assert.throws(() => loadConfig({ INTERSEBD_REDACT_PATTERNS: "(unclosed" }), /INTERSEBD_REDACT_PATTERNS/);
  });
});
