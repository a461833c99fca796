/**
 * The OpenAPI document, generated from the same zod schemas that validate requests, so the docs cannot drift
 * from what the server accepts. Served at `GET /api/openapi.json`.
 */
import { z } from "zod";
import { callFilterSchema, ingestCallSchema } from "../calls/schemas.ts";
import { createEvalSchema, timeseriesSchema } from "../evals/schemas.ts";
import { exportsOpenApiPaths } from "../exports/index.ts";
import { annotationSchema, comparisonSchema, linkSchema, notificationSchema } from "../graph/schemas.ts";
import { answersSchema, rubricSchema } from "../notifications/index.ts";

const oneOrMany = (schema: z.ZodType) => {
  const one = z.toJSONSchema(schema, { io: "input", unrepresentable: "any" });
  return { oneOf: [one, { type: "array", items: one }] };
};

function writeOp(summary: string, schema: z.ZodType) {
  return {
    post: {
      summary,
      requestBody: { required: true, content: { "application/json": { schema: oneOrMany(schema) } } },
      responses: {
        "201": { description: "stored (a batch answers `{ data: [...] }`)" },
        "400": { description: "`{ error: { message, field, code } }` naming the field" },
        "413": { description: "body too large" },
      },
    },
  };
}

/** A query schema's fields as OpenAPI query parameters. */
function queryParams(schema: z.ZodType) {
  const json = z.toJSONSchema(schema, { io: "input", unrepresentable: "any" }) as {
    properties?: Record<string, { description?: string }>;
  };
  return Object.entries(json.properties ?? {}).map(([name, s]) => ({
    name,
    in: "query",
    required: false,
    description: s.description,
    schema: { type: "string" },
  }));
}

export function openApiDocument(version: string) {
  const filterParams = queryParams(callFilterSchema);
  return {
    openapi: "3.1.0",
    info: { title: "intersebd", version, description: "Log, link, annotate and reward LLM calls." },
    paths: {
      "/api/calls": {
        get: {
          summary: "List calls, newest first",
          parameters: [
            ...filterParams,
            {
              name: "limit",
              in: "query",
              schema: { type: "integer", minimum: 1, maximum: 1000, default: 50 },
            },
            { name: "cursor", in: "query", schema: { type: "string" } },
          ],
          responses: { "200": { description: "`{ data: Call[], nextCursor }`" } },
        },
        ...writeOp("Ingest calls captured elsewhere", ingestCallSchema),
      },
      "/api/calls/{id}": {
        get: {
          summary: "One call by call id or completion id, with resolved annotations, links and comparisons",
          parameters: [{ name: "id", in: "path", required: true, schema: { type: "string" } }],
          responses: { "200": { description: "the call" }, "404": { description: "no such call" } },
        },
      },
      "/api/links": writeOp("Link an upstream tag to a downstream tag", linkSchema),
      "/api/annotations": writeOp("Annotate a tag", annotationSchema),
      "/api/comparisons": writeOp("Store a pairwise choice between two tags", comparisonSchema),
      "/api/notifications": writeOp("Ask a person to judge a call", notificationSchema),
      "/api/notifications/{id}/revoke": {
        post: {
          summary: "Revoke a notification's link",
          responses: { "200": { description: "the notification" } },
        },
      },
      "/api/a/{token}": {
        get: {
          summary:
            "What an annotation link shows: one item's message, state, conversation and rubric, nothing else (no API key: the token is the credential)",
          responses: {
            "200": { description: "the task" },
            "401": { description: "invalid token" },
            "410": { description: "expired or revoked" },
          },
        },
      },
      "/api/a/{token}/answers": {
        post: {
          summary: "Answer a notification: one annotation per rubric field",
          requestBody: {
            content: {
              "application/json": {
                schema: z.toJSONSchema(answersSchema, { io: "input", unrepresentable: "any" }),
              },
            },
          },
          responses: { "201": { description: "stored" } },
        },
      },
      "/api/rubrics/{name}": {
        put: {
          summary: "Create or replace a rubric (a named feedback form)",
          requestBody: {
            content: {
              "application/json": {
                schema: z.toJSONSchema(rubricSchema, { io: "input", unrepresentable: "any" }),
              },
            },
          },
          responses: { "200": { description: "the rubric" } },
        },
      },
      ...exportsOpenApiPaths(),
      "/api/evals": {
        get: {
          summary: "Evaluation runs, newest first",
          responses: { "200": { description: "`{ data: Run[] }`" } },
        },
        ...writeOp(
          "Start an evaluation: replay a dataset against a candidate, scored by checks and judges",
          createEvalSchema,
        ),
      },
      "/api/evals/{id}": {
        get: {
          summary: "A run's progress and report",
          responses: { "200": { description: "`{ run, progress, report }`" } },
        },
      },
      "/api/evals/{id}/cancel": {
        post: { summary: "Cancel a run", responses: { "200": { description: "the run" } } },
      },
      "/api/evals/{id}/resume": {
        post: {
          summary: "Resume a cancelled or interrupted run",
          responses: { "200": { description: "the run" } },
        },
      },
      "/api/metrics/timeseries": {
        get: {
          summary:
            "Reward, pass rate, cost, latency or volume over time, split by model, upstream or prompt version",
          parameters: queryParams(timeseriesSchema),
          responses: { "200": { description: "`{ buckets: [{ t, group, value, n }] }`" } },
        },
      },
      "/api/tags/{tag}": {
        get: {
          summary: "A tag's calls (upstream), links both ways, and annotations",
          parameters: [{ name: "tag", in: "path", required: true, schema: { type: "string" } }],
          responses: { "200": { description: "the tag" } },
        },
      },
    },
  };
}
