/**
 * `variant()` without a server: a `fetch` double answers `GET /api/experiments/{name}` with definitions the test
 * controls, so every rule (status, unit, cache, refresh, failures, `enabled`) is judged on its own. The real
 * server and proxy are in test/e2e/sdk-variant.test.ts.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { describe, it } from "node:test";
import { Intersebd } from "./client.ts";
import type { IntersebdError } from "./errors.ts";
import { allocate, assignVariant, type BucketRange, reallocate } from "./experiments/index.ts";
import type { ExperimentDefinition } from "./variant.ts";

const table = JSON.parse(
  fs.readFileSync(path.join(import.meta.dirname, "experiments", "assignment-cases.json"), "utf8"),
) as {
  allocations: Array<{
    experiment: string;
    salt: string;
    allocation: BucketRange[];
    cases: Array<{ unit: string; variant: string | null }>;
  }>;
};

function definition(over: Partial<ExperimentDefinition> = {}): ExperimentDefinition {
  return {
    name: "titles",
    version: 1,
    status: "running",
    unit: "userId",
    salt: "titles",
    control: "control",
    variants: [
      { name: "control", weight: 50 },
      {
        name: "candidate",
        weight: 50,
        model: "gpt-4o",
        systemPrompt: "Be brief.",
        params: { temperature: 0 },
      },
    ],
    allocation: allocate([
      { variant: "control", weight: 50 },
      { variant: "candidate", weight: 50 },
    ]),
    ...over,
  };
}

/** A server double: answers the current definition (or an error), records each request. */
function fakeServer(initial: ExperimentDefinition | number | "down") {
  const state = { answer: initial as ExperimentDefinition | number | "down" };
  const seen: Array<{ url: string; headers: Record<string, string> }> = [];
  const fetch: typeof globalThis.fetch = async (input, init) => {
    seen.push({ url: String(input), headers: Object.fromEntries(new Headers(init?.headers).entries()) });
    const a = state.answer;
    if (a === "down") throw new TypeError("fetch failed");
    if (typeof a === "number")
      return new Response(JSON.stringify({ error: { message: "no" } }), { status: a });
    return new Response(JSON.stringify({ ...a, changes: [] }), {
      headers: { "content-type": "application/json" },
    });
  };
  return { state, seen, fetch };
}

function sdkWith(
  server: ReturnType<typeof fakeServer>,
  extra: ConstructorParameters<typeof Intersebd>[0] = {},
) {
  const errors: IntersebdError[] = [];
  const sdk = new Intersebd({
    baseURL: "http://intersebd.test/",
    apiKey: "k-1",
    enabled: true,
    fetch: server.fetch,
    onError: (e) => errors.push(e),
    ...extra,
  });
  return { sdk, errors };
}

