#!/usr/bin/env bash
# Seeds fuzz/corpus/webhook_payload with the webhook fixtures, each prefixed by the byte that selects
# its EventKind in fuzz_targets/webhook_payload.rs.
set -euo pipefail
cd "$(dirname "$0")"
mkdir -p corpus/webhook_payload
index=0
for kind in ping push create delete workflow_run workflow_job; do
    for file in ../tests/fixtures/github/webhooks/"$kind"/*.json; do
        { printf "\\x$(printf %02x "$index")"; cat "$file"; } > "corpus/webhook_payload/$kind-$(basename "$file")"
    done
    index=$((index + 1))
done
