import { openStore, type Store } from "../store/index.ts";
import { type Dialect, freshDatabase } from "./harness.ts";

/** Opens (and migrates) the store on a database of `freshDatabase`, as the server would from its config. */
export function openStoreOn(dialect: Dialect, url: string): Promise<Store> {
  return openStore(dialect === "sqlite" ? { kind: "sqlite", file: url } : { kind: "postgres", url });
}

/** Runs `fn` on a store over a fresh database, then closes the store and drops the database, whatever `fn` did. */
export async function withStore(dialect: Dialect, fn: (store: Store) => Promise<void>): Promise<void> {
  const fresh = await freshDatabase(dialect);
  try {
    const store = await openStoreOn(dialect, fresh.db);
    try {
      await fn(store);
    } finally {
      await store.close();
    }
  } finally {
    await fresh.drop();
  }
}
