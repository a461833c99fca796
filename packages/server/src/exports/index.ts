/**
 * The exports domain: datasets (saved filters, with snapshots of what each export or evaluation used) and
 * exports of judged calls as training JSONL (README.md beside this file describes formats and rules).
 */
export {
  createDataset,
  type DatasetDetail,
  type DatasetView,
  datasetCallIds,
  datasetDetail,
  deleteDataset,
  getSnapshot,
  listDatasets,
  listSnapshots,
  loadDataset,
  type SnapshotView,
  SnapshotWriter,
  selectionOf,
  snapshotDataset,
  updateDataset,
} from "./datasets.ts";
export { type Format, formatInfo, formats, type Provenance } from "./formats.ts";
export type { ExportAnnotation, ExportCall, ExportItem, Message, Prompt } from "./model.ts";
export {
  type ExportedRow,
  type ExportOptions,
  type ExportReport,
  exportRows,
  type Part,
} from "./pipeline.ts";
export { type DropReason, dropReasons } from "./reasons.ts";
export { exportsRoutes as routes } from "./routes.ts";
export { type ExportPlan, exportLines, manifestLine, ndjsonStream, planExport } from "./run.ts";
export * from "./schemas.ts";
export { countComparisons, countSelection, type Selection } from "./source.ts";
export { type GroupBy, groupKeys, partOf } from "./split.ts";
export { validateRow } from "./validate.ts";
export { type Condition, parseWhere, WhereError } from "./where.ts";
