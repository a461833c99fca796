/**
 * Scoped API keys (issue 18, item 5): every mounted route against every scope, read from the route tables (the
 * OpenAPI document is generated from them, each operation with its scope); revoked keys refused; secrets stored
 * hashed; the proxy's `ingest` scope and upstream restriction; `INTERSEBD_API_KEY` as an admin key.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { before, describe, it } from "node:test";
import type { RouteScope, Scope } from "../http/index.ts";
import { DIALECTS, fakeUpstreamSuite, serverForSuite } from "../testing/index.ts";
import { allows, type Principal } from "./ring.ts";

const ADMIN = "env-admin-key-0123456789";
const SCOPES: Scope[] = ["ingest", "read", "annotate", "admin"];

interface Created {
  id: string;
  name: string;
  scopes: Scope[];
  upstreams: string[] | null;
  secret: string;
}
interface Listed {
  id: string;
  scopes: Scope[];
  lastUsedAt: number | null;
  revokedAt: number | null;
  secret?: string;
}
type Answer<T> = { status: number; body: T; headers: Headers };
interface Refusal {
  error?: { message: string; code: string };
}
interface Operation {
  "x-intersebd-scope"?: RouteScope;
}

/**
 * What a key embedded in a service may read: an experiment's definition (the SDKs' `variant()`) and this
 * document. Every other GET reads logged data or configuration, which an `ingest` key must not.
 */
const INGEST_READS = new Set(["GET /api/experiments/{name}", "GET /api/openapi.json"]);

const principal = (scopes: Scope[]): Principal => ({
  id: "t",
  name: "t",
  scopes: new Set(scopes),
  upstreams: null,
});

const chat = { model: "gpt-4o-mini", messages: [{ role: "user", content: "hi" }] };

