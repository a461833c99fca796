import { z } from "zod";
import type { AppContext } from "../context.ts";
import { HttpError, type RouteTable, route } from "../http/index.ts";
import {
  createDataset,
  datasetDetail,
  deleteDataset,
  getSnapshot,
  listDatasets,
  listSnapshots,
  updateDataset,
} from "./datasets.ts";
import { exportRows } from "./pipeline.ts";
import { dropReasons } from "./reasons.ts";
import {
  datasetDetailSchema,
  datasetViewSchema,
  exportReportSchema,
  snapshotPageSchema as snapshotPageResponse,
  snapshotViewSchema,
} from "./responses.ts";
import { exportLines, ndjsonStream, planExport } from "./run.ts";
import {
  createDatasetSchema,
  exportQuerySchema,
  snapshotPageSchema,
  updateDatasetSchema,
} from "./schemas.ts";

/** Datasets, their snapshots, and `GET /api/export` under `/api`. */
export const exportsRoutes = (ctx: AppContext): RouteTable => {
  const { store, config } = ctx;
  return [
    route({
      method: "post",
      path: "/datasets",
      scope: "admin",
      summary: "Save a filter over calls and annotations as a named dataset",
      body: createDatasetSchema,
      status: 201,
      response: datasetViewSchema,
      errors: { 409: "name taken" },
      handler: ({ body }) => createDataset(store, body),
    }),
    route({
      method: "get",
      path: "/datasets",
      scope: "read",
      summary: "List datasets",
      response: z.object({ data: z.array(datasetViewSchema) }),
      handler: async () => ({ data: await listDatasets(store) }),
    }),
    route({
      method: "get",
      path: "/datasets/:name",
      scope: "read",
      summary:
        "A dataset with its size, reward histogram and counts of annotated, corrected and compared calls",
      response: datasetDetailSchema,
      errors: { 404: "no such dataset" },
      handler: ({ params }) => datasetDetail(store, params.name),
    }),
    route({
      method: "put",
      path: "/datasets/:name",
      scope: "admin",
      summary: "Rename a dataset, change its description, or replace its filter",
      body: updateDatasetSchema,
      response: datasetViewSchema,
      errors: { 404: "no such dataset", 409: "name taken" },
      handler: ({ params, body }) => updateDataset(store, params.name, body),
    }),
    route({
      method: "delete",
      path: "/datasets/:name",
      scope: "admin",
      summary: "Delete a dataset (its snapshots are kept)",
      status: 204,
      response: null,
      describe: "deleted",
      errors: { 404: "no such dataset" },
      handler: async ({ c, params }) => {
        await deleteDataset(store, params.name);
        return c.body(null, 204);
      },
    }),
    route({
      method: "get",
      path: "/datasets/:name/snapshots",
      scope: "read",
      summary: "The snapshots (exact call ids) recorded by the dataset's exports and evaluations",
      response: z.object({ data: z.array(snapshotViewSchema) }),
      errors: { 404: "no such dataset" },
      handler: async ({ params }) => ({ data: await listSnapshots(store, params.name) }),
    }),
    route({
      method: "get",
      path: "/snapshots/:id",
      scope: "read",
      summary: "One snapshot and a page of its call ids, in the order they were used",
      query: snapshotPageSchema,
      response: snapshotPageResponse,
      errors: { 404: "no such snapshot" },
      handler: ({ params, query }) => getSnapshot(store, params.id, query),
    }),
    /**
     * Streams JSONL. `split` + `part` pick one side of the split; `manifest=1` streams each row's provenance
     * (line, source, call ids) instead; `report=1` answers with the counts of rows written and dropped, by reason.
     */
    route({
      method: "get",
      path: "/export",
      scope: "read",
      summary:
        "Stream judged calls as training JSONL (openai-sft, openai-dpo, trl-sft, trl-dpo, trl-kto, rewards)",
      query: exportQuerySchema,
      response: exportReportSchema,
      describe: `application/x-ndjson rows; with report=1 a JSON report whose dropped counts use the reasons ${Object.keys(dropReasons).join(", ")}`,
      errors: { 404: "no such dataset" },
      handler: async ({ c, query: q }) => {
        if (q.part === "validation" && !q.split)
          throw new HttpError(400, "part=validation needs split (e.g. split=0.1)", { field: "part" });
        const plan = await planExport(store, q, config.linkDepth);
        if (q.report) {
          const run = exportRows(store, plan.options);
          for await (const _ of run.rows);
          return run.report();
        }
        const part = q.part ?? "train";
        const name = `${plan.dataset?.name ?? "export"}-${q.format}${part === "validation" ? ".validation" : ""}${q.manifest ? ".manifest" : ""}.jsonl`;
        const body = ndjsonStream(exportLines(store, plan, { part, manifest: q.manifest ?? false }), ctx.log);
        return c.body(body, 200, {
          "content-type": "application/x-ndjson; charset=utf-8",
          "content-disposition": `attachment; filename="${name}"`,
          "cache-control": "no-store",
        });
      },
    }),
  ];
};
