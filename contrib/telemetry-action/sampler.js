// Samples /proc every BUILDBOARD_INTERVAL seconds and posts batches to BUILDBOARD_URL/api/metrics
// every BUILDBOARD_BATCH seconds with the job's OIDC token (audience: BUILDBOARD_URL). On SIGTERM
// it posts what it holds and exits. Node's standard library only.
"use strict";
const fs = require("fs");

const url = (process.env.BUILDBOARD_URL || "").replace(/\/$/, "");
// The token's audience: the board's --public-url, when the runner reaches it by another address.
const audience = process.env.BUILDBOARD_AUDIENCE || url;
const interval = Math.max(1, Number(process.env.BUILDBOARD_INTERVAL) || 5) * 1000;
const every = Math.max(1, Number(process.env.BUILDBOARD_BATCH) || 15) * 1000;
const log = (text) => process.stderr.write("buildboard telemetry: " + text + "\n");

function read(file) { try { return fs.readFileSync(file, "utf8"); } catch { return ""; } }

function cpuTimes() {
  const f = read("/proc/stat").split("\n")[0].trim().split(/\s+/).slice(1).map(Number);
  return { user: (f[0] || 0) + (f[1] || 0), system: (f[2] || 0) + (f[5] || 0) + (f[6] || 0), total: f.reduce((a, b) => a + b, 0) };
}
function memory() {
  const kb = (name) => Number((read("/proc/meminfo").match(new RegExp("^" + name + ":\\s+(\\d+)", "m")) || [])[1] || 0) * 1024;
  const total = kb("MemTotal");
  return { used: total - kb("MemAvailable"), total };
}
function disk() {
  let r = 0, w = 0;
  for (const line of read("/proc/diskstats").split("\n")) {
    const f = line.trim().split(/\s+/);
    if (f.length < 10 || !/^(sd[a-z]+|vd[a-z]+|xvd[a-z]+|nvme\d+n\d+|mmcblk\d+)$/.test(f[2])) continue;
    r += Number(f[5]) * 512; w += Number(f[9]) * 512;
  }
  return { r, w };
}
function net() {
  let rx = 0, tx = 0;
  for (const line of read("/proc/net/dev").split("\n").slice(2)) {
    const [name, rest] = line.split(":");
    if (!rest || name.trim() === "lo") continue;
    const f = rest.trim().split(/\s+/).map(Number);
    rx += f[0]; tx += f[8];
  }
  return { rx, tx };
}

const start = { disk: disk(), net: net() };
let lastCpu = cpuTimes();
let pending = [];

function sample() {
  const cpu = cpuTimes();
  const dt = Math.max(1, cpu.total - lastCpu.total);
  const m = memory(), d = disk(), n = net();
  pending.push({
    t: Math.floor(Date.now() / 1000),
    cpu_user: Math.round(((cpu.user - lastCpu.user) / dt) * 10000) / 100,
    cpu_system: Math.round(((cpu.system - lastCpu.system) / dt) * 10000) / 100,
    mem_used: m.used, mem_total: m.total,
    disk_read: d.r - start.disk.r, disk_write: d.w - start.disk.w,
    net_rx: n.rx - start.net.rx, net_tx: n.tx - start.net.tx,
  });
  lastCpu = cpu;
}

async function token() {
  const base = process.env.ACTIONS_ID_TOKEN_REQUEST_URL;
  const bearer = process.env.ACTIONS_ID_TOKEN_REQUEST_TOKEN;
  if (!base || !bearer) throw new Error("no OIDC token: add `permissions: id-token: write`");
  const response = await fetch(base + "&audience=" + encodeURIComponent(audience), { headers: { authorization: "Bearer " + bearer } });
  if (!response.ok) throw new Error("token request: HTTP " + response.status);
  return (await response.json()).value;
}

async function flush() {
  if (pending.length === 0 || !url) return;
  const batch = pending.splice(0, 1000);
  try {
    const response = await fetch(url + "/api/metrics", {
      method: "POST",
      headers: { "content-type": "application/json", authorization: "Bearer " + (await token()) },
      body: JSON.stringify({ samples: batch }),
    });
    if (response.status === 202) return;
    const text = await response.text();
    log("HTTP " + response.status + ": " + text);
    // Retry later only what may succeed later; a refusal of the batch drops it.
    if (response.status >= 500 || response.status === 429 || response.status === 404) pending = batch.concat(pending).slice(-5000);
  } catch (err) {
    log(String(err && err.message || err));
    pending = batch.concat(pending).slice(-5000);
  }
}

const sampling = setInterval(sample, interval);
const posting = setInterval(flush, every);
let stopping = false;
process.on("SIGTERM", async () => {
  if (stopping) return;
  stopping = true;
  clearInterval(sampling); clearInterval(posting);
  sample();
  await flush();
  process.exit(0);
});
sample();
