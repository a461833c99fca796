/** Tables of the alerts domain, as Kysely sees them (camelCase; snake_case in SQL). */

export interface AlertRulesTable {
  name: string;
  /** JSON: the `AlertRule` (alerts/schemas.ts). */
  definition: string;
  createdAt: number;
  updatedAt: number;
}

/** One time a rule's condition held: opened once, resolved once it stopped holding. */
export interface AlertEpisodesTable {
  id: string;
  rule: string;
  /** The rule's name while open, null once resolved: unique, so a rule has one open episode at most. */
  openKey: string | null;
  /** `open` or `resolved`. */
  status: string;
  /** The condition's kind: `rate`, `floor`, `reward-drop` or `error-rate`. */
  condition: string;
  /** The measured value when it fired. */
  value: number;
  /** The value at the latest evaluation. */
  lastValue: number | null;
  threshold: number;
  window: string;
  /** Calls in the window when it fired. */
  calls: number;
  /** Evaluations in a row that found the condition no longer holding (it resolves at RESOLVE_AFTER). */
  clearCount: number;
  startedAt: number;
  resolvedAt: number | null;
}

export interface AlertsTables {
  alertRules: AlertRulesTable;
  alertEpisodes: AlertEpisodesTable;
}
