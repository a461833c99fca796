/**
 * The routing decision alone (experiments/router.ts): which experiment a request joins, which variant it gets by
 * status and unit, and what body and upstream it then sends.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { allocate, assignVariant } from "intersebd/experiments";
import { HttpError } from "../http/error.ts";
import { type ExperimentLookup, type RouteInput, routeChat } from "./router.ts";
import type { Experiment, Variant } from "./schemas.ts";

function experiment(name: string, over: Partial<Experiment> = {}): Experiment {
  const variants: Variant[] = over.variants ?? [
    { name: "control", weight: 1, model: "gpt-base" },
    {
      name: "candidate",
      weight: 1,
      model: "gpt-new",
      systemPrompt: "be brief [[GOOD]]",
      promptVersion: "v2",
    },
  ];
  return {
    name,
    version: 1,
    status: "running",
    unit: "userId",
    salt: name,
    control: variants[0]?.name ?? "control",
    variants,
    allocation: allocate(variants.map((v) => ({ variant: v.name, weight: v.weight }))),
    createdBy: "test",
    createdAt: 1,
    updatedAt: 1,
    ...over,
  };
}

function lookup(list: Experiment[], upstreams = ["default", "alt"]): ExperimentLookup {
  return {
    byName: (n) => list.find((e) => e.name === n),
    // Oldest first, as experiments/live.ts keeps them.
    matchable: () =>
      list
        .filter((e) => e.match && ["shadow", "running", "promoted"].includes(e.status))
        .sort((a, b) => a.createdAt - b.createdAt),
    hasUpstream: (n) => upstreams.includes(n),
  };
}

function input(over: Partial<RouteInput> & { headers?: Partial<RouteInput["context"]> } = {}): RouteInput {
  return {
    body: over.body ?? { model: "gpt-4o-mini", messages: [{ role: "user", content: "hi" }] },
    context: { userId: null, sessionId: null, tags: [], metadata: {}, ...over.headers },
    upstream: over.upstream ?? "default",
    callId: over.callId ?? "call_1",
  };
}

const userFor = (e: Experiment, variant: string) => {
  for (let i = 0; ; i++) if (assignVariant(e, `u${i}`) === variant) return `u${i}`;
};

const httpError = (status: number, pattern: RegExp) => (err: unknown) =>
  err instanceof HttpError && err.status === status && pattern.test(err.message);

describe("routeChat", () => {
  it("applies no experiment to a request that names none and matches no filter", () => {
    const e = experiment("titles", { match: { model: "other-model" } });
    assert.equal(routeChat(input(), lookup([e])), undefined);
  });

  it("joins by the model alias and resolves it to the assigned variant's model and overrides", () => {
    const e = experiment("titles");
    const user = userFor(e, "candidate");
    const r = routeChat(
      input({ body: { model: "exp:titles", messages: [] }, headers: { userId: user } }),
      lookup([e]),
    );
    assert.equal(r?.experiment.name, "titles");
    assert.equal(r?.variant, "candidate");
    assert.equal(r?.assignmentUnit, `userId:${user}`);
    assert.equal(r?.promptVersion, "v2");
    assert.deepEqual(r?.body, {
      model: "gpt-new",
      messages: [{ role: "system", content: "be brief [[GOOD]]" }],
    });
  });

  it("joins by the header; the control without overrides keeps the request's own bytes", () => {
    const e = experiment("titles", {
      variants: [
        { name: "a", weight: 1 },
        { name: "b", weight: 1, model: "m2" },
      ],
    });
    const user = userFor(e, "a");
    const r = routeChat(input({ headers: { experiment: "titles", userId: user } }), lookup([e]));
    assert.equal(r?.variant, "a");
    assert.equal(r?.body, undefined, "nothing to change: the original bytes go");
  });

  it("joins the first matching experiment by upstream, model, every tag and every metadata value", () => {
    const loose = experiment("loose", { match: { tags: ["t1"] }, createdAt: 5 });
    const strict = experiment("strict", {
      match: { upstream: "default", model: "gpt-4o-mini", tags: ["t1", "t2"], metadata: { tier: "pro" } },
      createdAt: 2,
    });
    const live = lookup([loose, strict]);
    const fits = input({ headers: { tags: ["t1", "t2"], metadata: { tier: "pro" } } });
    assert.equal(routeChat(fits, live)?.experiment.name, "strict", "the older one comes first");
    const wrongTier = input({ headers: { tags: ["t1", "t2"], metadata: { tier: "free" } } });
    assert.equal(routeChat(wrongTier, live)?.experiment.name, "loose");
    const bodyMeta = input({
      body: { model: "gpt-4o-mini", messages: [], metadata: { tier: "pro" } },
      headers: { tags: ["t1", "t2"] },
    });
    assert.equal(routeChat(bodyMeta, live)?.experiment.name, "strict", "the body's metadata counts too");
    assert.equal(routeChat(input({ upstream: "alt", headers: { tags: ["t2"] } }), live), undefined);
  });

  it("does not apply a draft or stopped experiment by its filter, but one named gets the control", () => {
    for (const status of ["draft", "stopped"] as const) {
      const e = experiment("titles", { status, match: {} });
      assert.equal(routeChat(input(), lookup([e])), undefined, status);
      const user = userFor(experiment("titles"), "candidate");
      const r = routeChat(input({ headers: { experiment: "titles", userId: user } }), lookup([e]));
      assert.equal(r?.variant, "control", status);
      assert.equal(r?.assignmentUnit, null);
    }
  });

  it("splits a running experiment by the unit: the same user always gets the same variant", () => {
    const e = experiment("titles");
    const seen = new Map<string, Set<string>>();
    for (let round = 0; round < 3; round++)
      for (let i = 0; i < 200; i++) {
        const r = routeChat(input({ headers: { experiment: "titles", userId: `user-${i}` } }), lookup([e]));
        assert.equal(r?.variant, assignVariant(e, `user-${i}`));
        const s = seen.get(`user-${i}`) ?? new Set();
        s.add(r?.variant ?? "");
        seen.set(`user-${i}`, s);
      }
    assert.ok([...seen.values()].every((s) => s.size === 1));
    const counts = [...seen.values()].map((s) => [...s][0]);
    assert.ok(counts.includes("control") && counts.includes("candidate"), "both variants get users");
  });

  it("gives the control, unassigned, to a request without the unit's id; the request unit uses the call id", () => {
    const e = experiment("titles");
    const r = routeChat(input({ headers: { experiment: "titles" } }), lookup([e]));
    assert.equal(r?.variant, "control");
    assert.equal(r?.assignmentUnit, null);
    const byRequest = experiment("req", { unit: "request" });
    const r2 = routeChat(input({ headers: { experiment: "req" }, callId: "call_xyz" }), lookup([byRequest]));
    assert.equal(r2?.assignmentUnit, "request:call_xyz");
    assert.equal(r2?.variant, assignVariant(byRequest, "call_xyz"));
    const bySession = experiment("ses", { unit: "sessionId" });
    const r3 = routeChat(input({ headers: { experiment: "ses", sessionId: "s1" } }), lookup([bySession]));
    assert.equal(r3?.assignmentUnit, "sessionId:s1");
  });

  it("sends everything to the promoted variant", () => {
    const e = experiment("titles", {
      status: "promoted",
      promoted: { variant: "candidate", approvedBy: "ana", at: 2 },
      match: {},
    });
    for (let i = 0; i < 50; i++)
      assert.equal(routeChat(input({ headers: { userId: `u${i}` } }), lookup([e]))?.variant, "candidate");
    assert.equal(routeChat(input(), lookup([e]))?.variant, "candidate", "even without a unit");
  });

  it("answers an unknown experiment with a 404 naming it and where to list them", () => {
    assert.throws(
      () => routeChat(input({ body: { model: "exp:nope" } }), lookup([])),
      (err: unknown) =>
        err instanceof HttpError &&
        err.status === 404 &&
        err.code === "unknown_experiment" &&
        /nope/.test(err.message) &&
        /GET \/api\/experiments/.test(err.message),
    );
    assert.throws(
      () => routeChat(input({ headers: { experiment: "nope" } }), lookup([])),
      httpError(404, /nope/),
    );
  });

  it("refuses an alias and a header naming different experiments", () => {
    const live = lookup([experiment("a"), experiment("b")]);
    assert.throws(
      () => routeChat(input({ body: { model: "exp:a" }, headers: { experiment: "b" } }), live),
      httpError(400, /names experiment a.*names b/),
    );
  });

  it("records a variant the service applied itself, and only resolves the alias for it", () => {
    const e = experiment("titles");
    const body = { model: "exp:titles", messages: [{ role: "system", content: "mine" }], temperature: 0.3 };
    const r = routeChat(input({ body, headers: { variant: "candidate", userId: "u1" } }), lookup([e]));
    assert.equal(r?.variant, "candidate");
    assert.equal(r?.assignmentUnit, "userId:u1");
    assert.deepEqual(r?.body, { ...body, model: "gpt-new" }, "its messages and params are its own");
    const plain = routeChat(input({ headers: { experiment: "titles", variant: "candidate" } }), lookup([e]));
    assert.equal(plain?.body, undefined, "a real model: the request goes as sent");
    assert.throws(
      () => routeChat(input({ headers: { experiment: "titles", variant: "zzz" } }), lookup([e])),
      (err: unknown) =>
        err instanceof HttpError &&
        err.status === 400 &&
        err.field === "x-intersebd-variant" &&
        /zzz/.test(err.message),
    );
  });

  it("needs a model for an alias: the variant's or the control's", () => {
    const noModels = experiment("titles", {
      variants: [
        { name: "a", weight: 1 },
        { name: "b", weight: 0, systemPrompt: "x" },
      ],
    });
    assert.throws(
      () => routeChat(input({ body: { model: "exp:titles", messages: [] } }), lookup([noModels])),
      (err: unknown) => err instanceof HttpError && err.status === 400 && /control a/.test(err.message),
    );
    const controlModel = experiment("t2", {
      variants: [
        { name: "a", weight: 0, model: "base" },
        { name: "b", weight: 1, systemPrompt: "x" },
      ],
    });
    const r = routeChat(
      input({ body: { model: "exp:t2", messages: [] }, headers: { userId: "u" } }),
      lookup([controlModel]),
    );
    assert.equal(r?.variant, "b");
    assert.equal(r?.body?.model, "base", "the control's model for a variant that sets none");
  });

  it("sends to the variant's upstream, and refuses one that is not configured", () => {
    const e = experiment("up", {
      variants: [
        { name: "a", weight: 1, upstream: "alt" },
        { name: "b", weight: 0, upstream: "gone" },
      ],
    });
    const r = routeChat(input({ headers: { experiment: "up" } }), lookup([e]));
    assert.equal(r?.upstream, "alt");
    assert.throws(
      () => routeChat(input({ headers: { experiment: "up", variant: "b" } }), lookup([e])),
      (err: unknown) => err instanceof HttpError && err.status === 400 && /gone/.test(err.message),
    );
  });

  it("records a shadow call under the names it carries and never rewrites or reassigns it", () => {
    const e = experiment("titles", { status: "shadow", match: {} });
    const body = { model: "gpt-new", messages: [] };
    const r = routeChat(
      input({
        body,
        headers: { experiment: "titles", variant: "candidate", shadowOf: "call_orig", userId: "u1" },
      }),
      lookup([e]),
    );
    assert.equal(r?.variant, "candidate");
    assert.equal(r?.shadowOf, "call_orig");
    assert.equal(r?.body, undefined);
    assert.equal(r?.promptVersion, "v2");
  });
});
