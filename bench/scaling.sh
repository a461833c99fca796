#!/usr/bin/env bash
# The --workers sweep (bench/scaling.ts): intersebd and as many bare proxies with 1, 2, 4, ... workers, pinned
# with taskset, driven by wrk. Meant for a machine with many cores (8 or more); on 2 cores it is a smoke test:
#   bash bench/scaling.sh --max 2 --proxy-cores 0 --load-cores 1 --duration 3 --runs 1
# Any option is handed to bench/scaling.ts (--max, --proxy-cores, --load-cores, --duration, --runs).
set -euo pipefail
cd "$(dirname "$0")/.."
for tool in wrk taskset; do
  command -v "$tool" >/dev/null || { echo "scaling.sh needs $tool (apt-get install wrk util-linux)" >&2; exit 1; }
done
NODE="node_modules/.bin/node"
[ -x "$NODE" ] || NODE="$(command -v node)"
echo "machine: $(nproc) cores, $(uptime)" >&2
NODE_OPTIONS="${NODE_OPTIONS:-} --conditions=intersebd-source" exec "$NODE" bench/scaling.ts "$@"
