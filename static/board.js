// What every module of a board page reads first: the page's settings, which the server renders
// on <body> as data attributes (templates/base.html, from BoardQuery::chrome: their one source),
// the page's memory across the TV rotation's reloads (sessionStorage), and the events the
// modules tell each other by:
// - `bb:message`: a feed message (detail: the parsed message), from app.js;
// - `bb:updated`: part of the page was redrawn (detail: "live", "hud", "runs"), from app.js
//   and runs.js;
// - `bb:state`: the Wall's state was read (detail: the state), from state.js;
// - `bb:break` / `bb:fix`: a new break (detail: { keys, names }) or a fix, from state.js.
// No module builds markup from payload text: only server-rendered fragments, textContent and
// classes.

export const body = document.body;
export const ds = body.dataset;
/** `wall`, `waterfall`, `triage`, `developer`, `people`, `run` or `runners`. */
export const view = ds.view;
/** TV mode (`tv=1`). */
export const tv = ds.tv === "1";

/** Waterfall rows the page keeps (the server's number, rendered per page). */
export const maxRows = Number(ds.maxRows);
/** Stream entries the page keeps (the server's number). */
export const maxStream = Number(ds.maxStream);
/** Seconds a page of a long list stays up on a TV (`page=`, the server's default). */
export const pageMs = Number(ds.pageSeconds) * 1000;
/** Seconds a view other than the answer view stays up on a TV (`rotate=`; 0: it stays). */
export const rotateMs = Number(ds.rotate) * 1000;

/** The rotation, `[[view, url], ...]` in order (empty: this view stays put, `rotate=0`). */
export const rotation = (function () {
  try {
    const stops = JSON.parse(ds.rotation || "[]");
    return Array.isArray(stops) ? stops : [];
  } catch {
    return [];
  }
})();

/**
 * The answer view (the Wall, or Triage in a rotation without it) stays ANSWER_DWELL times as long
 * as the others: with the default rotation (Wall, Triage while something is red) the answer is up
 * at least 80 % of the time.
 */
export const ANSWER_DWELL = 4;
const has = (name) => rotation.some((stop) => stop[0] === name);
/** The view that answers "what is red": where a new break is shown. */
export const answer = has("wall") || !has("triage") ? "wall" : "triage";
/**
 * A new break holds the screen for the answer view's time (one later break extends it, to at most
 * 1.5 times that from its start; see alerts.js).
 */
export const HOLD_MS = ANSWER_DWELL * (rotateMs || 15000);

const store = window.sessionStorage;

/** The value kept under `key` (JSON), or `fallback`. */
export function load(key, fallback) {
  try {
    const text = store.getItem(key);
    return text === null ? fallback : JSON.parse(text);
  } catch {
    return fallback;
  }
}

/** Keeps `value` under `key` for the next pages of this tab. */
export function save(key, value) {
  try {
    store.setItem(key, JSON.stringify(value));
  } catch {
    /* private mode: no memory */
  }
}

/** Forgets `key`. */
export function forget(key) {
  try {
    store.removeItem(key);
  } catch {
    /* private mode: nothing kept */
  }
}

/** Tells the page's other modules `name` (see above). */
export function emit(name, detail) {
  document.dispatchEvent(new CustomEvent(name, { detail: detail }));
}

/** Parses one server-rendered element; <template> parsing runs no script and loads nothing. */
export function fragment(html) {
  const template = document.createElement("template");
  template.innerHTML = html.trim();
  return template.content.firstElementChild;
}

/**
 * Shows `text` in the TV's `role="alert"` box `id` (made on first use, with the class `id`), or
 * removes the box when `text` is empty.
 */
export function alertBox(id, text) {
  let box = document.getElementById(id);
  if (!text) { if (box) box.remove(); return; }
  if (!box) {
    box = document.createElement("div");
    box.id = id;
    box.className = id;
    box.setAttribute("role", "alert");
    body.appendChild(box);
  }
  if (box.textContent !== text) box.textContent = text;
}
