import type { RouteMount } from "../api/index.ts";

/** Serves the built web app (packages/web/dist) at `/`; filled by the web issue. */
export const webRoutes: RouteMount = (_api, _ctx, _root) => {};
