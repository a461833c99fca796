/**
 * `intersebd keys`: create, list and revoke scoped API keys on a running intersebd through its REST API
 * (`POST /api/keys`, `GET /api/keys`, `DELETE /api/keys/{id}`; keys/README.md), with an admin key (`--key`,
 * `INTERSEBD_API_KEY`).
 *
 *   intersebd keys create --name checkout-service --scope ingest --upstream default
 *   intersebd keys list
 *   intersebd keys revoke key_01jd3k9q2x8f7c6b5a4z3y2w1
 */
import Table from "cli-table3";
import { type Command, Option } from "commander";
import type { KeyView } from "../keys/index.ts";
import { runCli } from "./export.ts";
import { client, out, type ServerFlags, serverOptions, usageCommand } from "./server-client.ts";

const collect = (value: string, previous: string[] = []) => [...previous, value];

const when = (ms: number | null) =>
  ms === null ? "—" : new Date(ms).toISOString().slice(0, 16).replace("T", " ");

/** One line per key: what it may do, and whether it still works. */
export function keysTable(keys: KeyView[]): string {
  const table = new Table({ head: ["id", "name", "scopes", "upstreams", "created", "last used", "revoked"] });
  for (const k of keys)
    table.push([
      k.id,
      k.name,
      k.scopes.join(", "),
      k.upstreams?.join(", ") ?? "any",
      when(k.createdAt),
      when(k.lastUsedAt),
      when(k.revokedAt),
    ]);
  return table.toString();
}

export function keysCommand(): Command {
  const cmd = usageCommand("keys", "scoped API keys: create one for a service (shown once), list, revoke");

  serverOptions(cmd.command("create").description("create a key; its secret is printed this once"))
    .requiredOption("--name <name>", "what the key is for (a service, a person)")
    .addOption(
      new Option("--scope <scope>", "a scope it holds (repeat for several)")
        .choices(["ingest", "read", "annotate", "admin"])
        .argParser(collect)
        .makeOptionMandatory(),
    )
    .option("--upstream <name>", "an upstream it may proxy to (repeat; default: any)", collect)
    .option("--json", "print JSON")
    .action((flags: ServerFlags & { name: string; scope: string[]; upstream?: string[] }) =>
      runCli(async () => {
        const created = await client(flags)<KeyView & { secret: string }>("POST", "/keys", {
          name: flags.name,
          scopes: flags.scope,
          ...(flags.upstream ? { upstreams: flags.upstream } : {}),
        });
        if (flags.json) return out(JSON.stringify(created, null, 2));
        out(`created ${created.id} (${created.scopes.join(", ")}) for ${created.name}`);
        out(`secret, shown this once (send it as x-intersebd-key):\n${created.secret}`);
      }),
    );

  serverOptions(cmd.command("list").description("every key, revoked ones included, without secrets"))
    .option("--json", "print JSON")
    .action((flags: ServerFlags) =>
      runCli(async () => {
        const { data } = await client(flags)<{ data: KeyView[] }>("GET", "/keys");
        if (flags.json) return out(JSON.stringify(data, null, 2));
        if (data.length === 0)
          return out("no keys yet: intersebd keys create --name <service> --scope ingest");
        out(keysTable(data));
      }),
    );

  serverOptions(cmd.command("revoke <id>").description("revoke a key: refused from now on"))
    .option("--json", "print JSON")
    .action((id: string, flags: ServerFlags) =>
      runCli(async () => {
        const revoked = await client(flags)<KeyView>("DELETE", `/keys/${encodeURIComponent(id)}`);
        if (flags.json) return out(JSON.stringify(revoked, null, 2));
        out(`revoked ${revoked.id} (${revoked.name})`);
      }),
    );
  return cmd;
}
