/**
 * From a validated export query (API or CLI) to a running export: the dataset and filters combined into one
 * selection, the options, and for the API a streamed JSONL body that records the dataset's snapshot.
 */
import type { Store } from "../store/index.ts";
import type { Logger } from "../util/log.ts";
import { type DatasetView, loadDataset, SnapshotWriter, selectionOf } from "./datasets.ts";
import { type ExportedRow, type ExportOptions, exportRows, type Part } from "./pipeline.ts";
import type { ExportQuery } from "./schemas.ts";

export interface ExportPlan {
  options: ExportOptions;
  dataset: DatasetView | null;
  /** The options worth recording with a snapshot (what makes the export reproducible). */
  params: Record<string, unknown>;
}

/**
 * Combines the dataset (if any) and the query's own filters: both apply. The reward name is the query's
 * `name`, else the dataset's, else `reward`. @throws HttpError 404 for an unknown dataset
 */
export async function planExport(store: Store, q: ExportQuery, linkDepth: number): Promise<ExportPlan> {
  const { format, dataset: datasetName, split, part, groupBy, threshold, report, manifest, ...filter } = q;
  const own = selectionOf(filter);
  let dataset: DatasetView | null = null;
  let selection = own;
  let rewardName = filter.name;
  if (datasetName) {
    const d = await loadDataset(store, datasetName);
    dataset = d.view;
    rewardName ??= d.filter.name;
    selection = {
      filters: [...d.selection.filters, ...own.filters],
      conditions: [...d.selection.conditions, ...own.conditions],
      hasCorrection: own.hasCorrection ?? d.selection.hasCorrection,
      hasComparison: own.hasComparison ?? d.selection.hasComparison,
    };
  }
  const options: ExportOptions = {
    format,
    selection,
    rewardName: rewardName ?? "reward",
    threshold,
    split: split ?? 0,
    groupBy,
    linkDepth,
  };
  return {
    options,
    dataset,
    params: {
      split: split ?? 0,
      groupBy,
      threshold,
      rewardName: options.rewardName,
      filter,
      datasetFilter: dataset?.filter ?? null,
    },
  };
}

/** Lines of one part of an export (rows, or with `manifest` their provenance), recording a snapshot. */
export async function* exportLines(
  store: Store,
  plan: ExportPlan,
  opts: { part: Part; manifest: boolean },
): AsyncGenerator<string> {
  const run = exportRows(store, plan.options);
  const snapshot =
    plan.dataset && !opts.manifest
      ? await SnapshotWriter.begin(store, plan.dataset, {
          purpose: "export",
          format: plan.options.format,
          params: { ...plan.params, part: opts.part },
        })
      : null;
  let n = 0;
  for await (const row of run.rows as AsyncIterable<ExportedRow>) {
    if (row.part !== opts.part) continue;
    n++;
    await snapshot?.add(row.provenance.callIds);
    yield opts.manifest ? manifestLine(n, row) : row.line;
  }
  await snapshot?.finish(n);
}

/** A manifest line: which data line (1-based, within its file) came from which calls, and how. */
export function manifestLine(line: number, row: ExportedRow): string {
  return JSON.stringify({ line, part: row.part, ...row.provenance });
}

/**
 * A JSONL body streamed as the client reads it: lines are gathered into ~64 KB chunks and the next chunk
 * is only made when the previous one was taken, so a slow client slows the export instead of filling memory.
 */
export function ndjsonStream(lines: AsyncGenerator<string>, log?: Logger): ReadableStream<Uint8Array> {
  const encoder = new TextEncoder();
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        let chunk = "";
        try {
          while (chunk.length < 64 * 1024) {
            const { value, done } = await lines.next();
            if (done) {
              if (chunk) controller.enqueue(encoder.encode(chunk));
              controller.close();
              return;
            }
            chunk += `${value}\n`;
          }
        } catch (err) {
          // Headers are gone: all that is left is to cut the body short so the client sees it incomplete.
          log?.error(`export failed mid-stream: ${(err as Error).stack ?? String(err)}`);
          controller.error(err);
          return;
        }
        controller.enqueue(encoder.encode(chunk));
      },
      async cancel() {
        await lines.return(undefined);
      },
    },
    { highWaterMark: 0 },
  );
}
