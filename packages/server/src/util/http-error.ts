/** Moved to `http/error.ts` (the HTTP kit below the domains); this re-export goes once every import is moved. */
export { HttpError } from "../http/error.ts";
