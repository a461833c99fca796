/**
 * The exports domain's part of the OpenAPI document, generated from the schemas that validate the requests.
 * `api/openapi.ts` spreads it into `paths`.
 */
import { z } from "zod";
import { dropReasons } from "./reasons.ts";
import {
  createDatasetSchema,
  exportQuerySchema,
  snapshotPageSchema,
  updateDatasetSchema,
} from "./schemas.ts";

function queryParams(schema: z.ZodType) {
  const json = z.toJSONSchema(schema, { io: "input", unrepresentable: "any" }) as {
    properties?: Record<string, { description?: string; enum?: unknown[] }>;
    required?: string[];
  };
  return Object.entries(json.properties ?? {}).map(([name, s]) => ({
    name,
    in: "query",
    required: json.required?.includes(name) ?? false,
    description: s.description,
    schema: s.enum ? { type: "string", enum: s.enum } : { type: "string" },
  }));
}

const body = (schema: z.ZodType) => ({
  required: true,
  content: {
    "application/json": { schema: z.toJSONSchema(schema, { io: "input", unrepresentable: "any" }) },
  },
});

const nameParam = { name: "name", in: "path", required: true, schema: { type: "string" } };
const error = { description: "`{ error: { message, field, code } }`" };

export function exportsOpenApiPaths() {
  return {
    "/api/export": {
      get: {
        summary:
          "Stream judged calls as training JSONL (openai-sft, openai-dpo, trl-sft, trl-dpo, trl-kto, rewards)",
        parameters: queryParams(exportQuerySchema),
        responses: {
          "200": {
            description: `application/x-ndjson rows; with report=1 a JSON report whose dropped counts use the reasons ${Object.keys(dropReasons).join(", ")}`,
          },
          "400": error,
          "404": { description: "no such dataset" },
        },
      },
    },
    "/api/datasets": {
      get: { summary: "List datasets", responses: { "200": { description: "`{ data: Dataset[] }`" } } },
      post: {
        summary: "Save a filter over calls and annotations as a named dataset",
        requestBody: body(createDatasetSchema),
        responses: {
          "201": { description: "the dataset" },
          "400": error,
          "409": { description: "name taken" },
        },
      },
    },
    "/api/datasets/{name}": {
      get: {
        summary:
          "A dataset with its size, reward histogram and counts of annotated, corrected and compared calls",
        parameters: [nameParam],
        responses: { "200": { description: "the dataset" }, "404": error },
      },
      put: {
        summary: "Rename a dataset, change its description, or replace its filter",
        parameters: [nameParam],
        requestBody: body(updateDatasetSchema),
        responses: { "200": { description: "the dataset" }, "400": error, "404": error, "409": error },
      },
      delete: {
        summary: "Delete a dataset (its snapshots are kept)",
        parameters: [nameParam],
        responses: { "204": { description: "deleted" }, "404": error },
      },
    },
    "/api/datasets/{name}/snapshots": {
      get: {
        summary: "The snapshots (exact call ids) recorded by the dataset's exports and evaluations",
        parameters: [nameParam],
        responses: { "200": { description: "`{ data: Snapshot[] }`" }, "404": error },
      },
    },
    "/api/snapshots/{id}": {
      get: {
        summary: "One snapshot and a page of its call ids, in the order they were used",
        parameters: [
          { name: "id", in: "path", required: true, schema: { type: "string" } },
          ...queryParams(snapshotPageSchema),
        ],
        responses: { "200": { description: "the snapshot with `callIds` and `nextCursor`" }, "404": error },
      },
    },
  };
}
