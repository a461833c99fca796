/**
 * The ordered list of migrations. Add a file `NNNN_name.ts` exporting `up`, and list it here;
 * never edit one that has shipped.
 */
import type { Migration } from "kysely";
import * as m0001 from "./0001_calls.ts";
import * as m0002 from "./0002_graph.ts";

export const migrations: Record<string, Migration> = {
  "0001_calls": m0001,
  "0002_graph": m0002,
};
