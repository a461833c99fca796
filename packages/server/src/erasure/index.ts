/**
 * Erasure (issue 18 item 4): `DELETE /api/users/{userId}`, `/api/sessions/{sessionId}`, `/api/tags/{tag}`, and the
 * audit log `GET /api/audit`. README.md beside this file says what goes, and how it leaves the database files.
 *
 * The door: what other folders use, by name.
 */
export { listAudit } from "./audit.ts";
export {
  type EraseOptions,
  type ErasureCounts,
  type ErasureResult,
  erase,
  type Selector,
  type SelectorKind,
  selectorHash,
  type VacuumMode,
} from "./erase.ts";
export { actorOf, erasureRoutes as routes } from "./routes.ts";
export {
  type AuditEntry,
  auditListSchema,
  type ErasureResultView,
  erasureCountsSchema,
  erasureResultSchema,
} from "./schemas.ts";