describe("variant()", () => {
  it("answers the control at once before the definition is known, fetches it, then assigns like the kernel", async () => {
    const server = fakeServer(definition());
    const { sdk, errors } = sdkWith(server);
    const first = sdk.variant("titles", { userId: "u1" });
    assert.deepEqual(first, {
      experiment: "titles",
      variant: null,
      control: true,
      overrides: {},
      headers: { "x-intersebd-experiment": "titles", "x-intersebd-user-id": "u1" },
      assignmentUnit: null,
    });
    assert.equal(await sdk.experiments.ready("titles"), true);
    assert.equal(server.seen.length, 1, "one fetch, however many calls");
    assert.equal(server.seen[0]?.url, "http://intersebd.test/api/experiments/titles");
    assert.equal(server.seen[0]?.headers["x-intersebd-key"], "k-1");

    const cases = table.allocations.find((a) => a.experiment === "titles" && a.salt === "titles");
    assert.ok(cases);
    for (const c of cases.cases) {
      const a = sdk.variant("titles", { userId: c.unit });
      if (c.unit === "") {
        // No id: the control, with no unit recorded (the proxy does the same for a request without one).
        assert.equal(a.variant, "control");
        assert.equal(a.assignmentUnit, null);
        continue;
      }
      assert.equal(a.variant, c.variant, c.unit);
      assert.equal(a.control, c.variant === "control");
      assert.equal(a.assignmentUnit, `userId:${c.unit}`);
      assert.equal(a.headers["x-intersebd-variant"], c.variant);
      assert.equal(a.headers["x-intersebd-user-id"], c.unit);
      assert.deepEqual(
        a.overrides,
        c.variant === "candidate"
          ? { model: "gpt-4o", systemPrompt: "Be brief.", params: { temperature: 0 } }
          : {},
      );
    }
    assert.equal(server.seen.length, 1, "variant() never fetches once the definition is known");
    assert.deepEqual(errors, []);
    await sdk.shutdown();
  });

  it("follows the status: draft, shadow and stopped give the control, promoted the promoted variant", async () => {
    const server = fakeServer(definition({ status: "draft" }));
    const { sdk } = sdkWith(server);
    const users = Array.from({ length: 50 }, (_, i) => `user-${i}`);
    for (const status of ["draft", "shadow", "stopped"] as const) {
      server.state.answer = definition({ status });
      await sdk.experiments.refresh("titles");
      for (const u of users) {
        const a = sdk.variant("titles", { userId: u });
        assert.equal(a.variant, "control", `${status} ${u}`);
        assert.equal(a.assignmentUnit, null);
      }
    }
    server.state.answer = definition({ status: "promoted", promoted: { variant: "candidate" } });
    await sdk.experiments.refresh("titles");
    for (const u of users) {
      const a = sdk.variant("titles", { userId: u });
      assert.equal(a.variant, "candidate");
      assert.equal(a.control, false);
      assert.equal(a.overrides.model, "gpt-4o");
    }
    // Running: both variants are drawn among 50 users (a 50/50 split missing one would be a 1 in 2^49 event).
    server.state.answer = definition();
    await sdk.experiments.refresh("titles");
    const drawn = new Set(users.map((u) => sdk.variant("titles", { userId: u }).variant));
    assert.deepEqual([...drawn].sort(), ["candidate", "control"]);
    await sdk.shutdown();
  });

  it("takes the id the experiment's unit names, `unit` as a fallback, and the control without either", async () => {
    const server = fakeServer(definition({ unit: "sessionId" }));
    const { sdk } = sdkWith(server);
    await sdk.experiments.ready("titles");
    const e = definition();
    const bySession = sdk.variant("titles", { userId: "u-ignored", sessionId: "s-9" });
    assert.equal(bySession.variant, assignVariant(e, "s-9"));
    assert.equal(bySession.assignmentUnit, "sessionId:s-9");
    const byUnit = sdk.variant("titles", { unit: "s-9" });
    assert.equal(byUnit.variant, bySession.variant);
    assert.equal(byUnit.headers["x-intersebd-session-id"], "s-9", "the proxy reads the unit from its header");
    const none = sdk.variant("titles", { userId: "u-1" });
    assert.equal(none.variant, "control");
    assert.equal(none.assignmentUnit, null);
    await sdk.shutdown();
  });

  it("sees changed weights after a refresh, and by itself on the refresh timer", async () => {
    const server = fakeServer(definition());
    const { sdk } = sdkWith(server, { experimentsRefreshMs: 20 });
    await sdk.experiments.ready("titles");
    const users = Array.from({ length: 400 }, (_, i) => `w${i}`);
    const before = users.map((u) => sdk.variant("titles", { userId: u }).variant);
    const old = definition().allocation;
    const moved = reallocate(old, [
      { variant: "control", weight: 10 },
      { variant: "candidate", weight: 90 },
    ]);
    server.state.answer = definition({ version: 2, allocation: moved });
    // The timer refreshes without anyone asking: wait (without a time assertion) until version 2 is seen.
    while (sdk.experiments.definition("titles")?.version !== 2) await new Promise((r) => setTimeout(r, 5));
    const after = users.map((u) => sdk.variant("titles", { userId: u }).variant);
    const expected = users.map((u) =>
      assignVariant({ name: "titles", salt: "titles", allocation: moved }, u),
    );
    assert.deepEqual(after, expected);
    // Sticky: only control units moved, and only to the candidate.
    users.forEach((_, i) => {
      if (before[i] === "candidate") assert.equal(after[i], "candidate");
    });
    assert.ok(after.filter((v) => v === "candidate").length > before.filter((v) => v === "candidate").length);
    await sdk.shutdown();
  });

  it("never throws when the server is down: the control before any definition, the cached one after", async () => {
    const server = fakeServer("down");
    const { sdk, errors } = sdkWith(server);
    assert.equal(sdk.variant("titles", { userId: "u1" }).variant, null);
    assert.equal(await sdk.experiments.ready("titles"), false);
    assert.equal(sdk.variant("titles", { userId: "u1" }).variant, null);
    assert.equal(errors.length, 1);
    assert.equal(errors[0]?.kind, "experiment");
    assert.equal(errors[0]?.code, "network_error");

    server.state.answer = definition();
    assert.equal(await sdk.experiments.refresh(), true);
    const known = sdk.variant("titles", { userId: "u1" }).variant;
    assert.ok(known === "control" || known === "candidate");
    for (const failure of ["down", 500, 404] as const) {
      server.state.answer = failure;
      assert.equal(await sdk.experiments.refresh("titles"), true, "the last definition is kept");
      assert.equal(sdk.variant("titles", { userId: "u1" }).variant, known);
    }
    // Reported once per failing spell, not at every refresh.
    assert.equal(errors.length, 2);
    server.state.answer = { name: "titles" } as unknown as ExperimentDefinition;
    await sdk.experiments.refresh("titles");
    assert.equal(sdk.variant("titles", { userId: "u1" }).variant, known, "a malformed answer is not taken");
    await sdk.shutdown();
  });

  it("with enabled = false answers the control at once, with no headers and no fetch", async () => {
    const server = fakeServer(definition());
    const { sdk } = sdkWith(server, { enabled: false });
    const a = sdk.variant("titles", { userId: "u1" });
    assert.deepEqual(a, {
      experiment: "titles",
      variant: null,
      control: true,
      overrides: {},
      headers: {},
      assignmentUnit: null,
    });
    assert.equal(await sdk.experiments.ready("titles", { timeoutMs: 50 }), false);
    assert.equal(server.seen.length, 0);
    // Switched on later: the next call starts the fetch.
    sdk.enabled = true;
    sdk.variant("titles", { userId: "u1" });
    assert.equal(await sdk.experiments.ready("titles"), true);
    assert.equal(server.seen.length, 1);
    await sdk.shutdown();
  });

  it("answers bad input with the control instead of throwing", () => {
    const { sdk } = sdkWith(fakeServer(definition()));
    // biome-ignore lint/suspicious/noExplicitAny: what a JavaScript caller may pass
    const loose = sdk as any;
    assert.equal(loose.variant(undefined).variant, null);
    assert.equal(loose.variant("", { userId: "u1" }).variant, null);
    assert.equal(loose.variant("titles", null).control, true);
  });
});

