/** Tables of the experiments domain, as Kysely sees them (camelCase; snake_case in SQL). */

export interface ExperimentsTable {
  name: string;
  /** Raised by one at every change; `experiment_changes` keeps each version. */
  version: number;
  /** `draft`, `shadow`, `running`, `stopped` or `promoted` (also inside `definition`, kept here for lists). */
  status: string;
  /** JSON: the `Experiment` (experiments/schemas.ts), allocation included. */
  definition: string;
  createdBy: string;
  createdAt: number;
  updatedAt: number;
}

/** One change to an experiment: who, when, what (the request that made it) and the definition it produced. */
export interface ExperimentChangesTable {
  name: string;
  version: number;
  /** `create`, `update`, `promote` or `rollback`. */
  action: string;
  by: string;
  at: number;
  /** JSON: what was asked for. */
  change: string;
  /** JSON: the definition after the change. */
  definition: string;
}

export interface ExperimentsTables {
  experiments: ExperimentsTable;
  experimentChanges: ExperimentChangesTable;
}
