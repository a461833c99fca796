/**
 * The domains' API route groups, mounted under `/api` in this order. A new domain adds its mount here.
 */
import type { RouteMount } from "./api/index.ts";
import { evalsRoutes } from "./evals/routes.ts";
import { exportsRoutes } from "./exports/routes.ts";
import { graphRoutes } from "./graph/routes.ts";
import { notificationsRoutes } from "./notifications/routes.ts";
import { webRoutes } from "./web/static.ts";

export const allMounts: RouteMount[] = [graphRoutes, notificationsRoutes, exportsRoutes, evalsRoutes];

/** Mounted on the top-level app after `/api`: the web app's pages and assets. */
export const rootMounts: RouteMount[] = [webRoutes];
