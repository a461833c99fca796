import { useEffect, useState } from "react";
import { useLocation } from "react-router";
import { api } from "../api.ts";
import type { AlertList } from "../types.ts";

/** The number of open alerts, for the nav: read again on every navigation and every minute. */
export function AlertsBadge() {
  const location = useLocation();
  const [open, setOpen] = useState<number | null>(null);
  const [tick, setTick] = useState(0);
  useEffect(() => {
    const t = setInterval(() => setTick((x) => x + 1), 60_000);
    return () => clearInterval(t);
  }, []);
  // biome-ignore lint/correctness/useExhaustiveDependencies: refresh on navigation and on the minute
  useEffect(() => {
    let live = true;
    api.get<AlertList>("/api/alerts", { status: "open", limit: 1 }).then(
      (r) => live && setOpen(r.open),
      // An older server without alerts, or no key yet: no badge.
      () => live && setOpen(null),
    );
    return () => {
      live = false;
    };
  }, [location.pathname, tick]);
  if (!open) return null;
  return (
    <span className="count alert-count" data-testid="alerts-count" title={`${open} open alerts`}>
      {open}
    </span>
  );
}
