/**
 * Operations: the runtime's status and the configuration changes seen in the stored calls (issue 18 item 7).
 * Owns no table: it reads the calls' `config_hash` (calls/provenance.ts) and the recorder's and workers' state.
 */
export { opsRoutes as routes } from "./routes.ts";
export { type StatusView, type StatusWorkers, statusView } from "./status.ts";
