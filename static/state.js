// The board's state on every page: the title and icon say how many watched tiles are red ("2 red
// · buildboard", a red or green icon), from the Wall's state part (`part=state`, rendered once per
// change for every screen); a red tile that is new, or breaks anew, is told as `bb:break`, one
// that is gone as `bb:fix` (alerts.js shows them). Every board page loads it.

import { body, ds, emit, load, save } from "./board.js";

const STATE_EVERY = 60 * 1000;
const favicon = document.getElementById("favicon");
let stateTimer = 0;
let lastStateFetch = 0;
let stateInFlight = false;
let redRepos = new Set();

function showState(state) {
  redRepos = new Set((state.reds || []).map(function (red) { return red.repo; }));
  const red = Number(state.red) || 0;
  body.dataset.red = String(red);
  // The App's background backfill, in the viewer's scope: "backfilling 12 of 25 repositories".
  const backfill = document.getElementById("backfilling");
  if (backfill && backfill.textContent !== (state.backfilling || "")) {
    backfill.textContent = state.backfilling || "";
    backfill.hidden = !state.backfilling;
  }
  // A filter naming something unknown (a typo) never reads as green.
  const green = !state.unknown && state.total > 0;
  document.title = (red > 0 ? red + " red" : state.unknown ? "no such name" : green ? "all green" : "no runs yet") + " · buildboard";
  const icon = red > 0 ? "/static/red.svg" : green ? "/static/green.svg" : "/static/grey.svg";
  if (favicon && favicon.getAttribute("href") !== icon) favicon.setAttribute("href", icon);
}

// Red tiles seen before, by key, with their newest break: a key that is new, or breaks anew, is
// news; one that is gone is a fix. Kept across the rotation's reloads.
function compare(state) {
  const seen = load("bb.reds", null);
  const now = {};
  const names = {};
  for (const red of state.reds || []) {
    now[red.key] = red.newest_break || red.since || 0;
    names[red.key] = red.repo + (red.workflows && red.workflows.length ? " (" + red.workflows[0] + ")" : "");
  }
  save("bb.reds", now);
  if (seen === null) return;
  const broke = Object.keys(now).filter(function (key) {
    return !(key in seen) || now[key] > seen[key];
  });
  const fixed = Object.keys(seen).filter(function (key) { return !(key in now); });
  if (broke.length) emit("bb:break", { keys: broke, names: broke.map(function (key) { return names[key]; }) });
  else if (fixed.length) emit("bb:fix");
}

function fetchState() {
  if (!ds.stateUrl || stateInFlight) return;
  stateInFlight = true;
  lastStateFetch = Date.now();
  fetch(ds.stateUrl, { cache: "no-store", credentials: "same-origin" })
    .then(function (response) {
      if (!response.ok) throw new Error("HTTP " + response.status);
      return response.json();
    })
    .then(function (state) { showState(state); emit("bb:state", state); compare(state); })
    .catch(function () { /* the next change or the minute's check asks again */ })
    .then(function () { stateInFlight = false; });
}

// Bursts of runs cost one fetch per screen at most every 1.5 s; the answer is shared.
function scheduleState() {
  if (stateTimer) return;
  const wait = Math.max(250 + Math.random() * 400, 1500 - (Date.now() - lastStateFetch));
  stateTimer = setTimeout(function () { stateTimer = 0; fetchState(); }, wait);
}

// Only a run that can change the state asks for it again: a red result anywhere (a new break),
// or any result in a repository with a red tile (a fix). The minute's check catches the rest.
// The red conclusions are the page's (src/run_state.rs, their one home).
const redConclusions = (ds.redConclusions || "").split(",");
document.addEventListener("bb:message", function (event) {
  const message = event.detail;
  if (message.type === "hello" || message.type === "backfill") { scheduleState(); return; }
  const build = message.type === "run" && message.build;
  if (!build || build.status !== "completed") return;
  if (redConclusions.indexOf(build.conclusion) >= 0 || redRepos.has(build.repo)) scheduleState();
});

fetchState();
setInterval(fetchState, STATE_EVERY);
