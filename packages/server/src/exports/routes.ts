import type { RouteMount } from "../api/index.ts";
import { jsonBody, parseOrThrow, queryOf } from "../api/validate.ts";
import { HttpError } from "../util/http-error.ts";
import {
  createDataset,
  createDatasetSchema,
  datasetDetail,
  deleteDataset,
  exportLines,
  exportQuerySchema,
  exportRows,
  getSnapshot,
  listDatasets,
  listSnapshots,
  ndjsonStream,
  planExport,
  snapshotPageSchema,
  updateDataset,
  updateDatasetSchema,
} from "./index.ts";

/** Datasets, their snapshots, and `GET /api/export` under `/api`. */
export const exportsRoutes: RouteMount = (api, ctx) => {
  const { store, config } = ctx;

  api.post("/datasets", async (c) => {
    const input = parseOrThrow(createDatasetSchema, await jsonBody(c));
    return c.json(await createDataset(store, input), 201);
  });
  api.get("/datasets", async (c) => c.json({ data: await listDatasets(store) }));
  api.get("/datasets/:name", async (c) => c.json(await datasetDetail(store, c.req.param("name"))));
  api.put("/datasets/:name", async (c) => {
    const input = parseOrThrow(updateDatasetSchema, await jsonBody(c));
    return c.json(await updateDataset(store, c.req.param("name"), input));
  });
  api.delete("/datasets/:name", async (c) => {
    await deleteDataset(store, c.req.param("name"));
    return c.body(null, 204);
  });
  api.get("/datasets/:name/snapshots", async (c) =>
    c.json({ data: await listSnapshots(store, c.req.param("name")) }),
  );
  api.get("/snapshots/:id", async (c) =>
    c.json(await getSnapshot(store, c.req.param("id"), queryOf(c, snapshotPageSchema))),
  );

  /**
   * Streams JSONL. `split` + `part` pick one side of the split; `manifest=1` streams each row's provenance
   * (line, source, call ids) instead; `report=1` answers with the counts of rows written and dropped, by reason.
   */
  api.get("/export", async (c) => {
    const q = queryOf(c, exportQuerySchema);
    if (q.part === "validation" && !q.split)
      throw new HttpError(400, "part=validation needs split (e.g. split=0.1)", { field: "part" });
    const plan = await planExport(store, q, config.linkDepth);
    if (q.report) {
      const run = exportRows(store, plan.options);
      for await (const _ of run.rows);
      return c.json(run.report());
    }
    const part = q.part ?? "train";
    const name = `${plan.dataset?.name ?? "export"}-${q.format}${part === "validation" ? ".validation" : ""}${q.manifest ? ".manifest" : ""}.jsonl`;
    const body = ndjsonStream(exportLines(store, plan, { part, manifest: q.manifest ?? false }), ctx.log);
    return c.body(body, 200, {
      "content-type": "application/x-ndjson; charset=utf-8",
      "content-disposition": `attachment; filename="${name}"`,
      "cache-control": "no-store",
    });
  });
};
