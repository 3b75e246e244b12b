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

# The browser code has no build step: every script must at least parse (docs/board.md).
if ! command -v node >/dev/null 2>&1; then
    echo "tests/all.sh: installing Debian's nodejs to check static/*.js" >&2
    sudo=""
    if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
    $sudo apt-get install -y nodejs
fi
for script in static/*.js; do
    node --check "$script"
done

cargo fmt --all -- --check
cargo clippy --locked --all-targets -- -D warnings
cargo test --locked
