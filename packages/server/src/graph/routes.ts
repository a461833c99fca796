import type { RouteMount } from "../api/index.ts";

/** The graph domain's routes under `/api`. */
export const graphRoutes: RouteMount = (_api, _ctx) => {};
