/**
 * Experiments on the request path, through the socket with the official `openai` client and the fake upstream:
 * how requests join, which variant answers them, what the upstream gets and what is stored; that a request no
 * experiment applies to goes byte for byte; that a change through the API reroutes at once; that a failing reload
 * keeps routing; and that two instances on one database route every user alike.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { assignVariant } from "intersebd/experiments";
import OpenAI from "openai";
import {
  DIALECTS,
  eventually,
  type FakeUpstream,
  postgresAvailable,
  startFakeUpstream,
  startTestServer,
  type TestServer,
  withStore,
} from "../testing/index.ts";
import { createLogger } from "../util/log.ts";
import { createExperiment } from "./book.ts";
import { LiveExperiments } from "./live.ts";
import type { Experiment } from "./schemas.ts";

interface StoredCall {
  id: string;
  experiment: string | null;
  variant: string | null;
  assignmentUnit: string | null;
  shadowOf: string | null;
  tags: string[];
  metadata: Record<string, unknown>;
  request?: Record<string, unknown> | null;
}

const titles = {
  name: "titles",
  unit: "userId",
  status: "running",
  variants: [
    { name: "control", weight: 50, model: "gpt-base" },
    {
      name: "candidate",
      weight: 50,
      model: "gpt-new",
      systemPrompt: "be brief [[GOOD]]",
      promptVersion: "v2",
    },
  ],
  by: "ana",
};

const lastBody = (fake: FakeUpstream) => JSON.parse(fake.requests.at(-1)?.body ?? "null");

for (const dialect of DIALECTS) {
  describe(`experiments on the request path (${dialect})`, () => {
    let skip = false;
    let fake: FakeUpstream;
    let alt: FakeUpstream;
    let s: TestServer;
    let client: OpenAI;
    before(async () => {
      if (dialect === "postgres" && !(await postgresAvailable())) {
        skip = true;
        return;
      }
      fake = await startFakeUpstream();
      alt = await startFakeUpstream();
      s = await startTestServer(dialect, {
        upstream: fake.url,
        // Only a change through the API refreshes this instance's view: what these tests see is its doing.
        env: { INTERSEBD_UPSTREAMS: `alt=${alt.url}`, INTERSEBD_EXPERIMENTS_REFRESH_MS: "3600000" },
        inProcess: true,
      });
      client = new OpenAI({ baseURL: `${s.url}/v1`, apiKey: "sk-client", maxRetries: 0 });
    });
    after(async () => {
      if (skip) return;
      await s.stop();
      await fake.close();
      await alt.close();
    });
    const guard = (t: { skip(m: string): void }) => {
      if (skip) t.skip("PostgreSQL unreachable: this test did NOT run on postgres");
      return !skip;
    };
    const storedOf = async (id: string) =>
      eventually(async () => {
        const r = await s.api<StoredCall>(`/api/calls/${id}`);
        return r.status === 200 ? r.body : undefined;
      });
    const chat = async (
      model: string,
      headers: Record<string, string>,
      extra: Record<string, unknown> = {},
    ) => {
      const { data, response } = await client.chat.completions
        .create({ model, messages: [{ role: "user", content: "name this" }], ...extra }, { headers })
        .withResponse();
      return { data, callId: response.headers.get("x-intersebd-call-id") as string };
    };
    const raw = (body: string, headers: Record<string, string> = {}) =>
      fetch(`${s.url}/v1/chat/completions`, {
        method: "POST",
        headers: { "content-type": "application/json", authorization: "Bearer sk-client", ...headers },
        body,
      });

    it("forwards a request byte for byte without experiments, and with one that does not apply", async (t) => {
      if (!guard(t)) return;
      const body =
        '{ "model":"gpt-4o-mini",  "messages":[{"role":"user","content":"keep\\u00e9 my bytes"}] ,"x":1}';
      assert.equal((await raw(body)).status, 200);
      assert.equal(fake.requests.at(-1)?.body, body);
      const named = await raw(body, { "x-intersebd-experiment": "not-yet" });
      assert.equal(named.status, 404, "a header naming an experiment when none exists");
      assert.equal(((await named.json()) as { error: { code: string } }).error.code, "unknown_experiment");
      const created = await s.api("/api/experiments", {
        body: { ...titles, name: "elsewhere", match: { tags: ["nobody-sends-this"] } },
      });
      assert.equal(created.status, 201);
      const res = await raw(body);
      assert.equal(res.status, 200);
      assert.equal(fake.requests.at(-1)?.body, body, "read whole, routed nowhere, sent as it came");
      assert.equal(fake.requests.at(-1)?.headers["content-length"], String(Buffer.byteLength(body)));
    });

    it("splits a running experiment 50/50 by user: each user keeps a variant, and its overrides reach the upstream", async (t) => {
      if (!guard(t)) return;
      assert.equal((await s.api("/api/experiments", { body: titles })).status, 201);
      const e = (await s.api<Experiment>("/api/experiments/titles")).body;
      const got = new Map<string, string>();
      for (let round = 0; round < 2; round++)
        for (let i = 0; i < 12; i++) {
          const user = `user-${i}`;
          const { data, callId } = await chat("exp:titles", { "x-intersebd-user-id": user });
          const sent = lastBody(fake);
          const expected = assignVariant(e, user);
          assert.equal(sent.model, expected === "candidate" ? "gpt-new" : "gpt-base", user);
          if (expected === "candidate") {
            assert.deepEqual(sent.messages[0], { role: "system", content: "be brief [[GOOD]]" });
            assert.match(
              data.choices[0]?.message.content ?? "",
              /\[\[GOOD]]/,
              "the client reads the variant's answer",
            );
          } else assert.equal(sent.messages.length, 1);
          const before = got.get(user);
          if (before) assert.equal(before, expected, "the same user gets the same variant");
          got.set(user, expected ?? "");
          if (round === 1 && i < 2) {
            const stored = await storedOf(callId);
            assert.equal(stored.experiment, "titles");
            assert.equal(stored.variant, expected);
            assert.equal(stored.assignmentUnit, `userId:${user}`);
            assert.ok(stored.tags.includes("exp:titles") && stored.tags.includes(`exp:titles:${expected}`));
            // The body the router parsed and rewrote is the record's own (not parsed again): all of it.
            assert.deepEqual(stored.request, sent, "the stored request is what the upstream got");
            if (expected === "candidate") assert.equal(stored.metadata.promptVersion, "v2");
            else assert.equal(stored.metadata.promptVersion, undefined);
          }
        }
      assert.deepEqual(new Set(got.values()), new Set(["control", "candidate"]), "both variants get users");
      const listed = await eventually(async () => {
        const r = await s.api<{ data: StoredCall[] }>(
          "/api/calls?experiment=titles&variant=candidate&limit=1000",
        );
        return r.body.data.length === 2 * [...got.values()].filter((v) => v === "candidate").length && r.body;
      });
      assert.ok(listed.data.every((c) => c.variant === "candidate" && c.experiment === "titles"));
      const tagged = await s.api<{ data: StoredCall[] }>("/api/calls?tag=exp:titles:control&limit=1000");
      assert.ok(tagged.body.data.length > 0 && tagged.body.data.every((c) => c.variant === "control"));
    });

    it("streams a routed request: the rewritten body has its own length", async (t) => {
      if (!guard(t)) return;
      const e = (await s.api<Experiment>("/api/experiments/titles")).body;
      let user = "s0";
      for (let i = 0; assignVariant(e, user) !== "candidate"; i++) user = `s${i}`;
      const stream = await client.chat.completions.create(
        { model: "exp:titles", messages: [{ role: "user", content: "stream me" }], stream: true },
        { headers: { "x-intersebd-user-id": user } },
      );
      let text = "";
      for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? "";
      assert.match(text, /\[\[GOOD]]/);
      const seen = fake.requests.at(-1);
      assert.equal(seen?.headers["content-length"], String(Buffer.byteLength(seen?.body ?? "")));
      assert.equal(JSON.parse(seen?.body ?? "{}").stream, true, "the client's stream flag is kept");
    });

    it("joins by header with a real model, and by a filter on tags", async (t) => {
      if (!guard(t)) return;
      const { callId } = await chat("gpt-4o-mini", { "x-intersebd-experiment": "titles" });
      assert.equal(lastBody(fake).model, "gpt-base", "no user id: the control, whose model applies");
      const stored = await storedOf(callId);
      assert.equal(stored.variant, "control");
      assert.equal(stored.assignmentUnit, null);

      const filtered = await s.api("/api/experiments", {
        body: {
          name: "blue",
          unit: "request",
          status: "running",
          match: { tags: ["blue"] },
          variants: [
            { name: "a", weight: 0 },
            { name: "b", weight: 1, params: { temperature: 0.1 }, upstream: "alt" },
          ],
          by: "ana",
        },
      });
      assert.equal(filtered.status, 201);
      const r = await chat("gpt-4o-mini", { "x-intersebd-tags": "blue,other" });
      assert.equal(lastBody(alt).temperature, 0.1, "the variant's params, at the variant's upstream");
      const s2 = await storedOf(r.callId);
      assert.equal(s2.experiment, "blue");
      assert.equal(s2.assignmentUnit, `request:${r.callId}`);
      const before = alt.requests.length;
      await chat("gpt-4o-mini", { "x-intersebd-tags": "other" });
      assert.equal(alt.requests.length, before, "without the tag: not in the experiment");
    });

    it("answers an unknown experiment with a 404 and a bad variant header with a 400, in JSON", async (t) => {
      if (!guard(t)) return;
      const unknown = await raw(JSON.stringify({ model: "exp:nope", messages: [] }));
      assert.equal(unknown.status, 404);
      const body = (await unknown.json()) as { error: { code: string; message: string } };
      assert.equal(body.error.code, "unknown_experiment");
      assert.match(body.error.message, /nope.*GET \/api\/experiments/);
      await assert.rejects(
        chat("exp:titles", { "x-intersebd-variant": "nonesuch" }),
        (err: unknown) => err instanceof OpenAI.BadRequestError && /x-intersebd-variant/.test(err.message),
      );
      const badUpstream = await s.api("/api/experiments", {
        body: {
          ...titles,
          name: "bad-up",
          variants: [{ name: "a", weight: 1, upstream: "gone" }, { name: "b" }],
        },
      });
      assert.equal(badUpstream.status, 400);
      assert.match(JSON.stringify(badUpstream.body), /gone/);
    });

    it("records a variant the service applied (x-intersebd-variant) without rewriting its request", async (t) => {
      if (!guard(t)) return;
      const { callId } = await chat(
        "my-model",
        {
          "x-intersebd-experiment": "titles",
          "x-intersebd-variant": "candidate",
          "x-intersebd-user-id": "u-sdk",
        },
        { temperature: 0.7 },
      );
      const sent = lastBody(fake);
      assert.equal(sent.model, "my-model");
      assert.equal(sent.messages.length, 1);
      const stored = await storedOf(callId);
      assert.equal(stored.variant, "candidate");
      assert.equal(stored.assignmentUnit, "userId:u-sdk");
      // Routed without parsing its body (no alias to resolve); the record still has all of it.
      assert.deepEqual(stored.request, sent);
    });

    it("reroutes at once after a change through the API: promoted to the winner, rolled back to the control", async (t) => {
      if (!guard(t)) return;
      const promoted = await s.api("/api/experiments/titles/promote", {
        body: { variant: "candidate", approvedBy: "ana" },
      });
      assert.equal(promoted.status, 200);
      for (let i = 0; i < 8; i++) {
        await chat("exp:titles", { "x-intersebd-user-id": `user-${i}` });
        assert.equal(lastBody(fake).model, "gpt-new", `user-${i} goes to the promoted variant`);
      }
      assert.equal((await s.api("/api/experiments/titles/rollback", { body: { by: "ana" } })).status, 200);
      for (let i = 0; i < 8; i++) {
        const { callId } = await chat("exp:titles", { "x-intersebd-user-id": `user-${i}` });
        assert.equal(lastBody(fake).model, "gpt-base", "stopped: the control");
        if (i === 0) assert.equal((await storedOf(callId)).variant, "control");
      }
      await s.api("/api/experiments/titles", { body: { status: "draft", by: "ana" } });
      await chat("exp:titles", { "x-intersebd-user-id": "user-1" });
      assert.equal(lastBody(fake).model, "gpt-base", "draft: the control");
    });

    it("hands a shadow experiment's call to the shadow runner with the client's key, in memory", async (t) => {
      if (!guard(t)) return;
      const created = await s.api("/api/experiments", {
        body: {
          name: "sh",
          status: "shadow",
          match: { tags: ["sh"] },
          variants: [
            { name: "control", weight: 1 },
            { name: "cand", weight: 0, model: "shadow-candidate" },
          ],
          shadow: { sample: 1 },
          by: "ana",
        },
      });
      assert.equal(created.status, 201);
      const shadowClient = new OpenAI({ baseURL: `${s.url}/v1`, apiKey: "sk-shadow-owner", maxRetries: 0 });
      const { response } = await shadowClient.chat.completions
        .create(
          { model: "gpt-4o-mini", messages: [{ role: "user", content: "copy me" }] },
          {
            headers: { "x-intersebd-tags": "sh" },
          },
        )
        .withResponse();
      const original = response.headers.get("x-intersebd-call-id") as string;
      assert.equal((await storedOf(original)).variant, "control", "the client's answer is the control's");
      const copy = await eventually(() =>
        fake.requests.find((r) => JSON.parse(r.body).model === "shadow-candidate"),
      );
      assert.equal(copy.headers.authorization, "Bearer sk-shadow-owner");
      const shadows = await eventually(async () => {
        const r = await s.api<{ data: StoredCall[] }>("/api/calls?experiment=sh&variant=cand");
        return r.body.data.length > 0 && r.body.data;
      });
      assert.equal(shadows[0]?.shadowOf, original);
      const stored = JSON.stringify(await s.api(`/api/calls/${original}`));
      assert.ok(!stored.includes("sk-shadow-owner"), "the key is never stored");
      await s.api("/api/experiments/sh", { body: { status: "stopped", by: "ana" } });
    });

    it("stores a call an SDK sends with its experiment and variant (POST /api/calls), tagged alike", async (t) => {
      if (!guard(t)) return;
      const posted = await s.api<{ id: string }>("/api/calls", {
        body: {
          request: { model: "gpt-new", messages: [] },
          experiment: "titles",
          variant: "candidate",
          assignmentUnit: "userId:u-wrapped",
          source: "sdk",
        },
      });
      assert.equal(posted.status, 201);
      const stored = await storedOf(posted.body.id);
      assert.equal(stored.experiment, "titles");
      assert.equal(stored.variant, "candidate");
      assert.equal(stored.assignmentUnit, "userId:u-wrapped");
      assert.equal(stored.shadowOf, null);
      assert.ok(stored.tags.includes("exp:titles:candidate"));
      const bad = await s.api("/api/calls", { body: { request: {}, experiment: 5 } });
      assert.equal(bad.status, 400);
      assert.match(JSON.stringify(bad.body), /experiment/);
    });

    it("records a shadow call under its experiment, variant and original, and does not route it", async (t) => {
      if (!guard(t)) return;
      const { callId } = await chat("shadow-model", {
        "x-intersebd-experiment": "titles",
        "x-intersebd-variant": "candidate",
        "x-intersebd-shadow-of": "call_original",
      });
      assert.equal(lastBody(fake).model, "shadow-model");
      const stored = await storedOf(callId);
      assert.equal(stored.shadowOf, "call_original");
      assert.equal(stored.variant, "candidate");
    });
  });
}

describe("the live view", () => {
  it("keeps routing by the last view when a reload fails, and logs it once", async () => {
    const e = { name: "kept", status: "running", match: {}, createdAt: 1 } as unknown as Experiment;
    let fail = false;
    const warnings: string[] = [];
    const log = { ...createLogger("silent"), warn: (m: string) => void warnings.push(m) };
    const live = new LiveExperiments({} as never, {
      refreshMs: 3_600_000,
      upstreams: ["default"],
      log,
      load: async () => {
        if (fail) throw new Error("store is away");
        return [e];
      },
    });
    await live.start();
    fail = true;
    await live.refresh();
    await live.refresh();
    live.stop();
    assert.equal(live.byName("kept"), e);
    assert.equal(live.matchable()[0], e);
    assert.equal(warnings.length, 1);
    assert.match(warnings[0] ?? "", /store is away/);
  });

  for (const dialect of DIALECTS)
    it(`leaves out one unreadable stored definition and keeps seeing the others (${dialect})`, async (t) => {
      if (dialect === "postgres" && !(await postgresAvailable())) return t.skip("PostgreSQL unreachable");
      await withStore(dialect, async (store) => {
        const errors: string[] = [];
        const log = { ...createLogger("silent"), error: (m: string) => void errors.push(m) };
        const live = new LiveExperiments(store, { refreshMs: 3_600_000, upstreams: ["default"], log });
        const variants = [
          { name: "a", weight: 1 },
          { name: "b", weight: 1 },
        ];
        await createExperiment(store, {
          name: "broken",
          unit: "userId",
          status: "running",
          variants,
          by: "t",
        });
        await store.db.updateTable("experiments").set({ definition: "{not json" }).execute();
        await live.start();
        await createExperiment(store, { name: "fine", unit: "userId", status: "running", variants, by: "t" });
        await live.refresh();
        await live.refresh();
        live.stop();
        assert.equal(live.byName("fine")?.name, "fine", "a change made after the broken row is seen");
        assert.equal(live.byName("broken"), undefined);
        assert.equal(errors.length, 1, errors.join("\n"));
        assert.match(errors[0] ?? "", /broken is left out of routing/);
      });
    });

  it("sees a store failure through a running server and keeps routing", async (t) => {
    const fake = await startFakeUpstream();
    const s = await startTestServer("sqlite", {
      upstream: fake.url,
      env: { INTERSEBD_EXPERIMENTS_REFRESH_MS: "20" },
      inProcess: true,
    });
    t.after(async () => {
      await s.stop();
      await fake.close();
    });
    assert.equal((await s.api("/api/experiments", { body: titles })).status, 201);
    // The reload reads the experiments table: without it, every reload fails.
    await s.ctx.store.db.schema.alterTable("experiments").renameTo("experiments_away").execute();
    await new Promise((r) => setTimeout(r, 100));
    const res = await fetch(`${s.url}/v1/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json", "x-intersebd-user-id": "u1" },
      body: JSON.stringify({ model: "exp:titles", messages: [{ role: "user", content: "hi" }] }),
    });
    assert.equal(res.status, 200);
    assert.match(lastBody(fake).model, /^gpt-(base|new)$/);
    await s.ctx.store.db.schema.alterTable("experiments_away").renameTo("experiments").execute();
  });
});

describe("two instances on one PostgreSQL database", () => {
  it("route the same users to the same variants, and see each other's changes within the refresh", async (t) => {
    if (!DIALECTS.includes("postgres") || !(await postgresAvailable())) {
      t.skip("PostgreSQL unreachable: this test did NOT run");
      return;
    }
    const fake = await startFakeUpstream();
    const env = { INTERSEBD_EXPERIMENTS_REFRESH_MS: "50" };
    const one = await startTestServer("postgres", { upstream: fake.url, env, inProcess: true });
    const two = await startTestServer("postgres", {
      upstream: fake.url,
      env,
      db: one.config.db.kind === "postgres" ? one.config.db.url : undefined,
      dataDir: `${one.config.dataDir}-two`,
      inProcess: true,
    });
    t.after(async () => {
      await two.close();
      await one.stop();
      await fake.close();
    });
    assert.equal((await one.api("/api/experiments", { body: titles })).status, 201);
    const modelVia = async (server: TestServer, user: string) => {
      const res = await fetch(`${server.url}/v1/chat/completions`, {
        method: "POST",
        headers: { "content-type": "application/json", "x-intersebd-user-id": user },
        body: JSON.stringify({ model: "exp:titles", messages: [{ role: "user", content: "hi" }] }),
      });
      assert.equal(res.status, 200);
      return lastBody(fake).model as string;
    };
    // The second instance learns of the experiment at its next reload.
    await eventually(async () => (await modelVia(two, "probe")) !== "exp:titles");
    const models = new Set<string>();
    for (let i = 0; i < 20; i++) {
      const a = await modelVia(one, `user-${i}`);
      const b = await modelVia(two, `user-${i}`);
      assert.equal(a, b, `user-${i}`);
      models.add(a);
    }
    assert.deepEqual(models, new Set(["gpt-base", "gpt-new"]));
    await one.api("/api/experiments/titles/promote", { body: { variant: "candidate", approvedBy: "ana" } });
    await eventually(
      async () =>
        (await modelVia(two, "user-0")) === "gpt-new" && (await modelVia(two, "user-1")) === "gpt-new",
    );
  });
});
