import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { judgeVerdict } from "../testing/index.ts";
import type { JudgeDef } from "./checks.ts";
import {
  type AskJudge,
  absolutePrompt,
  baselineFirst,
  type JudgeSubject,
  outcomeOf,
  pairwisePrompt,
  parseAbsolute,
  parsePairwise,
  renderConversation,
  runJudge,
} from "./judge.ts";

const absolute: Extract<JudgeDef, { mode: "absolute" }> = {
  type: "judge",
  mode: "absolute",
  name: "quality",
  model: "fake-judge",
  scale: [1, 5],
};
const pairwise: Extract<JudgeDef, { mode: "pairwise" }> = {
  type: "judge",
  mode: "pairwise",
  name: "pairwise",
  model: "fake-judge",
};
const userText = (messages: Array<{ role: string; content: string }>) =>
  messages.find((m) => m.role === "user")?.content ?? "";

describe("judge replies", () => {
  it("should read a score and turn it into a reward in [0, 1]", () => {
    assert.deepEqual(parseAbsolute('{"score": 4, "reason": "good"}', [1, 5]), {
      ok: true,
      score: 4,
      reward: 0.75,
      reason: "good",
    });
    assert.deepEqual(parseAbsolute('```json\n{"score": "2"}\n```', [1, 5]), {
      ok: true,
      score: 2,
      reward: 0.25,
      reason: "",
    });
  });

  it("should reject a score off the scale or a reply that is not JSON", () => {
    assert.equal(parseAbsolute('{"score": 7}', [1, 5]).ok, false);
    assert.equal(parseAbsolute("I would say 4", [1, 5]).ok, false);
    assert.equal(parseAbsolute(null, [1, 5]).ok, false);
  });

  it("should read a pairwise choice, in any case, and reject others", () => {
    assert.deepEqual(parsePairwise('{"choice": "B", "reason": "r"}'), { ok: true, choice: "b", reason: "r" });
    assert.deepEqual(parsePairwise('{"choice":"tie"}'), { ok: true, choice: "tie", reason: "" });
    assert.equal(parsePairwise('{"choice": "both"}').ok, false);
  });
});

describe("pairwise order", () => {
  it("should map the judge's choice back to the candidate whichever side it was shown on", () => {
    assert.equal(outcomeOf("a", false), "win");
    assert.equal(outcomeOf("b", false), "loss");
    assert.equal(outcomeOf("a", true), "loss");
    assert.equal(outcomeOf("b", true), "win");
    assert.equal(outcomeOf("tie", true), "tie");
  });

  it("should draw the order from the seed and the item alone, about half each way", () => {
    const draws = Array.from({ length: 200 }, (_, i) => baselineFirst(42, i));
    assert.deepEqual(
      draws,
      Array.from({ length: 200 }, (_, i) => baselineFirst(42, i)),
    );
    const firsts = draws.filter(Boolean).length;
    assert.ok(firsts > 70 && firsts < 130, `${firsts} of 200`);
    assert.notDeepEqual(
      draws,
      Array.from({ length: 200 }, (_, i) => baselineFirst(43, i)),
    );
  });

  it("should cancel a judge that always prefers answer A: wins exactly where the candidate was shown first", () => {
    const outcomes = Array.from({ length: 40 }, (_, i) => {
      const first = baselineFirst(7, i);
      const [a, b] = first ? ["baseline", "candidate"] : ["candidate", "baseline"];
      const reply = judgeVerdict(userText(pairwisePrompt(pairwise, "user: [[A-WINS]] hi", a, b)));
      const parsed = parsePairwise(reply);
      assert.ok(parsed.ok);
      return { first, outcome: outcomeOf(parsed.choice, first) };
    });
    for (const o of outcomes) assert.equal(o.outcome, o.first ? "loss" : "win");
    const wins = outcomes.filter((o) => o.outcome === "win").length;
    assert.ok(wins > 0 && wins < 40);
  });

  it("should follow a judge that reads the answers, whichever order they were shown in", () => {
    for (let i = 0; i < 20; i++) {
      const first = baselineFirst(7, i);
      const cand = "echo: [[GOOD]] title";
      const base = "Title";
      const [a, b] = first ? [base, cand] : [cand, base];
      const parsed = parsePairwise(judgeVerdict(userText(pairwisePrompt(pairwise, "user: title?", a, b))));
      assert.ok(parsed.ok);
      assert.equal(outcomeOf(parsed.choice, first), "win");
    }
  });
});

