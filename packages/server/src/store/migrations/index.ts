/**
 * The ordered list of migrations. Add a file `NNNN_name.ts` exporting `up`, and list it here;
 * never edit one that has shipped.
 */
import type { Migration } from "kysely";
import * as m0001 from "./0001_calls.ts";
import * as m0002 from "./0002_graph.ts";
import * as m0003 from "./0003_notifications.ts";
import * as m0004 from "./0004_exports.ts";
import * as m0005 from "./0005_evals.ts";
import * as m0006 from "./0006_call_keys.ts";
import * as m0007 from "./0007_call_previews.ts";
import * as m0008 from "./0008_eval_attempt_calls.ts";
import * as m0009 from "./0009_experiments.ts";
import * as m0010 from "./0010_eval_groups.ts";
import * as m0011 from "./0011_live_evaluators.ts";
import * as m0012 from "./0012_alerts.ts";
import * as m0013 from "./0013_conversations.ts";
import * as m0014 from "./0014_review_queues.ts";
import * as m0015 from "./0015_api_keys.ts";
import * as m0016 from "./0016_retention.ts";
import * as m0017 from "./0017_erasure_audit.ts";
import * as m0018 from "./0018_call_provenance.ts";
import * as m0019 from "./0019_call_protocols.ts";
import * as m0020 from "./0020_conversation_costs.ts";
import * as m0021 from "./0021_experiment_tags.ts";
import * as m0022 from "./0022_sparse_call_indexes.ts";

export const migrations: Record<string, Migration> = {
  "0001_calls": m0001,
  "0002_graph": m0002,
  "0003_notifications": m0003,
  "0004_exports": m0004,
  "0005_evals": m0005,
  "0006_call_keys": m0006,
  "0007_call_previews": m0007,
  "0008_eval_attempt_calls": m0008,
  "0009_experiments": m0009,
  "0010_eval_groups": m0010,
  "0011_live_evaluators": m0011,
  "0012_alerts": m0012,
  "0013_conversations": m0013,
  "0014_review_queues": m0014,
  "0015_api_keys": m0015,
  "0016_retention": m0016,
  "0017_erasure_audit": m0017,
  "0018_call_provenance": m0018,
  "0019_call_protocols": m0019,
  "0020_conversation_costs": m0020,
  "0021_experiment_tags": m0021,
  "0022_sparse_call_indexes": m0022,
};
