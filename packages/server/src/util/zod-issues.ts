/**
 * How a zod failure is told to people, the same way at every edge (API bodies and queries, evaluation inputs,
 * checks files): the path of the first bad field and what is wrong with it.
 */
import type { z } from "zod";

type Issue = z.ZodError["issues"][number];

/** An issue's path as people write it, `messages[2].role`, appended to `under` when given (`checks[1].pattern`). */
export function fieldPath(path: ReadonlyArray<PropertyKey>, under = ""): string {
  return path.reduce<string>(
    (out, p) => (typeof p === "number" ? `${out}[${p}]` : out ? `${out}.${String(p)}` : String(p)),
    under,
  );
}

/** The issue in words; zod's own message for an unknown key does not name the key. */
export function issueMessage(issue: Issue | undefined): string | undefined {
  return issue?.code === "unrecognized_keys" ? `unknown field(s) ${issue.keys.join(", ")}` : issue?.message;
}
