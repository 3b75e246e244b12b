#!/usr/bin/env bash
# Runs every check and test: formatting, lints, unit, integration and browser tests.
# Browser tests drive Debian's chromium through chromedriver; they are installed here when missing,
# so no test ever skips for want of a browser.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
    echo "tests/all.sh: installing Debian's chromium and chromium-driver for the browser tests" >&2
    sudo=""
    if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
    $sudo apt-get update
    $sudo apt-get install -y chromium chromium-driver
fi

# The browser code has no build step: ESLint (its recommended rules, pinned by
# tests/lint/package-lock.json) reads every module of static/ and the telemetry action's scripts
# (docs/board.md). Debian's nodejs and npm are installed when missing, ESLint with `npm ci`.
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    echo "tests/all.sh: installing Debian's nodejs and npm for the JavaScript linter" >&2
    sudo=""
    if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
    $sudo apt-get update
    $sudo apt-get install -y nodejs npm
fi
if [ ! -x tests/lint/node_modules/.bin/eslint ]; then
    (cd tests/lint && npm ci --no-audit --no-fund)
fi
tests/lint/node_modules/.bin/eslint --config tests/lint/eslint.config.js --max-warnings 0 \
    static contrib/telemetry-action tests/lint/eslint.config.js

cargo fmt --all -- --check
cargo clippy --locked --all-targets -- -D warnings
cargo test --locked
