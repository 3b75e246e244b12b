// Times for people: relative times ("3 min ago", "red 2 d 3 h"), with the absolute time in the
// viewer's zone (or --timezone) as their hover text, and running runs' progress bars with the
// time left. Every board page loads it; it redraws what a redrawn part (`bb:updated`) brought.

import { ds } from "./board.js";

const TIMES_EVERY = 30 * 1000;

function formatter(zone) {
  return new Intl.DateTimeFormat(undefined, {
    timeZone: zone, weekday: "short", month: "short", day: "numeric",
    hour: "2-digit", minute: "2-digit", timeZoneName: "short",
  });
}

let absolute;
try {
  absolute = formatter(ds.timezone || undefined);
} catch {
  // An unknown zone: the browser's own.
  absolute = formatter(undefined);
}
const zoneLabel = document.getElementById("zone");
if (zoneLabel) zoneLabel.textContent = "times: " + (absolute.resolvedOptions().timeZone || "local");

/** Seconds as the two largest units: "45 s", "3 min", "2 h 5 min", "2 d 3 h" (views::span). */
export function span(seconds) {
  const s = Math.max(0, Math.floor(seconds));
  const d = Math.floor(s / 86400), h = Math.floor((s % 86400) / 3600), m = Math.floor((s % 3600) / 60);
  if (d) return h ? d + " d " + h + " h" : d + " d";
  if (h) return m ? h + " h " + m + " min" : h + " h";
  if (m) return m + " min";
  return s + " s";
}

function epochOf(el) {
  if (el.dataset.epoch) return Number(el.dataset.epoch);
  const ms = Date.parse(el.getAttribute("datetime"));
  return isNaN(ms) ? null : ms / 1000;
}

// Rewrites <time> elements: `data-rel="for"` reads "2 d 3 h", others "3 min ago"; the hover
// text is the absolute time with its zone. Only what changed is written.
function showTimes(all) {
  const now = Date.now() / 1000;
  const list = all ? document.querySelectorAll("time[datetime]")
    : document.querySelectorAll("time[datetime]:not([data-shown])");
  for (const el of list) {
    const epoch = epochOf(el);
    if (epoch === null) continue;
    const text = el.dataset.rel === "for" ? span(now - epoch) : span(now - epoch) + " ago";
    if (el.textContent !== text) el.textContent = text;
    if (!el.dataset.shown) {
      el.dataset.shown = "1";
      el.title = absolute.format(new Date(epoch * 1000));
    }
  }
}

// Running runs' bars: filled to now, filling on to their expected end by a transform
// animation (static/app.css), with the time left; set once per drawn bar.
function showProgress() {
  const now = Date.now() / 1000;
  for (const el of document.querySelectorAll(".tile-progress")) {
    const started = Number(el.dataset.started);
    const expected = Number(el.dataset.expected);
    const left = el.querySelector(".left");
    if (!expected) { if (left && left.textContent !== "◔ running") left.textContent = "◔ running"; continue; }
    const remaining = started + expected - now;
    const text = remaining > 0 ? "◔ ~" + span(remaining) + " left" : "◔ longer than usual";
    if (left && left.textContent !== text) left.textContent = text;
    if (el.dataset.set) continue;
    el.dataset.set = "1";
    el.style.setProperty("--done", String(Math.min(1, Math.max(0, (now - started) / expected))));
    el.style.setProperty("--left", Math.max(0, remaining) + "s");
  }
}

// Synchronously, before the redrawn part is painted.
document.addEventListener("bb:updated", function () {
  showTimes(false);
  showProgress();
});

showTimes(true);
showProgress();
setInterval(function () { showTimes(true); showProgress(); }, TIMES_EVERY);
