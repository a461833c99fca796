import type { RouteMount } from "../api/index.ts";

/** The notifications domain's routes under `/api`. */
export const notificationsRoutes: RouteMount = (_api, _ctx) => {};
