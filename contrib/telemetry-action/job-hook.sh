#!/bin/sh
# For self-hosted runners: set ACTIONS_RUNNER_HOOK_JOB_STARTED=/path/job-hook.sh and
# ACTIONS_RUNNER_HOOK_JOB_COMPLETED=/path/job-hook.sh (with BUILDBOARD_URL in the runner's .env).
# Started: runs sampler.js in the background for this job. Completed: stops it, which posts the
# rest. The job needs `permissions: id-token: write` for its OIDC token.
set -eu
dir=$(cd "$(dirname "$0")" && pwd)
pidfile="${RUNNER_TEMP:-/tmp}/buildboard-sampler.pid"
if [ -f "$pidfile" ]; then
  kill -TERM "$(cat "$pidfile")" 2>/dev/null || true
  rm -f "$pidfile"
  exit 0
fi
nohup node "$dir/sampler.js" >/dev/null 2>&1 &
echo $! > "$pidfile"