describe("judge prompts", () => {
  it("should show the conversation and the answer, and be scored on the answer only", () => {
    const conversation = renderConversation([
      { role: "system", content: "Be brief." },
      { role: "user", content: "[[SCORE:5]] Title for: cats" },
    ]);
    assert.equal(conversation, "system: Be brief.\n\nuser: [[SCORE:5]] Title for: cats");
    const messages = absolutePrompt(
      { ...absolute, rubric: "Is it short?" },
      conversation,
      "Cats [[SCORE:2]]",
    );
    assert.match(messages[0]?.content ?? "", /integer from 1 to 5/);
    const user = userText(messages);
    assert.match(user, /^Rubric: Is it short\?/);
    assert.deepEqual(JSON.parse(judgeVerdict(user)), { score: 2, reason: "fake judge" });
  });

  it("should render tool calls and content parts", () => {
    assert.equal(
      renderConversation([
        { role: "user", content: [{ type: "text", text: "weather?" }] },
        { role: "assistant", content: null, tool_calls: [{ id: "c1" }] },
      ]),
      'user: weather?\n\nassistant: tool calls: [{"id":"c1"}]',
    );
  });
});

describe("runJudge", () => {
  const subject: JudgeSubject = {
    conversation: "user: title?",
    answer: "echo: [[SCORE:4]] cand",
    baselineAnswer: "[[SCORE:2]] base",
    baselineFirst: true,
  };
  /** The fake upstream's judge, asked in-process; records what it was shown. */
  const scripted = () => {
    const asked: string[] = [];
    const ask: AskJudge = async (_def, messages) => {
      const user = userText(messages);
      asked.push(user);
      return judgeVerdict(user);
    };
    return { ask, asked };
  };

  it("should score both answers with an absolute judge and pass the candidate at a reward of 0.5 or more", async () => {
    const { ask, asked } = scripted();
    const r = await runJudge(absolute, subject, ask);
    assert.deepEqual(r.judge, {
      name: "quality",
      mode: "absolute",
      model: "fake-judge",
      candidate: { ok: true, score: 4, reward: 0.75, reason: "fake judge" },
      baseline: { ok: true, score: 2, reward: 0.25, reason: "fake judge" },
    });
    assert.deepEqual(r.check, { name: "quality", type: "judge", pass: true, score: 4, reason: "fake judge" });
    assert.equal(asked.length, 2);
  });

  it("should not ask about a missing answer, and record a judge's error as the check's", async () => {
    const { ask, asked } = scripted();
    const r = await runJudge(absolute, { ...subject, answer: null, baselineAnswer: null }, ask);
    assert.equal(asked.length, 0);
    assert.deepEqual(r.check, { name: "quality", type: "judge", pass: null, error: "no answer to judge" });
    assert.equal(r.judge.mode === "absolute" && r.judge.baseline, null);
    const refused = await runJudge(absolute, subject, async () => ({
      error: "judge fake-judge answered HTTP 400",
    }));
    assert.deepEqual(refused.check, {
      name: "quality",
      type: "judge",
      pass: null,
      error: "judge fake-judge answered HTTP 400",
    });
  });

  it("should show a pairwise judge the answers in the drawn order and undo it in the outcome", async () => {
    for (const baselineShownFirst of [true, false]) {
      const { ask, asked } = scripted();
      const r = await runJudge(
        pairwise,
        { ...subject, answer: "echo: [[GOOD]] cand", baselineFirst: baselineShownFirst },
        ask,
      );
      assert.equal(asked.length, 1);
      const a = /<answer_a>\n(.*)\n<\/answer_a>/.exec(asked[0] ?? "")?.[1];
      assert.equal(a, baselineShownFirst ? "[[SCORE:2]] base" : "echo: [[GOOD]] cand");
      assert.equal(r.check, undefined, "a pairwise judge is not a pass/fail check");
      assert.deepEqual(r.judge, {
        name: "pairwise",
        mode: "pairwise",
        model: "fake-judge",
        baselineFirst: baselineShownFirst,
        choice: baselineShownFirst ? "b" : "a",
        outcome: "win",
        reason: `fake judge: [[GOOD]] in answer ${baselineShownFirst ? "B" : "A"}`,
      });
    }
  });

  it("should record why a pairwise judge could not decide", async () => {
    const { ask, asked } = scripted();
    const none = await runJudge(pairwise, { ...subject, baselineAnswer: null }, ask);
    assert.equal(asked.length, 0);
    assert.equal(none.judge.mode === "pairwise" && none.judge.error, "the baseline has no answer");
    const garbled = await runJudge(pairwise, subject, async () => "no idea");
    assert.match(String(garbled.judge.mode === "pairwise" && garbled.judge.error), /not a JSON object/);
  });
});
