/**
 * The HTTP kit, below the domains: the one error type that becomes a response, the validators of requests,
 * and the route table type with its OpenAPI document. Domains declare their routes with it; `api/` (the
 * composition above them) mounts the tables. Nothing here imports a domain.
 */
export { HttpError } from "./error.ts";
export { openApiDocument, openApiPath } from "./openapi.ts";
export {
  type AnyRoute,
  type BodyMode,
  type Method,
  type MountOptions,
  mountRoutes,
  oneOrData,
  type PathParams,
  PRINCIPAL,
  principalOf,
  Reply,
  type Route,
  type RouteScope,
  type RouteTable,
  reply,
  route,
  type Scope,
} from "./route.ts";
export { jsonBody, oneOrBatch, parseOrThrow, queryOf, refuseNul } from "./validate.ts";
