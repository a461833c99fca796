/**
 * The tag graph: links between tags, annotations on tags, pairwise comparisons, and their resolution to calls.
 *
 * The door: what other folders use, by name. The implementation is in links.ts, annotations.ts (and
 * comparisons), detail.ts (reading around a call or a tag), views.ts, resolve.ts and depth.ts.
 */
export { insertAnnotations, insertComparisons } from "./annotations.ts";
export { CONTINUATION_LINK, continuationsOnInsert } from "./continuations.ts";
export { ensureResolutionDepth } from "./depth.ts";
export { type CallDetail, callDetail, callIdsOfTag, resolveCallAnnotations } from "./detail.ts";
export { insertLinks } from "./links.ts";
export { callsNamedBy, lockGraphWrites, resolutionOnInsert } from "./resolve.ts";
export { callDetailSchema } from "./responses.ts";
export { graphRoutes as routes } from "./routes.ts";
export { type AnnotationInput, annotationSources, correctionSchema, tag } from "./schemas.ts";
export type { AnnotationView, ComparisonView, LinkView, ResolvedAnnotation } from "./views.ts";
export { annotationView } from "./views.ts";
