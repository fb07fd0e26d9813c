#!/usr/bin/env bash
# The main job: the `llm-pacer demo` command of the built package. A batch of requests goes
# through `pacer.fetch` to a local server that rate-limits like the Anthropic API, with live
# progress and a summary (makespan against the lower bound, 429s, retries, latency). Installs
# what it needs and builds pkg/ first. Extra flags go to the command:
#   scripts/demo.sh --requests 500 --seconds 60
#   scripts/demo.sh simulate --clients 4      # the simulator's strategy comparison
#   scripts/demo.sh --help
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
scripts/setup.sh --build
node scripts/build-pkg.mjs >&2
echo >&2
exec node pkg/bin/llm-pacer.mjs "$@"
