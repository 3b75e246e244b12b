// Alerts: what a new break (`bb:break`, from state.js) and a fix (`bb:fix`) do. `sound=1` plays a
// short sound; on a TV the break is highlighted for a hold: the answer view (or a pinned view,
// `rotate=0`) stays and shows it (its tile or item marked, a banner on views that do not list
// the reds), any other view gives way to the answer view. The hold delays the rotation (one
// later break extends it once at most). Loaded by TV pages and pages with `sound=1`; the rules:
// docs/board.md.

import { HOLD_MS, alertBox, answer, ds, forget, load, rotateMs, save, tv, view } from "./board.js";
import { resync } from "./app.js";

// Plays the sound for `kind` if `sound=1`; returns how long it lasts (ms), 0 for none.
let audio = null;
function sound(kind) {
  if (ds.sound !== "1") return 0;
  try {
    audio = audio || new (window.AudioContext || window.webkitAudioContext)();
    const notes = kind === "break" ? [660, 440, 330] : [440, 554, 660];
    notes.forEach(function (hz, i) {
      const osc = audio.createOscillator();
      const gain = audio.createGain();
      const at = audio.currentTime + i * 0.16;
      osc.frequency.value = hz;
      gain.gain.setValueAtTime(0.2, at);
      gain.gain.exponentialRampToValueAtTime(0.001, at + 0.15);
      osc.connect(gain).connect(audio.destination);
      osc.start(at);
      osc.stop(at + 0.16);
    });
    return 500; // the last note ends 0.48 s in
  } catch {
    return 0; /* no audio: the screen still shows it */
  }
}

/** The break being highlighted ({ keys, names, until }), or null. */
export function highlight() {
  const held = load("bb.highlight", null);
  if (!held || held.until < Date.now()) return null;
  return held;
}

/** Marks each of `items` whose `data-key` is a highlighted break (`fresh`); which are, in order. */
export function markFresh(items) {
  const held = highlight();
  const list = [];
  for (const item of items) {
    const fresh = !!held && held.keys.indexOf(item.dataset.key) >= 0;
    if (item.classList.contains("fresh") !== fresh) item.classList.toggle("fresh", fresh);
    list.push(fresh);
  }
  return list;
}

// The hold of this visit of the rotation: the first break starts it, one later break extends
// it, and it is spent (no new hold) until the rotation moves on (rotation.js forgets it).
function hold(now) {
  const held = load("bb.hold", null);
  if (!held) {
    save("bb.hold", { started: now, until: now + HOLD_MS, extended: false });
  } else if (held.until > now && !held.extended) {
    held.until = Math.min(now + HOLD_MS, held.started + 1.5 * HOLD_MS);
    held.extended = true;
    save("bb.hold", held);
  }
}

/** Whether a break holds this view on screen. */
export function holding() {
  const held = load("bb.hold", null);
  return !!held && held.until > Date.now();
}

/** The rotation moved on: the next view starts without a hold. */
export function release() {
  forget("bb.hold");
}

/**
 * On a view that does not list the reds (the Waterfall, Developer), a new break being
 * highlighted shows as a banner: "✖ new break: repo (workflow)".
 */
export function banner() {
  const held = highlight();
  const shown = held && view !== "wall" && view !== "triage";
  alertBox("tv-break", shown ? "✖ new break: " + (held.names || held.keys).join(" · ") : "");
}

function newBreak(keys, names) {
  const playing = sound("break");
  if (!tv) return;
  const now = Date.now();
  const before = highlight();
  const known = before ? before.keys : [];
  save("bb.highlight", {
    keys: known.concat(keys.filter(function (key) { return known.indexOf(key) < 0; })),
    names: names.concat(before && before.names ? before.names : []).slice(0, 4),
    until: now + HOLD_MS,
  });
  if (rotateMs > 0) hold(now);
  if (rotateMs === 0 || view === answer) {
    banner();
    resync();
  } else if (ds.alertUrl) {
    // Leaving the page would cut the sound short: go once it has played.
    const go = function () { location.replace(ds.alertUrl); };
    if (playing) setTimeout(go, playing); else go();
  }
}

document.addEventListener("bb:break", function (event) { newBreak(event.detail.keys, event.detail.names); });
document.addEventListener("bb:fix", function () { sound("fix"); });