describe("wrapOpenAI with an assignment", () => {
  it("records the call under the assignment's experiment, variant and unit", async () => {
    const server = fakeServer(definition());
    const calls: Array<Record<string, unknown>> = [];
    const sdk = new Intersebd({
      baseURL: "http://intersebd.test",
      enabled: true,
      onError: () => {},
      fetch: async (input, init) => {
        if (String(input).endsWith("/api/calls")) {
          calls.push(...(JSON.parse(String(init?.body)) as Array<Record<string, unknown>>));
          return new Response("{}", { status: 202 });
        }
        return server.fetch(input, init);
      },
    });
    await sdk.experiments.ready("titles");
    const client = {
      chat: {
        completions: { create: async (_body: unknown) => ({ id: "chatcmpl-1", object: "chat.completion" }) },
      },
    };
    const assignment = sdk.variant("titles", { userId: "u7" });
    const wrapped = sdk.wrapOpenAI(client, { assignment, tags: ["t"] });
    await wrapped.chat.completions.create({ model: "m", messages: [] });
    // Before the definition is known the variant is null: the call is recorded without an experiment.
    const unknown = new Intersebd({ enabled: true, fetch: server.fetch, onError: () => {} }).variant(
      "titles",
      {
        userId: "u8",
      },
    );
    sdk.wrapOpenAI(client, { assignment: unknown });
    await wrapped.chat.completions.create({ model: "m", messages: [] });
    await sdk.flush();
    assert.equal(calls.length, 2);
    assert.equal(calls[0]?.experiment, "titles");
    assert.equal(calls[0]?.variant, assignment.variant);
    assert.equal(calls[0]?.assignmentUnit, "userId:u7");
    assert.equal(calls[0]?.userId, "u7", "the unit's user id fills the call's");
    assert.equal(calls[1]?.experiment, undefined);
    assert.equal(calls[1]?.variant, undefined);
    await sdk.shutdown();
  });
});
