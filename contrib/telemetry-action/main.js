// Starts sampler.js in the background for the rest of the job; post.js stops it. No dependencies.
"use strict";
const { spawn } = require("child_process");
const fs = require("fs");
const path = require("path");

const input = (name, fallback) => process.env["INPUT_" + name.toUpperCase()] || fallback;
const child = spawn(process.execPath, [path.join(__dirname, "sampler.js")], {
  detached: true,
  stdio: "ignore",
  env: Object.assign({}, process.env, {
    BUILDBOARD_URL: input("url", process.env.BUILDBOARD_URL || ""),
    BUILDBOARD_INTERVAL: input("interval", "5"),
    BUILDBOARD_BATCH: input("batch", "15"),
  }),
});
child.unref();
if (process.env.GITHUB_STATE) fs.appendFileSync(process.env.GITHUB_STATE, "pid=" + child.pid + "\n");
console.log("buildboard telemetry: sampling in process " + child.pid);
