/**
 * The OpenAPI document, generated from the route tables that are mounted (route.ts): the same zod schemas
 * validate each request and describe it, and each route's response schema describes its answer. A route
 * cannot be mounted without being documented. Served at `GET /api/openapi.json`.
 */
import { z } from "zod";
import type { AnyRoute } from "./route.ts";

const json = (schema: z.ZodType, io: "input" | "output") =>
  z.toJSONSchema(schema, { io, unrepresentable: "any" }) as Record<string, unknown>;

/** A query schema's fields as OpenAPI query parameters. */
function queryParams(schema: z.ZodObject) {
  const doc = json(schema, "input") as {
    properties?: Record<string, { description?: string } & Record<string, unknown>>;
    required?: string[];
  };
  return Object.entries(doc.properties ?? {}).map(([name, { description, ...s }]) => ({
    name,
    in: "query",
    required: doc.required?.includes(name) ?? false,
    description,
    schema: s,
  }));
}

const errorSchema = {
  type: "object",
  properties: {
    error: {
      type: "object",
      properties: {
        message: { type: "string" },
        type: { type: "string" },
        code: { type: "string" },
        field: { type: ["string", "null"] },
      },
      required: ["message", "type", "code", "field"],
    },
  },
  required: ["error"],
};

const errorResponse = (description: string) => ({
  description,
  content: { "application/json": { schema: { $ref: "#/components/schemas/Error" } } },
});

/** `/calls/:id` as OpenAPI writes it, `/calls/{id}`. */
export const openApiPath = (path: string): string => path.replace(/:(\w+)/g, "{$1}");

function operation(r: AnyRoute) {
  const params = [...r.path.matchAll(/:(\w+)/g)].map((m) => ({
    name: m[1],
    in: "path",
    required: true,
    schema: { type: "string" },
  }));
  const body = r.body ? json(r.body, "input") : undefined;
  const errors: Record<string, ReturnType<typeof errorResponse>> = {};
  if (r.body || r.query || r.bodyMode === "raw")
    errors["400"] = errorResponse("`{ error: { message, field, code } }` naming the field");
  if (r.body || r.bodyMode === "raw") errors["413"] = errorResponse("body too large");
  for (const [status, description] of Object.entries(r.errors ?? {}))
    if (description) errors[status] = errorResponse(description);
  return {
    summary: r.summary,
    ...(r.description ? { description: r.description } : {}),
    // The key scope the route needs (keys/README.md): one, any of several, or `link` (a signed link, no key).
    "x-intersebd-scope": r.scope,
    ...(params.length || r.query
      ? { parameters: [...params, ...(r.query ? queryParams(r.query) : [])] }
      : {}),
    ...(body
      ? {
          requestBody: {
            required: true,
            content: {
              "application/json": {
                schema: r.bodyMode === "batch" ? { oneOf: [body, { type: "array", items: body }] } : body,
              },
            },
          },
        }
      : {}),
    responses: {
      [String(r.status ?? 200)]: {
        description: r.describe ?? r.summary,
        ...(r.response ? { content: { "application/json": { schema: json(r.response, "output") } } } : {}),
      },
      ...errors,
    },
  };
}

/**
 * The document for `routes` mounted under `prefix`, and `outside`: paths served beside it, not from a route table
 * (`POST /v1/traces`), each with its operations as OpenAPI writes them.
 */
export function openApiDocument(
  version: string,
  routes: AnyRoute[],
  prefix = "/api",
  outside: Record<string, Record<string, unknown>> = {},
) {
  const paths: Record<string, Record<string, ReturnType<typeof operation>>> = {};
  for (const r of routes) {
    const p = prefix + openApiPath(r.path);
    paths[p] = { ...paths[p], [r.method]: operation(r) };
  }
  return {
    openapi: "3.1.0",
    info: { title: "intersebd", version, description: "Log, link, annotate and reward LLM calls." },
    // The outside paths are OpenAPI operations written by hand; typed as the generated ones for readers.
    paths: { ...outside, ...paths } as typeof paths,
    components: { schemas: { Error: errorSchema } },
  };
}
