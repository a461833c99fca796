/**
 * The exports domain: datasets (saved filters, with snapshots of what each export or evaluation used) and
 * exports of judged calls as training JSONL (README.md beside this file describes formats and rules).
 *
 * The door: what other folders use, by name (the composition, the CLI, evaluations, the API's types).
 */
export {
  createDataset,
  type DatasetDetail,
  type DatasetView,
  datasetCallIds,
  datasetDetail,
  deleteDataset,
  listDatasets,
  listSnapshots,
  type SnapshotView,
  SnapshotWriter,
  snapshotDataset,
  updateDataset,
} from "./datasets.ts";
export { type Format, formatInfo, formats } from "./formats.ts";
export { type ExportReport, exportRows, type Part } from "./pipeline.ts";
export { type DropReason, dropReasons } from "./reasons.ts";
export { exportsRoutes as routes } from "./routes.ts";
export { type ExportPlan, manifestLine, planExport } from "./run.ts";
export { createDatasetSchema, exportQuerySchema, updateDatasetSchema } from "./schemas.ts";
export { countComparisons, countSelection } from "./source.ts";
export { groupKeys } from "./split.ts";
