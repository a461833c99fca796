import type { z } from "zod";
import type { AppContext } from "../context.ts";
import { HttpError, type RouteTable, reply, route } from "../http/index.ts";
import { admitCall } from "./capture-policy.ts";
import { ingestCalls } from "./ingest.ts";
import { storedUserId } from "./pseudonym.ts";
import { listCalls } from "./queries.ts";
import { callsPageSchema, ingestedSchema } from "./responses.ts";
import { callListQuerySchema, ingestCallSchema } from "./schemas.ts";

/**
 * How `GET /api/calls/{id}` reads one call with everything that resolves to it. Given at composition: the
 * annotations, links and notifications of a call belong to the domains above this one (graph, notifications),
 * which calls/ does not import.
 */
export interface CallDetailReader {
  /** What the detail answers. */
  schema: z.ZodType;
  read(idOrCompletionId: string): Promise<object | undefined>;
}

/** Calls under `/api`: list, one call, and ingest of calls captured elsewhere. */
export const callRoutes = (ctx: AppContext, detail: CallDetailReader): RouteTable => {
  const { store, recorder, config } = ctx;
  return [
    route({
      method: "get",
      path: "/calls",
      scope: "read",
      summary: "List calls, newest first",
      query: callListQuerySchema,
      response: callsPageSchema,
      describe: "`{ data: Call[], nextCursor }`",
      handler: ({ query: { cursor, limit, ...filter } }) =>
        listCalls(
          store,
          // Stored ids may be hashed: the filter's is hashed the same way (calls/pseudonym.ts).
          filter.userId ? { ...filter, userId: storedUserId(config, filter.userId) } : filter,
          { cursor, limit },
        ),
    }),
    route({
      method: "get",
      path: "/calls/:id",
      scope: "read",
      summary:
        "One call by call id, completion id or a tag of it (the newest call carrying it), with resolved annotations, links and comparisons",
      response: detail.schema,
      errors: { 404: "no such call" },
      handler: async ({ params }) => {
        const found = await detail.read(params.id);
        if (found === undefined)
          throw new HttpError(404, `no call with id, completion id or tag "${params.id}"`, { field: "id" });
        return found;
      },
    }),
    route({
      method: "post",
      path: "/calls",
      scope: "ingest",
      summary: "Ingest calls captured elsewhere",
      body: ingestCallSchema,
      bodyMode: "batch",
      status: 201,
      response: ingestedSchema,
      describe: "stored (a batch answers `{ data: [...] }`); 202 when the store is down and they are spooled",
      handler: async ({ body: { items, batch } }) => {
        const r = await ingestCalls(store, recorder, items, config.capture, config.redactPatterns, (call) =>
          admitCall(config, ctx.metrics, call, false),
        );
        // 202: accepted into the spool because the store is down; it will be stored once it answers.
        const [first] = r.items;
        return reply(
          r.stored ? 201 : 202,
          batch || !first ? { data: r.items, stored: r.stored } : { ...first, stored: r.stored },
        );
      },
    }),
  ];
};
