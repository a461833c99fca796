/**
 * User-supplied patterns run on RE2 (re2js), in linear time: regex checks, JSON Schema `pattern`s and
 * INTERSEBD_REDACT_PATTERNS. `(a+)+$` took V8 about 3 s on 25 characters, doubling with each one; these tests
 * use 40 and more, so on a backtracking engine they would not finish. A pattern RE2 cannot run is refused
 * where it enters, naming it. Eval candidates refuse credential-like headers wherever they enter.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, it } from "node:test";
import { compileRedactPattern, redactText } from "../calls/redact.ts";
import { parseCandidate } from "../cli/eval.ts";
import { ConfigError, loadConfig } from "../config/index.ts";
import { HttpError } from "../http/error.ts";
import { checkSubject } from "../testing/index.ts";
import {
  type CheckSubject,
  compileSchema,
  loadChecksFile,
  normalizeChecks,
  runBuiltinCheck,
} from "./checks.ts";
import { createEvalSchema, parseInput } from "./schemas.ts";

const EVIL = "(a+)+$";
const LONG = `${"a".repeat(40)}!`;

const subject = (answer: string): CheckSubject => checkSubject({ answer });

describe("regex checks on RE2", () => {
  it("should run (a+)+$ on a 40-character answer and return its verdict", () => {
    const [def] = normalizeChecks([{ type: "regex", pattern: EVIL }]);
    assert.ok(def);
    assert.equal(runBuiltinCheck(def, subject(LONG)).pass, false);
    assert.equal(runBuiltinCheck(def, subject("a".repeat(40))).pass, true);
    const [short] = normalizeChecks([`regex:^(x+x+)+y`]);
    assert.ok(short);
    assert.equal(runBuiltinCheck(short, subject("x".repeat(5000))).pass, false);
  });

  it("should keep the flags i, m, s and u", () => {
    const run = (pattern: string, flags: string, answer: string) => {
      const [def] = normalizeChecks([{ type: "regex", pattern, flags }]);
      assert.ok(def);
      return runBuiltinCheck(def, subject(answer)).pass;
    };
    assert.equal(run("^SHORT$", "i", "short"), true);
    assert.equal(run("^b$", "m", "a\nb"), true);
    assert.equal(run("^b$", "", "a\nb"), false);
    assert.equal(run("a.b", "s", "a\nb"), true);
    assert.equal(run("^.$", "u", "😀"), true);
  });

  it("should refuse backreferences and lookaround with a message naming the pattern and why", () => {
    for (const pattern of ["(a)\\1", "(?=x)y", "(?<=x)y", "(?!x)y"]) {
      assert.throws(
        () => normalizeChecks(["json-schema", { type: "regex", pattern }]),
        (err) =>
          err instanceof HttpError &&
          err.status === 400 &&
          err.field === "checks[1].pattern" &&
          err.message.includes(`/${pattern}/`) &&
          /RE2/.test(err.message) &&
          /backreference/.test(err.message),
        pattern,
      );
    }
    assert.throws(() => normalizeChecks(["regex:(a)\\1"]), /checks\[0\]\.pattern: \/\(a\)\\1\//);
  });

  it("should refuse them in a checks file too, naming the file and the check", () => {
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "intersebd-re2-")), "checks.json");
    fs.writeFileSync(file, JSON.stringify([{ type: "regex", name: "twice", pattern: "(\\w)\\1" }]));
    assert.throws(() => loadChecksFile(file), /checks file .*checks\[0\]\.pattern: .*RE2/);
  });

  it("should give a stored pattern RE2 cannot compile a verdict of null with the error, not throw", () => {
    const outcome = runBuiltinCheck({ type: "regex", name: "old", pattern: "(a)\\1" }, subject("aa"));
    assert.equal(outcome.pass, null);
    assert.match(String(outcome.error), /RE2/);
  });

  it("should run JSON Schema patterns on RE2 too", () => {
    const validate = compileSchema({ type: "string", pattern: EVIL });
    assert.equal(validate(LONG), false);
    assert.equal(validate("aaaa"), true);
    assert.throws(() => compileSchema({ type: "string", pattern: "(a)\\1" }), /RE2/);
  });
});

describe("redaction patterns on RE2", () => {
  it("should mask what a user pattern matches, in linear time", () => {
    const p = compileRedactPattern(EVIL);
    assert.equal(redactText(LONG, [p]), LONG);
    assert.equal(redactText("a".repeat(40), [p]), "[REDACTED]");
    assert.equal(
      redactText("order 12-AB and 13-CD", [compileRedactPattern("\\d+-[A-Z]+")]),
      "order [REDACTED] and [REDACTED]",
    );
  });

  it("should refuse a pattern RE2 cannot run at startup, naming INTERSEBD_REDACT_PATTERNS and the pattern", () => {
    assert.throws(
      () => loadConfig({ INTERSEBD_REDACT_PATTERNS: "ok-\\d+;;(x)\\1" }),
      (err) =>
        err instanceof ConfigError &&
        err.message.startsWith("INTERSEBD_REDACT_PATTERNS: /(x)\\1/") &&
        /backreference/.test(err.message),
    );
    assert.equal(
      loadConfig({ INTERSEBD_REDACT_PATTERNS: "ok-\\d+;;secret-[a-z]+" }).redactPatterns.length,
      2,
    );
  });

  it("should keep the built-in patterns' masks, and finish on text made to make them backtrack", () => {
    assert.equal(
      redactText("mail john.doe@example.com, Bearer abcdefgh12345, eyJhbGciOi.eyJzdWIiOi.abcdefghij"),
      "mail [EMAIL], [BEARER], [JWT]",
    );
    assert.equal(
      redactText("call +1 (555) 123-4567 or card 4111 1111 1111 1111"),
      "call [PHONE] or card [CARD]",
    );
    // Quadratic on V8: each `\b` start rescanned the whole run (0.8 s for 40 kB, minutes for a 1 MB body).
    const dots = "a.".repeat(50_000);
    assert.equal(redactText(dots), dots);
    const jwtish = "eyJaa-".repeat(50_000);
    assert.equal(redactText(jwtish), jwtish);
  });
});

describe("evaluation candidates' headers", () => {
  const input = (headers: Record<string, string>) => ({ callIds: ["c1"], candidate: { headers } });

  it("should refuse credential-like names by pattern, naming the header", () => {
    for (const name of [
      "x-goog-api-key",
      "anthropic-api-key",
      "proxy-authorization",
      "openai-api-key",
      "x-auth-token",
      "X-Api-Key",
      "cookie",
      "set-cookie",
      "x-session",
      "x-secret",
      "x-password",
      "x-credentials",
    ]) {
      assert.throws(
        () => parseInput(createEvalSchema, input({ [name]: "v" })),
        (err) =>
          err instanceof HttpError &&
          err.field === `candidate.headers.${name}` &&
          /credential/.test(err.message),
        name,
      );
    }
  });

  it("should forward ordinary headers", () => {
    const body = parseInput(createEvalSchema, input({ "x-trace-id": "t1", "OpenAI-Beta": "assistants=v2" }));
    assert.deepEqual(body.candidate?.headers, { "x-trace-id": "t1", "OpenAI-Beta": "assistants=v2" });
  });

  it("should refuse them from the CLI's --candidate header.<name> flags through the same schema", () => {
    const candidate = parseCandidate(["model=m", "header.x-goog-api-key=AIza-secret"]);
    assert.throws(
      () => parseInput(createEvalSchema, { callIds: ["c1"], candidate }),
      (err) => err instanceof HttpError && err.field === "candidate.headers.x-goog-api-key",
    );
  });
});
