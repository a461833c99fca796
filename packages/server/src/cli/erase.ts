/**
 * `intersebd erase`: erase a user's, a session's or a tag's calls on a running intersebd through its REST API
 * (`DELETE /api/users/{id}` and the others; erasure/README.md). It shows what would go first (a dry run), then
 * asks, unless `--yes`.
 *
 *   intersebd erase --user u-42
 *   intersebd erase --session s-9 --yes
 */
import { createInterface } from "node:readline/promises";
import type { Command } from "commander";
import type { ErasureResultView } from "../erasure/index.ts";
import { runCli, UsageError } from "./export.ts";
import { client, out, type ServerFlags, serverOptions, usageCommand } from "./server-client.ts";

interface EraseFlags extends ServerFlags {
  user?: string;
  session?: string;
  tag?: string;
  yes?: boolean;
}

/** The counts that are not zero, one `kind: n` each, or "nothing". */
export function describeCounts(counts: Record<string, number>): string {
  const parts = Object.entries(counts)
    .filter(([, n]) => n > 0)
    .map(([k, n]) => `${k}: ${n}`);
  return parts.length ? parts.join(", ") : "nothing";
}

/** The API path of the one selector given. @throws UsageError when none or several are. */
export function erasePath(flags: EraseFlags): string {
  const given = [
    ["--user", "users", flags.user],
    ["--session", "sessions", flags.session],
    ["--tag", "tags", flags.tag],
  ].filter((g): g is [string, string, string] => g[2] !== undefined);
  if (given.length !== 1) throw new UsageError("give exactly one of --user ID, --session ID, --tag TAG");
  const [[flag, segment, value]] = given as [[string, string, string]];
  if (value === "") throw new UsageError(`${flag} must not be empty`);
  return `/${segment}/${encodeURIComponent(value)}`;
}

export function eraseCommand(): Command {
  return serverOptions(
    usageCommand(
      "erase",
      "erase a user's, a session's or a tag's calls and what only concerns them (shows the counts first)",
    ),
  )
    .option("--user <id>", "erase every call of this user id (hashed first when the server hashes user ids)")
    .option("--session <id>", "erase every call of this session id")
    .option("--tag <tag>", "erase every call this tag names (its id, completion id or one of its tags)")
    .option("--yes", "do not ask before erasing")
    .option("--json", "print the answer as JSON")
    .action((flags: EraseFlags) =>
      runCli(async () => {
        const path = erasePath(flags);
        const api = client(flags);
        const dry = await api<ErasureResultView>("DELETE", `${path}?dryRun=true`);
        if (dry.counts.calls === 0 && !flags.json) return out("nothing to erase: no call matches");
        if (!flags.yes) {
          out(`would erase ${describeCounts(dry.counts)}`);
          if (!process.stdin.isTTY) throw new UsageError("not a terminal: pass --yes to erase");
          const rl = createInterface({ input: process.stdin, output: process.stdout });
          const answer = await rl.question("erase? [y/N] ");
          rl.close();
          if (!/^y(es)?$/i.test(answer.trim())) return out("nothing erased");
        }
        const done = await api<ErasureResultView>("DELETE", path);
        out(
          flags.json
            ? JSON.stringify(done, null, 2)
            : `erased ${describeCounts(done.counts)} (audit ${done.auditId})`,
        );
      }),
    );
}
