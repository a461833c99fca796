/**
 * `intersebd datasets`: save, list, inspect, change and delete datasets (saved filters over calls and their
 * annotations), and list the snapshots their exports and evaluations recorded. Talks to the store directly.
 *
 *   intersebd datasets create titles --where 'reward >= 1' --model gpt-4o-mini --description "good titles"
 *   intersebd datasets show titles
 *   intersebd export --dataset titles --format trl-sft --out titles.jsonl
 */
import { Command } from "commander";
import {
  createDataset,
  createDatasetSchema,
  type DatasetDetail,
  datasetDetail,
  deleteDataset,
  listDatasets,
  listSnapshots,
  updateDataset,
  updateDatasetSchema,
} from "../exports/index.ts";
import type { Store } from "../store/index.ts";
import {
  addSelectionOptions,
  openCliStore,
  parseFlags,
  runCli,
  selectionQuery,
  UsageError,
} from "./export.ts";

interface StoreFlags {
  db?: string;
  dataDir?: string;
  json?: boolean;
}

function storeOptions(cmd: Command): Command {
  return cmd
    .option(
      "--db <url|file>",
      "postgres://... or a SQLite file (DATABASE_URL, default ./.intersebd/intersebd.sqlite)",
    )
    .option("--data-dir <dir>", "where the SQLite file lives (INTERSEBD_DATA_DIR, default ./.intersebd)");
}

async function withStore(flags: StoreFlags, fn: (store: Store) => Promise<void>): Promise<void> {
  const { store } = await openCliStore(flags);
  try {
    await fn(store);
  } finally {
    await store.close();
  }
}

const out = (s: string): void => {
  process.stdout.write(s.endsWith("\n") ? s : `${s}\n`);
};

/** A dataset as a person reads it: counts and a bar per reward bucket. */
export function describeDataset(d: DatasetDetail): string {
  const lines = [
    `${d.name}${d.description ? ` — ${d.description}` : ""}`,
    `  filter:      ${Object.keys(d.filter).length ? JSON.stringify(d.filter) : "(every call)"}`,
    `  calls:       ${d.size}`,
    `  annotated:   ${d.annotated}`,
    `  corrections: ${d.corrections}`,
    `  pairwise:    ${d.pairwise}`,
  ];
  if (d.rewardHistogram.length) {
    lines.push("  reward:");
    const max = Math.max(...d.rewardHistogram.map((b) => b.count));
    const width = Math.max(...d.rewardHistogram.map((b) => String(b.bucket).length));
    for (const b of d.rewardHistogram) {
      const bar = "#".repeat(max ? Math.round((b.count / max) * 30) : 0);
      lines.push(`    ${String(b.bucket).padStart(width)} ${bar} ${b.count}`);
    }
  }
  return lines.join("\n");
}

export function datasetsCommand(): Command {
  const cmd = new Command("datasets").description(
    "saved filters over calls and annotations, for exports and evaluations",
  );

  storeOptions(cmd.command("list").description("list datasets"))
    .option("--json", "print JSON")
    .action((flags: StoreFlags) =>
      runCli(() =>
        withStore(flags, async (store) => {
          const list = await listDatasets(store);
          if (flags.json) return out(JSON.stringify(list, null, 2));
          if (list.length === 0)
            return out("no datasets yet: intersebd datasets create <name> --where '...'");
          for (const d of list) out(`${d.name}\t${d.description ?? ""}\t${JSON.stringify(d.filter)}`);
        }),
      ),
    );

  storeOptions(
    cmd.command("show <name>").description("a dataset's size, reward distribution and judged calls"),
  )
    .option("--json", "print JSON")
    .action((name: string, flags: StoreFlags) =>
      runCli(() =>
        withStore(flags, async (store) => {
          const d = await datasetDetail(store, name);
          out(flags.json ? JSON.stringify(d, null, 2) : describeDataset(d));
        }),
      ),
    );

  addSelectionOptions(
    storeOptions(cmd.command("create <name>").description("save a filter as a dataset")).option(
      "--description <text>",
      "what the dataset is for",
    ),
  ).action((name: string, flags: StoreFlags & Record<string, unknown>) =>
    runCli(() =>
      withStore(flags, async (store) => {
        const input = parseFlags(createDatasetSchema, {
          name,
          description: flags.description,
          filter: selectionQuery(flags),
        });
        const d = await createDataset(store, input);
        out(`saved dataset ${d.name}: ${JSON.stringify(d.filter)}`);
      }),
    ),
  );

  addSelectionOptions(
    storeOptions(
      cmd
        .command("update <name>")
        .description(
          "rename a dataset, change its description, or replace its filter with the filter flags given",
        ),
    )
      .option("--rename <new-name>", "new name")
      .option("--description <text>", "new description"),
  ).action((name: string, flags: StoreFlags & Record<string, unknown>) =>
    runCli(() =>
      withStore(flags, async (store) => {
        const filter = selectionQuery(flags);
        const input = parseFlags(updateDatasetSchema, {
          ...(flags.rename !== undefined && { name: flags.rename }),
          ...(flags.description !== undefined && { description: flags.description }),
          ...(Object.keys(filter).length > 0 && { filter }),
        });
        if (Object.keys(input).length === 0)
          throw new UsageError("nothing to change: give --rename, --description or filter flags");
        const d = await updateDataset(store, name, input);
        out(`updated dataset ${d.name}: ${JSON.stringify(d.filter)}`);
      }),
    ),
  );

  storeOptions(cmd.command("delete <name>").description("delete a dataset (its snapshots are kept)")).action(
    (name: string, flags: StoreFlags) =>
      runCli(() =>
        withStore(flags, async (store) => {
          await deleteDataset(store, name);
          out(`deleted dataset ${name}`);
        }),
      ),
  );

  storeOptions(cmd.command("snapshots <name>").description("the exports and evaluations a dataset recorded"))
    .option("--json", "print JSON")
    .action((name: string, flags: StoreFlags) =>
      runCli(() =>
        withStore(flags, async (store) => {
          const list = await listSnapshots(store, name);
          if (flags.json) return out(JSON.stringify(list, null, 2));
          if (list.length === 0) return out(`no snapshots of ${name} yet`);
          for (const s of list) {
            const what = s.format
              ? `${s.purpose} ${s.format}${s.params?.part ? ` (${s.params.part})` : ""}`
              : s.purpose;
            const size = s.complete
              ? `${s.callCount} calls${s.rowCount === null ? "" : `, ${s.rowCount} rows`}`
              : "incomplete";
            out(`${s.id}\t${s.createdAt}\t${what}\t${size}`);
          }
        }),
      ),
    );

  return cmd;
}
