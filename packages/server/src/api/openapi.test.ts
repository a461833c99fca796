/**
 * The OpenAPI document lists every route the running app mounts under `/api`, with a response schema for each
 * JSON answer (it is generated from the route tables; this catches a route mounted some other way).
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { Hono } from "hono";
import { openApiPath } from "../http/index.ts";
import { startTestServer } from "../testing/harness.ts";

const METHODS = new Set(["GET", "POST", "PUT", "DELETE", "PATCH"]);

describe("GET /api/openapi.json", () => {
  it("documents every route mounted under /api, each with its success answer", async () => {
    let root: Hono | undefined;
    const s = await startTestServer("sqlite", {
      mounts: [
        (_api, _ctx, app) => {
          root = app;
        },
      ],
    });
    try {
      const doc = await s.api<{
        paths: Record<string, Record<string, { responses: Record<string, { content?: unknown }> }>>;
      }>("/api/openapi.json");
      assert.equal(doc.status, 200);
      assert.ok(root);
      const mounted = new Set<string>();
      // The API, and the one path served beside it for exporters (the proxy's paths are the providers' own).
      for (const r of root.routes)
        if (METHODS.has(r.method) && (r.path.startsWith("/api/") || r.path === "/v1/traces"))
          mounted.add(`${r.method.toLowerCase()} ${openApiPath(r.path)}`);
      const documented = new Set<string>();
      for (const [p, ops] of Object.entries(doc.body.paths))
        for (const [method, op] of Object.entries(ops)) {
          documented.add(`${method} ${p}`);
          const success = Object.entries(op.responses).find(([status]) => status.startsWith("2"));
          assert.ok(success, `${method} ${p} documents its success answer`);
          if (success[0] !== "204" && !(method === "get" && p === "/api/export"))
            assert.ok(success[1].content, `${method} ${p} has a response schema`);
        }
      const missing = [...mounted].filter((r) => !documented.has(r));
      assert.deepEqual(missing, [], `mounted but not in the document: ${missing.join(", ")}`);
      for (const must of [
        "get /api/evals/{id}/items",
        "get /api/evals/checks",
        "get /api/notifications/{id}",
        "get /api/review-queue",
        "get /api/rubrics",
        "get /api/sessions",
        "get /api/sessions/{id}",
        "get /api/settings",
        "post /v1/traces",
      ])
        assert.ok(documented.has(must), must);
    } finally {
      await s.stop();
    }
  });
});
