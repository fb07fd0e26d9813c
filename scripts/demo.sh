#!/usr/bin/env bash
# The main job: the strategy comparison of the virtual-time simulator (llm-pacer against the
# usual recipes) for the issue's 1-client and 4-client scenarios. Extra flags go to the CLI:
#   scripts/demo.sh --clients 8 --requests 2000
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
scripts/setup.sh
cargo run --quiet --release --bin simulate -- "$@"
