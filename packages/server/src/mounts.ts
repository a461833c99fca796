/**
 * The domains' API route groups, mounted under `/api` in this order. A new domain adds its mount here.
 */
import type { RouteMount } from "./api/index.ts";

export const allMounts: RouteMount[] = [];
