import type { RouteMount } from "../api/index.ts";

/** The exports domain's routes under `/api`. */
export const exportsRoutes: RouteMount = (_api, _ctx) => {};
