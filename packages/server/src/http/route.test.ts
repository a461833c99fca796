/**
 * The route kit in-process (no port): what a route declares is validated before its handler runs, and with
 * `checkResponses` an answer outside its schema is a 500 naming the field.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Hono } from "hono";
import { z } from "zod";
import { HttpError } from "./error.ts";
import { openApiDocument } from "./openapi.ts";
import { mountRoutes, type RouteTable, reply, route } from "./route.ts";

const table: RouteTable = [
  route({
    method: "get",
    path: "/things/:id",
    scope: "read",
    summary: "One thing",
    query: z.object({ n: z.coerce.number().int().default(1) }),
    response: z.object({ id: z.string(), n: z.number() }),
    handler: ({ params, query }) => ({ id: params.id, n: query.n }),
  }),
  route({
    method: "post",
    path: "/things",
    scope: "read",
    summary: "Store things",
    body: z.object({ name: z.string() }).strict(),
    bodyMode: "batch",
    status: 201,
    response: z.object({ stored: z.number() }),
    handler: ({ body }) =>
      body.items.length > 1 ? reply(202, { stored: body.items.length }) : { stored: 1 },
  }),
  route({
    method: "get",
    path: "/broken",
    scope: "read",
    summary: "Answers outside its schema",
    response: z.object({ count: z.number() }),
    handler: () => ({ count: "three" }) as unknown as { count: number },
  }),
];

function app(checkResponses: boolean) {
  const a = new Hono();
  a.onError((err, c) =>
    err instanceof HttpError ? c.json(err.toJSON(), err.status as 400) : c.json({ bug: String(err) }, 500),
  );
  mountRoutes(a, table, { checkResponses });
  return a;
}

describe(mountRoutes.name, () => {
  it("hands the handler its path parameters, query and body, validated", async () => {
    const a = app(true);
    const got = await a.request("/things/t1?n=3");
    assert.deepEqual(await got.json(), { id: "t1", n: 3 });
    const bad = await a.request("/things/t1?m=3");
    assert.equal(bad.status, 400);
    assert.match(((await bad.json()) as { error: { message: string } }).error.message, /unknown parameter m/);
    const one = await a.request("/things", { method: "POST", body: JSON.stringify({ name: "a" }) });
    assert.equal(one.status, 201);
    const many = await a.request("/things", {
      method: "POST",
      body: JSON.stringify([{ name: "a" }, { name: "b" }]),
    });
    assert.equal(many.status, 202, "a reply's status wins over the route's");
    const wrong = await a.request("/things", {
      method: "POST",
      body: JSON.stringify([{ name: "a" }, { nam: "b" }]),
    });
    assert.equal(wrong.status, 400);
    assert.equal(((await wrong.json()) as { error: { field: string } }).error.field, "[1].name");
  });

  it("answers 500 naming the field when an answer breaks its schema, only when checking responses", async () => {
    const checked = await app(true).request("/broken");
    assert.equal(checked.status, 500);
    const body = (await checked.json()) as { error: { message: string; code: string } };
    assert.equal(body.error.code, "response_mismatch");
    assert.match(body.error.message, /GET \/broken answered outside its schema: response field count/);
    assert.equal((await app(false).request("/broken")).status, 200, "production answers as the handler says");
  });
});

describe(openApiDocument.name, () => {
  it("describes every route of the tables with its parameters, body and response schema", () => {
    const doc = openApiDocument("1", table);
    assert.deepEqual(Object.keys(doc.paths).sort(), ["/api/broken", "/api/things", "/api/things/{id}"]);
    const get = doc.paths["/api/things/{id}"]?.get;
    assert.deepEqual(
      get?.parameters?.map((p) => `${p.in} ${p.name}`),
      ["path id", "query n"],
    );
    assert.ok(get?.responses["200"] && "content" in get.responses["200"]);
    const post = doc.paths["/api/things"]?.post;
    assert.ok(post?.requestBody, "the body is described");
    assert.ok(
      post?.responses["201"] && post.responses["400"],
      "the success status and the 400 are described",
    );
  });
});
