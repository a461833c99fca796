/** Tables of the exports domain, as Kysely sees them (camelCase; snake_case in SQL). */
import type { Generated } from "kysely";

/** A saved, named filter over calls and their resolved annotations. */
export interface DatasetsTable {
  id: string;
  name: string;
  description: string | null;
  /** JSON: the filter as given (query-string form: `GET /api/calls` filters plus `where`, `hasCorrection`...). */
  filter: string;
  createdAt: number;
  updatedAt: number;
}

/**
 * The exact calls one export or evaluation of a dataset used, so a result can be traced to its rows.
 * Snapshots outlive their dataset: deleting a dataset keeps its snapshots (`datasetName` says whose).
 */
export interface DatasetSnapshotsTable {
  id: string;
  datasetId: string;
  datasetName: string;
  /** `export` or `evaluation` (or what the caller names). */
  purpose: string;
  /** Export format; null for evaluations. */
  format: string | null;
  /** JSON: the export's options (split, part, threshold...), or the caller's. */
  params: string | null;
  /** Set when the snapshot is complete; null while (or if interrupted while) it is written. */
  callCount: number | null;
  rowCount: number | null;
  createdAt: number;
  completedAt: number | null;
  /** Calls erasure (erasure/) took out of this snapshot since it was written; `callCount` no longer counts them. */
  erasedCalls: Generated<number>;
}

export interface DatasetSnapshotCallsTable {
  snapshotId: string;
  callId: string;
  /** Order of first use in the export (0-based). */
  position: number;
}

export interface ExportsTables {
  datasets: DatasetsTable;
  datasetSnapshots: DatasetSnapshotsTable;
  datasetSnapshotCalls: DatasetSnapshotCallsTable;
}
