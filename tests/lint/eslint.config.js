// The JavaScript linter's rules (ESLint's recommended set), for tests/all.sh: the board's browser
// modules (static/, ES modules in a browser) and the telemetry action's scripts
// (contrib/telemetry-action/, CommonJS in Node). Paths are the repository root's: tests/all.sh
// runs it there, `tests/lint/node_modules/.bin/eslint --config tests/lint/eslint.config.js
// --max-warnings 0 static contrib/telemetry-action tests/lint/eslint.config.js`.
"use strict";

const js = require("@eslint/js");
const globals = require("globals");

module.exports = [
  {
    files: ["static/**/*.js"],
    ...js.configs.recommended,
    languageOptions: {
      ecmaVersion: 2022,
      sourceType: "module",
      globals: globals.browser,
    },
  },
  {
    files: ["contrib/telemetry-action/**/*.js"],
    ...js.configs.recommended,
    languageOptions: {
      ecmaVersion: 2022,
      sourceType: "commonjs",
      globals: globals.node,
    },
  },
  {
    files: ["tests/lint/eslint.config.js"],
    ...js.configs.recommended,
    languageOptions: { sourceType: "commonjs", globals: globals.node },
  },
];
