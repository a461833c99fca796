/** The alerts API under `/api` (`GET /api/alerts`: PRODUCT.md, "Names for what comes next"). */
import { z } from "zod";
import type { AppContext } from "../context.ts";
import { HttpError } from "../http/error.ts";
import { type RouteTable, reply, route } from "../http/index.ts";
import { listAlerts } from "./episodes.ts";
import { deleteRule, listRules, putRule } from "./rules.ts";
import {
  alertListQuerySchema,
  alertListSchema,
  alertRuleListSchema,
  alertRuleSchema,
  alertRuleViewSchema,
} from "./schemas.ts";

/** `service.deliver()` is called when a rule names a webhook, so that its alerts are sent without a restart. */
export const alertsRoutes = (ctx: AppContext, service?: { deliver(): void }): RouteTable => {
  const { store } = ctx;
  return [
    route({
      method: "get",
      path: "/alerts",
      scope: "read",
      summary: "Alerts: episodes of a rule's condition holding, open first, then resolved, newest first",
      query: alertListQuerySchema,
      response: alertListSchema,
      handler: ({ query }) => listAlerts(store, query),
    }),
    route({
      method: "get",
      path: "/alerts/rules",
      scope: "read",
      summary: "The alert rules, by name",
      response: alertRuleListSchema,
      handler: async () => ({ rules: await listRules(store) }),
    }),
    route({
      method: "post",
      path: "/alerts/rules",
      scope: "admin",
      summary: "Create an alert rule, or replace the one of that name (200)",
      body: alertRuleSchema,
      status: 201,
      response: alertRuleViewSchema,
      handler: async ({ body }) => {
        const { rule, created } = await putRule(store, body);
        if (rule.webhookUrl) service?.deliver();
        return created ? rule : reply(200, rule);
      },
    }),
    route({
      method: "delete",
      path: "/alerts/rules/:name",
      scope: "admin",
      summary: "Delete an alert rule (its open alert resolves at the next evaluation)",
      response: z.object({ deleted: z.literal(true) }),
      errors: { 404: "no such rule" },
      handler: async ({ params }) => {
        if (!(await deleteRule(store, params.name)))
          throw new HttpError(404, `no alert rule named ${params.name}`, { field: "name" });
        return { deleted: true as const };
      },
    }),
  ];
};
