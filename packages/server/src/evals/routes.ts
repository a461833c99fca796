import type { RouteMount } from "../api/index.ts";

/** The evals domain's routes under `/api`. */
export const evalsRoutes: RouteMount = (_api, _ctx) => {};
