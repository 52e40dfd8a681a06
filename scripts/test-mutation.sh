#!/usr/bin/env bash
# `npm run test:mutation`: Stryker over the pure core (stryker.config.mjs). Its incremental
# mode retests only mutants whose source changed, but through the command runner it cannot
# see which tests changed; so when any core test (or the mutation setup) differs from the
# last run's, the run is a full one.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p reports/mutation
stamp=reports/mutation/tests.sha256
tests=$(node --input-type=module -e "const c = (await import('./ava.mutation.config.js')).default; console.log(c.files.join('\n'))")
# shellcheck disable=SC2086
now=$(cat ava.mutation.config.js stryker.config.mjs scripts/mutation-tests.mjs scripts/mutation-scope.mjs $tests | sha256sum | cut -d' ' -f1)
args=()
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$now" ]; then
  echo "[mutation] tests changed since the last run (or no run yet): testing every mutant" >&2
  args+=(--force)
fi
status=0
node node_modules/@stryker-mutator/core/bin/stryker.js run "${args[@]}" || status=$?
# The results are this run's whatever the score: the next run may be incremental.
echo "$now" > "$stamp"
exit "$status"
