/**
 * Which experiment and variant one chat completion request goes through, and what it then sends: a pure decision
 * over the parsed body, the `x-intersebd-*` context and the live view of experiments. The proxy calls it; it
 * never touches the network or the store.
 *
 * A request joins an experiment by name (`model: "exp:<name>"` or `x-intersebd-experiment: <name>`), or else the
 * first (oldest) experiment in status shadow, running or promoted whose `match` filter fits it. The variant:
 * draft, shadow and stopped give the control; running assigns by the unit's hash (`intersebd/experiments`, the
 * same function the SDKs run, fed the unit's raw id); promoted gives the promoted variant.
 */
import { assignVariant } from "intersebd/experiments";
import { HttpError } from "../http/error.ts";
import { applyVariant } from "./overrides.ts";
import type { Experiment, Match, Variant } from "./schemas.ts";

export const ALIAS_PREFIX = "exp:";

/** What the proxy knows of the request besides its body (proxy/headers.ts's CallContext has these). */
export interface RoutingContext {
  userId: string | null;
  sessionId: string | null;
  tags: string[];
  metadata: Record<string, unknown>;
  /** `x-intersebd-experiment` */
  experiment?: string | null;
  /** `x-intersebd-variant`: the service applied this variant itself (an SDK's `variant()`). */
  variant?: string | null;
  /** `x-intersebd-shadow-of`: a shadow call made by the shadow runner. */
  shadowOf?: string | null;
}

/** The experiments as this instance sees them (experiments/live.ts). */
export interface ExperimentLookup {
  byName(name: string): Experiment | undefined;
  /** Experiments that apply by their `match` filter (status shadow, running or promoted), oldest first. */
  matchable(): readonly Experiment[];
  /** Whether an upstream of that name is configured. */
  hasUpstream(name: string): boolean;
}

export interface RouteInput {
  /** The request body as a JSON object; undefined when it is not one (such a request joins nothing by its model). */
  body: Record<string, unknown> | undefined;
  context: RoutingContext;
  /** The upstream the request's path names (`default` for `/v1`). */
  upstream: string;
  callId: string;
}

export interface Routed {
  experiment: Experiment;
  variant: string;
  /** `userId:<id>`, `sessionId:<id>`, `request:<call id>`; null when the request lacked the unit's id. */
  assignmentUnit: string | null;
  /** The variant's upstream, when it names one other than the request's. */
  upstream?: string;
  /** The body to send: undefined when the request's own bytes go unchanged. */
  body?: Record<string, unknown>;
  /** The variant's prompt version label, recorded as the call's `metadata.promptVersion`. */
  promptVersion?: string;
  /** For a shadow call: the call it shadows. */
  shadowOf?: string;
}

export const unknownExperiment = (name: string) =>
  new HttpError(404, `no experiment named ${name} (GET /api/experiments lists them)`, {
    field: "experiment",
    code: "unknown_experiment",
  });

/** The experiment a request names, by its model alias or header; undefined when it names none. */
function namedExperiment(input: RouteInput): string | undefined {
  const model = input.body?.model;
  const alias =
    typeof model === "string" && model.startsWith(ALIAS_PREFIX)
      ? model.slice(ALIAS_PREFIX.length)
      : undefined;
  const header = input.context.experiment || undefined;
  if (alias !== undefined && header !== undefined && alias !== header)
    throw new HttpError(
      400,
      `the model alias names experiment ${alias} but x-intersebd-experiment names ${header}: name one`,
      { field: "x-intersebd-experiment" },
    );
  return alias ?? header;
}

const scalar = (v: unknown) => typeof v === "string" || typeof v === "number" || typeof v === "boolean";

/** The request's metadata as stored: the body's `metadata` field under the header's (record.ts merges alike). */
function metadataOf(input: RouteInput): Record<string, unknown> {
  const own = input.body?.metadata;
  return own && typeof own === "object" && !Array.isArray(own)
    ? { ...(own as Record<string, unknown>), ...input.context.metadata }
    : input.context.metadata;
}

export function matches(match: Match, input: RouteInput): boolean {
  if (match.upstream !== undefined && match.upstream !== input.upstream) return false;
  if (match.model !== undefined && input.body?.model !== match.model) return false;
  if (match.tags?.some((t) => !input.context.tags.includes(t))) return false;
  if (match.metadata) {
    const meta = metadataOf(input);
    for (const [k, v] of Object.entries(match.metadata)) if (!scalar(meta[k]) || meta[k] !== v) return false;
  }
  return true;
}

/** The unit's raw id (what the hash takes) and its recorded form, or undefined when the request lacks it. */
function unitOf(e: Experiment, input: RouteInput): { id: string; recorded: string } | undefined {
  const id =
    e.unit === "request"
      ? input.callId
      : e.unit === "userId"
        ? input.context.userId
        : input.context.sessionId;
  return id ? { id, recorded: `${e.unit}:${id}` } : undefined;
}