for (const dialect of DIALECTS) {
  describe(`scoped API keys (${dialect})`, async () => {
    const suite = await fakeUpstreamSuite(dialect, {
      inProcess: true,
      env: (fake) => ({ INTERSEBD_API_KEY: ADMIN, INTERSEBD_UPSTREAMS: `other=${fake}` }),
    });
    const { server } = suite;
    const keys: Partial<Record<Scope, Created>> = {};
    before(async () => {
      if (suite.skip) return;
      for (const scope of SCOPES) {
        const r: Answer<Created> = await suite.s.api<Created>("/api/keys", {
          body: { name: `${scope} key`, scopes: [scope] },
          headers: { "x-intersebd-key": ADMIN },
        });
        assert.equal(r.status, 201, JSON.stringify(r.body));
        keys[scope] = r.body;
      }
    });
    const secretOf = (scope: Scope) => keys[scope]?.secret ?? assert.fail(`no ${scope} key`);

    it("answers every mounted route for each scope as the route declares: allowed, or 403 naming the scope", async (t) => {
      const s = server(t);
      if (!s) return;
      const doc = await s.api<{ paths: Record<string, Record<string, Operation>> }>("/api/openapi.json", {
        headers: { "x-intersebd-key": ADMIN },
      });
      assert.equal(doc.status, 200);
      const ops = Object.entries(doc.body.paths).flatMap(([p, methods]) =>
        Object.entries(methods).map(([method, op]) => ({ method, path: p, scope: op["x-intersebd-scope"] })),
      );
      assert.ok(ops.length > 60, `only ${ops.length} routes in the document`);
      assert.ok(ops.some((o) => o.path === "/api/keys" && o.method === "post"));
      let checked = 0;
      for (const op of ops) {
        const name = `${op.method.toUpperCase()} ${op.path}`;
        const scope = op.scope;
        assert.ok(
          scope === "link" ||
            (typeof scope === "string" && SCOPES.includes(scope as Scope)) ||
            (Array.isArray(scope) && scope.length > 0 && scope.every((x) => SCOPES.includes(x))),
          `${name} declares no valid scope (${JSON.stringify(scope)}): set \`scope\` on its route`,
        );
        // The key-management routes are admin's alone; so is anything that is not a read for an ingest key.
        if (op.path.startsWith("/api/keys")) assert.equal(scope, "admin", name);
        if (op.method === "get" && scope !== "link" && !INGEST_READS.has(name))
          assert.ok(!allows(principal(["ingest"]), scope), `${name} would let an ingest key read it`);
        const url = op.path.replace(/\{[^}]+\}/g, "x-none");
        const init = { method: op.method.toUpperCase(), body: op.method === "get" ? undefined : {} };
        for (const held of SCOPES) {
          const r: Answer<Refusal> = await s.api<Refusal>(url, {
            ...init,
            headers: { "x-intersebd-key": secretOf(held) },
          });
          const allowed = allows(principal([held]), scope);
          // A link route answers its own 401 for a bad token: what matters is that no key was asked for.
          if (scope === "link") assert.doesNotMatch(r.body.error?.message ?? "", /API key/, name);
          else if (allowed)
            assert.ok(
              r.status !== 401 && r.status !== 403,
              `${name} with ${held}: ${r.status} ${JSON.stringify(r.body)}`,
            );
          else {
            assert.equal(r.status, 403, `${name} with ${held}: ${r.status} ${JSON.stringify(r.body)}`);
            const needed = typeof scope === "string" ? [scope] : (scope as readonly string[]);
            for (const n of needed) assert.match(r.body.error?.message ?? "", new RegExp(`\\b${n}\\b`), name);
          }
          checked++;
        }
        const none: Answer<Refusal> = await s.api<Refusal>(url, init);
        if (scope === "link") assert.doesNotMatch(none.body.error?.message ?? "", /API key/, name);
        else assert.equal(none.status, 401, `${name} without a key: ${none.status}`);
      }
      assert.equal(checked, ops.length * SCOPES.length);
    });

    it("takes INTERSEBD_API_KEY as an admin key, as Authorization: Bearer too", async (t) => {
      const s = server(t);
      if (!s) return;
      const listed = await s.api<{ data: Listed[] }>("/api/keys", {
        headers: { authorization: `Bearer ${ADMIN}` },
      });
      assert.equal(listed.status, 200);
      assert.ok(listed.body.data.length >= 4);
      for (const k of listed.body.data) assert.equal(k.secret, undefined, "a listed key shows its secret");
      const wrong = await s.api("/api/keys", { headers: { "x-intersebd-key": `${ADMIN}x` } });
      assert.equal(wrong.status, 401);
    });

    it("stores only the SHA-256 of each secret", async (t) => {
      const s = server(t);
      if (!s) return;
      const rows = await s.ctx.store.db.selectFrom("apiKeys").selectAll().execute();
      assert.ok(rows.length >= 4);
      for (const scope of SCOPES) {
        const secret = secretOf(scope);
        assert.match(secret, /^isk_[A-Za-z0-9_-]{43}$/);
        const row = rows.find((r) => r.id === keys[scope]?.id);
        assert.ok(row);
        assert.equal(row.secretHash, createHash("sha256").update(secret).digest("hex"));
        assert.ok(!JSON.stringify(row).includes(secret));
        assert.ok(!JSON.stringify(rows).includes(secret.slice(4)), "a secret is in the table");
      }
      if (s.config.db.kind === "sqlite") {
        for (const f of fs.readdirSync(s.config.dataDir)) {
          const file = path.join(s.config.dataDir, f);
          if (!fs.statSync(file).isFile()) continue;
          const bytes = fs.readFileSync(file);
          for (const scope of SCOPES) assert.equal(bytes.indexOf(secretOf(scope)), -1, `${f} holds a secret`);
        }
      }
    });

    it("lets an ingest key proxy and refuses a read key (403) and a missing key (401) on /v1", async (t) => {
      const s = server(t);
      if (!s) return;
      const send = (key?: string, prefix = "") =>
        fetch(`${s.url}${prefix}/v1/chat/completions`, {
          method: "POST",
          headers: { "content-type": "application/json", ...(key ? { "x-intersebd-key": key } : {}) },
          body: JSON.stringify(chat),
        });
      assert.equal((await send(secretOf("ingest"))).status, 200);
      assert.equal((await send(secretOf("admin"))).status, 200);
      assert.equal((await send(ADMIN)).status, 200);
      const read = await send(secretOf("read"));
      assert.equal(read.status, 403);
      assert.match(((await read.json()) as { error: { message: string } }).error.message, /ingest/);
      assert.equal((await send(secretOf("annotate"))).status, 403);
      assert.equal((await send()).status, 401);
      assert.equal((await send("isk_unknown")).status, 401);
    });

    it("holds a key to its upstreams: 403 on another, allowed on its own", async (t) => {
      const s = server(t);
      if (!s) return;
      const r = await s.api<Created>("/api/keys", {
        body: { name: "other only", scopes: ["ingest"], upstreams: ["other"] },
        headers: { "x-intersebd-key": ADMIN },
      });
      assert.equal(r.status, 201);
      assert.deepEqual(r.body.upstreams, ["other"]);
      const send = (prefix: string) =>
        fetch(`${s.url}${prefix}/v1/chat/completions`, {
          method: "POST",
          headers: { "content-type": "application/json", "x-intersebd-key": r.body.secret },
          body: JSON.stringify(chat),
        });
      assert.equal((await send("/other")).status, 200);
      const refused = await send("");
      assert.equal(refused.status, 403);
      assert.match(
        ((await refused.json()) as { error: { message: string } }).error.message,
        /upstream default/,
      );
      const unknown = await s.api<{ error: { field: string } }>("/api/keys", {
        body: { name: "bad", scopes: ["ingest"], upstreams: ["nowhere"] },
        headers: { "x-intersebd-key": ADMIN },
      });
      assert.equal(unknown.status, 400);
      assert.equal(unknown.body.error.field, "upstreams");
    });

    it("refuses a revoked key on the API and the proxy (401), and lists it revoked with its last use", async (t) => {
      const s = server(t);
      if (!s) return;
      const r = await s.api<Created>("/api/keys", {
        body: { name: "to revoke", scopes: ["read", "ingest"] },
        headers: { "x-intersebd-key": ADMIN },
      });
      const key = { "x-intersebd-key": r.body.secret };
      assert.equal((await s.api("/api/calls", { headers: key })).status, 200);
      const gone = await s.api<Listed>(`/api/keys/${r.body.id}`, {
        method: "DELETE",
        headers: { "x-intersebd-key": ADMIN },
      });
      assert.equal(gone.status, 200);
      assert.ok(gone.body.revokedAt);
      const refused = await s.api<{ error: { message: string } }>("/api/calls", { headers: key });
      assert.equal(refused.status, 401);
      assert.match(refused.body.error.message, /revoked/);
      const proxied = await fetch(`${s.url}/v1/chat/completions`, {
        method: "POST",
        headers: { "content-type": "application/json", ...key },
        body: JSON.stringify(chat),
      });
      assert.equal(proxied.status, 401);
      const listed = await s.api<{ data: Listed[] }>("/api/keys", { headers: { "x-intersebd-key": ADMIN } });
      const row = listed.body.data.find((k) => k.id === r.body.id);
      assert.ok(row?.revokedAt, "the revoked key is listed revoked");
      // Its use before the revocation was written by the reload the revocation made.
      assert.ok(row.lastUsedAt, "last use not recorded");
      const again = await s.api(`/api/keys/${r.body.id}`, {
        method: "DELETE",
        headers: { "x-intersebd-key": ADMIN },
      });
      assert.equal(again.status, 200);
      assert.equal(
        (await s.api("/api/keys/key_nope", { method: "DELETE", headers: { "x-intersebd-key": ADMIN } }))
          .status,
        404,
      );
    });
  });

  describe(`keys without INTERSEBD_API_KEY (${dialect})`, () => {
    const server = serverForSuite(dialect, {}, { inProcess: true });

    it("is open until the first key exists, then requires one, even once every key is revoked", async (t) => {
      const s = server(t);
      if (!s) return;
      assert.equal((await s.api("/api/calls")).status, 200);
      const r = await s.api<Created>("/api/keys", { body: { name: "first", scopes: ["admin"] } });
      assert.equal(r.status, 201);
      assert.equal((await s.api("/api/calls")).status, 401);
      assert.equal(
        (await s.api("/api/calls", { headers: { "x-intersebd-key": r.body.secret } })).status,
        200,
      );
      assert.equal(
        (
          await s.api(`/api/keys/${r.body.id}`, {
            method: "DELETE",
            headers: { "x-intersebd-key": r.body.secret },
          })
        ).status,
        200,
      );
      // Revoking the last key does not open the server again.
      assert.equal((await s.api("/api/calls")).status, 401);
    });
  });
}
