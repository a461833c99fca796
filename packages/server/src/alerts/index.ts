/**
 * The alerts domain: rules over the live traffic's check results, floor flags, rewards and errors, evaluated on a
 * timer; an alert (episode) opens when a rule's condition holds and resolves when it stops, each change sent as a
 * signed webhook. README.md beside this file has the how and why.
 */
export { type EvaluateDeps, evaluateRules, listAlerts, RESOLVE_AFTER, type Transition } from "./episodes.ts";
export { type Measurement, measure } from "./measure.ts";
export { alertsRoutes as routes } from "./routes.ts";
export { deleteRule, listRules, putRule } from "./rules.ts";
export {
  type AlertCondition,
  type AlertFilter,
  type AlertRule,
  type AlertRuleInput,
  type AlertRuleView,
  type AlertView,
  alertListSchema,
  alertRuleSchema,
  alertRuleViewSchema,
  alertViewSchema,
  windowMs,
} from "./schemas.ts";
export { type AlertsService, start } from "./start.ts";