/** The variant the experiment gives this request, by its status. */
function assign(e: Experiment, input: RouteInput): { variant: string; assignmentUnit: string | null } {
  const unit = unitOf(e, input);
  const assignmentUnit = unit?.recorded ?? null;
  if (e.status === "promoted" && e.promoted) return { variant: e.promoted.variant, assignmentUnit };
  if (e.status !== "running" || !unit) return { variant: e.control, assignmentUnit: null };
  return { variant: assignVariant(e, unit.id) ?? e.control, assignmentUnit };
}

function variantOf(e: Experiment, name: string): Variant {
  const v = e.variants.find((x) => x.name === name);
  // A definition names its control and promoted variant among its variants (schemas and book.ts hold it).
  if (!v)
    throw new HttpError(500, `experiment ${e.name} has no variant ${name}: its definition is inconsistent`);
  return v;
}

/**
 * Decides the experiment, variant and body of one chat completion request, or undefined when none applies.
 * @throws HttpError 404 (`unknown_experiment`) for a name no experiment has; 400 for a variant header that names
 *   no variant, an unconfigured variant upstream, or an `exp:` alias that resolves to no model.
 */
export function routeChat(input: RouteInput, live: ExperimentLookup): Routed | undefined {
  const { context } = input;
  const named = namedExperiment(input);
  if (context.shadowOf) return shadowCall(input, live, named);
  let experiment: Experiment | undefined;
  if (named !== undefined) {
    experiment = live.byName(named);
    if (!experiment) throw unknownExperiment(named);
  } else {
    experiment = live.matchable().find((e) => e.match && matches(e.match, input));
    if (!experiment) return undefined;
  }
  const e = experiment;
  const given = context.variant || undefined;
  let variant: Variant;
  let assignmentUnit: string | null;
  if (given !== undefined) {
    const found = e.variants.find((v) => v.name === given);
    if (!found)
      throw new HttpError(
        400,
        `x-intersebd-variant: experiment ${e.name} has no variant ${given} (variants: ${e.variants.map((v) => v.name).join(", ")})`,
        { field: "x-intersebd-variant" },
      );
    variant = found;
    assignmentUnit = unitOf(e, input)?.recorded ?? null;
  } else {
    const a = assign(e, input);
    variant = variantOf(e, a.variant);
    assignmentUnit = a.assignmentUnit;
  }
  if (variant.upstream !== undefined && !live.hasUpstream(variant.upstream))
    throw new HttpError(
      400,
      `variant ${variant.name} of experiment ${e.name} sends to upstream ${variant.upstream}, which is not configured here (INTERSEBD_UPSTREAMS)`,
      { field: "upstream" },
    );

  const routed: Routed = { experiment: e, variant: variant.name, assignmentUnit };
  if (variant.upstream !== undefined && variant.upstream !== input.upstream)
    routed.upstream = variant.upstream;
  if (variant.promptVersion !== undefined) routed.promptVersion = variant.promptVersion;
  const body = input.body;
  if (!body) return routed;
  const alias = typeof body.model === "string" && body.model.startsWith(ALIAS_PREFIX);
  const model = alias ? (variant.model ?? variantOf(e, e.control).model) : undefined;
  if (alias && !model)
    throw new HttpError(
      400,
      `model: ${String(body.model)} resolves to variant ${variant.name} of experiment ${e.name}, which sets no model, and neither does its control ${e.control}: give the control a model, or send a real model and x-intersebd-experiment: ${e.name}`,
      { field: "model" },
    );
  // The service applied the variant itself: only the alias is resolved, its messages and params are its own.
  if (given !== undefined) {
    if (model) routed.body = { ...body, model };
    return routed;
  }
  const changed = applyVariant(body, model ? { ...variant, model } : variant, metadataOf(input));
  if (!sameShallow(changed, body)) routed.body = changed;
  return routed;
}

/** A call made by the shadow runner: recorded under the experiment and variant it names, never routed again. */
function shadowCall(
  input: RouteInput,
  live: ExperimentLookup,
  named: string | undefined,
): Routed | undefined {
  const e = named !== undefined ? live.byName(named) : undefined;
  // The experiment may have been removed or renamed meanwhile: the shadow call is still forwarded, unrouted.
  if (!e) return undefined;
  const variant = input.context.variant || e.control;
  const v = e.variants.find((x) => x.name === variant);
  const routed: Routed = {
    experiment: e,
    variant,
    assignmentUnit: unitOf(e, input)?.recorded ?? null,
    shadowOf: input.context.shadowOf ?? undefined,
  };
  if (v?.promptVersion !== undefined) routed.promptVersion = v.promptVersion;
  return routed;
}

/** True when `a` has the same keys with the same values (by reference) as `b`: the variant changed nothing. */
function sameShallow(a: Record<string, unknown>, b: Record<string, unknown>): boolean {
  const ka = Object.keys(a);
  if (ka.length !== Object.keys(b).length) return false;
  return ka.every((k) => k in b && a[k] === b[k]);
}
