// buildboard's TV side, and what every page shows of the whole board's state:
// - the title and icon say how many watched tiles are red ("2 red · buildboard", a red or green
//   icon), from the Wall's state part (`part=state`, rendered once per change for every screen);
// - relative times ("3 min ago", "red 2 d 3 h"), with the absolute time, in the viewer's zone
//   (or --timezone), as their hover text;
// - TV mode: the Wall's tiles sized to the screen (red tiles on every page, the others paged past
//   a readable minimum, long names shrunk before they wrap), running runs' progress bars, long
//   lists paged to what fits, the rotation (the answer view four times as long as the others,
//   Triage skipped while nothing is red, every page shown), a new break on a watched branch
//   interrupting it to show it highlighted and held (extended once at most; a pinned view shows a
//   banner instead), `sound=1`, and a readable, self-retrying notice when the next view cannot be
//   fetched. The rules: docs/board.md.
// Like app.js it never builds markup from payload text: only textContent and classes.
(function () {
  "use strict";

  // boardPage is app.js's, which every page loads before this script.
  const { body, ds, view, tv } = boardPage();
  // The rotation, `[[view, url], ...]` in order (empty: this view stays put, `rotate=0`).
  let rotation = [];
  try { rotation = JSON.parse(ds.rotation || "[]"); } catch (err) { rotation = []; }
  const rotateMs = (Number(ds.rotate) || 0) * 1000;
  const has = function (name) { return rotation.some(function (stop) { return stop[0] === name; }); };
  // The answer view (the Wall, or Triage in a rotation without it) stays ANSWER_DWELL times as
  // long as the others: with the default rotation (Wall, Triage while something is red) the
  // answer is up at least 80 % of the time.
  const ANSWER_DWELL = 4;
  const answer = has("wall") || !has("triage") ? "wall" : "triage";
  const dwellMs = view === answer && rotation.length > 1 ? ANSWER_DWELL * rotateMs : rotateMs;
  // A new break holds the screen for the answer view's time; one later break during the hold
  // extends it, to at most 1.5 times that from its start; the rotation then moves on.
  const HOLD_MS = ANSWER_DWELL * (rotateMs || 15000);
  // The server's number (BoardQuery::chrome), its one source.
  const maxRows = Number(ds.maxRows);
  const TIMES_EVERY = 30 * 1000;
  const STATE_EVERY = 60 * 1000;
  const store = window.sessionStorage;

  function load(key, fallback) {
    try {
      const text = store.getItem(key);
      return text === null ? fallback : JSON.parse(text);
    } catch (err) { return fallback; }
  }

  function save(key, value) {
    try { store.setItem(key, JSON.stringify(value)); } catch (err) { /* private mode: no memory */ }
  }

  // A page that loaded is not an error any more.
  store.removeItem("bb.errorAttempt");
  if (tv) store.setItem("bb.tv", "1"); else store.removeItem("bb.tv");

  // ---- time for people ------------------------------------------------------------------------

  let zone = ds.timezone || undefined;
  let absolute;
  try {
    absolute = new Intl.DateTimeFormat(undefined, {
      timeZone: zone, weekday: "short", month: "short", day: "numeric",
      hour: "2-digit", minute: "2-digit", timeZoneName: "short",
    });
  } catch (err) {
    zone = undefined;
    absolute = new Intl.DateTimeFormat(undefined, {
      weekday: "short", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit",
      timeZoneName: "short",
    });
  }
  const zoneName = absolute.resolvedOptions().timeZone || "local";
  const zoneLabel = document.getElementById("zone");
  if (zoneLabel) zoneLabel.textContent = "times: " + zoneName;

  // Seconds as the two largest units: "45 s", "3 min", "2 h 5 min", "2 d 3 h" (views::span).
  function span(seconds) {
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

  // ---- the board's state: title, icon, new breaks, fixes ---------------------------------------

  const favicon = document.getElementById("favicon");
  let stateTimer = 0;
  let lastStateFetch = 0;
  let stateInFlight = false;

  let redRepos = new Set();

  function showState(state) {
    redRepos = new Set((state.reds || []).map(function (red) { return red.repo; }));
    const red = Number(state.red) || 0;
    body.dataset.red = String(red);
    const backfill = document.getElementById("backfilling");
    if (backfill && backfill.textContent !== (state.backfilling || "")) { backfill.textContent = state.backfilling || ""; backfill.hidden = !state.backfilling; }
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
    if (broke.length) newBreak(broke, broke.map(function (key) { return names[key]; }));
    else if (fixed.length) sound("fix");
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
      .then(function (state) { showState(state); compare(state); })
      .catch(function () { /* the next change or the minute's check asks again */ })
      .then(function () { stateInFlight = false; });
  }

  // Bursts of runs cost one fetch per screen at most every 1.5 s; the answer is shared.
  function scheduleState() {
    if (stateTimer) return;
    const wait = Math.max(250 + Math.random() * 400, 1500 - (Date.now() - lastStateFetch));
    stateTimer = setTimeout(function () { stateTimer = 0; fetchState(); }, wait);
  }

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
    } catch (err) { return 0; /* no audio: the screen still shows it */ }
  }

  // A new break: a sound, and on a TV the view that shows it, highlighted for the hold. A pinned
  // view (`rotate=0`) stays: the break shows there as a banner and the highlight.
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
      if (window.buildboard) window.buildboard.resync();
    } else if (ds.alertUrl) {
      // Leaving the page would cut the sound short: go once it has played.
      const go = function () { location.replace(ds.alertUrl); };
      if (playing) setTimeout(go, playing); else go();
    }
  }

  function highlight() {
    const held = load("bb.highlight", null);
    if (!held || held.until < Date.now()) return null;
    return held;
  }

  // The hold of this visit of the rotation: the first break starts it, one later break extends
  // it, and it is spent (no new hold) until the rotation moves on (rotate() forgets it).
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

  function holding() {
    const held = load("bb.hold", null);
    return !!held && held.until > Date.now();
  }

  // On a view that does not list the reds (the Waterfall, Developer), a new break being
  // highlighted shows as a banner: "✖ new break: repo (workflow)".
  function banner() {
    const held = highlight();
    let box = document.getElementById("tv-break");
    if (!held || view === "wall" || view === "triage") { if (box) box.remove(); return; }
    if (!box) {
      box = document.createElement("div");
      box.id = "tv-break";
      box.className = "tv-break";
      box.setAttribute("role", "alert");
      body.appendChild(box);
    }
    const text = "✖ new break: " + (held.names || held.keys).join(" · ");
    if (box.textContent !== text) box.textContent = text;
  }

  // ---- TV: the Wall's tiles, sized to the screen -------------------------------------------------

  let page = 0;
  let pages = 1;

  // The largest font (px) a grid of `cells` cells in w x h gives its tiles, with its columns and
  // rows. A red tile takes two cells, one above the other (`reds` of them, so two rows at least).
  function bestGrid(cells, reds, w, h, gap) {
    let best = { font: 0, cols: 1, rows: cells };
    for (let cols = 1; cols <= cells; cols++) {
      const rows = Math.max(reds ? 2 : 1, Math.ceil(cells / cols));
      if (reds > cols * Math.floor(rows / 2)) continue;
      const tw = (w - gap * (cols - 1)) / cols;
      const th = (h - gap * (rows - 1)) / rows;
      // Every line of a tile is at the tile's size (28 px at 1080p at least). A cell holds about
      // 4.4 lines (a green tile: name, when, a running run's bar and time left; a red one, in
      // two: name, newest break, since, who, older reds, fix, progress), ~11 characters a line
      // (longer names wrap).
      const font = Math.min(th / 4.4, tw / 11, window.innerHeight / 10);
      if (font > best.font) best = { font: font, cols: cols, rows: rows };
    }
    return best;
  }

  // The Wall on a TV: every red tile on every page (the answer never pages away), the others
  // paged in the room left; if even the reds alone do not fit, pages of tiles as if all red.
  function layoutWall() {
    const tiles = document.getElementById("tiles");
    const pager = document.getElementById("wall-pager");
    if (!tiles) { pages = 1; if (pager) pager.textContent = ""; return; }
    const items = tiles.children;
    const count = items.length;
    const top = tiles.getBoundingClientRect().top;
    const gap = Math.max(6, window.innerHeight / 120);
    const w = tiles.clientWidth;
    const h = window.innerHeight - top - gap;
    // Names stay readable across a room: at least 28 px at 1080p, never under 25 px.
    const minFont = Math.max(25, 28 * window.innerHeight / 1080);
    let reds = 0;
    while (reds < count && items[reds].dataset.state === "red") reds += 1;
    const others = count - reds;
    let shown = others;
    let grid = bestGrid(2 * reds + shown, reds, w, h, gap);
    while (grid.font < minFont && shown > 1) {
      shown -= 1;
      grid = bestGrid(2 * reds + shown, reds, w, h, gap);
    }
    let pinned = reds;
    let per = shown;
    if (grid.font < minFont && reds > 1) {
      pinned = 0;
      per = count;
      while (per > 1 && bestGrid(2 * per, per, w, h, gap).font < minFont) per -= 1;
    }
    pages = Math.max(1, Math.ceil((count - pinned) / Math.max(1, per)));
    per = Math.ceil((count - pinned) / pages);
    grid = pinned ? bestGrid(2 * pinned + per, pinned, w, h, gap) : bestGrid(2 * per, per, w, h, gap);
    const held = highlight();
    page = page % pages;
    tiles.style.setProperty("--cols", String(grid.cols));
    tiles.style.setProperty("--rows", String(grid.rows));
    tiles.style.setProperty("--gap", gap + "px");
    tiles.style.setProperty("--tile-font", Math.floor(grid.font) + "px");
    tiles.style.setProperty("height", Math.floor(h) + "px");
    for (let i = 0; i < count; i++) {
      const item = items[i];
      const on = i < pinned || Math.floor((i - pinned) / per) === page;
      item.classList.toggle("off", !on);
      item.classList.toggle("fresh", !!held && held.keys.indexOf(item.dataset.key) >= 0);
    }
    if (pager) pager.textContent = pages > 1 ? "page " + (page + 1) + " of " + pages : "";
    fitTiles(items, minFont);
  }

  // A tile whose text does not fit (a name longer than a line, more lines than its cell) is
  // shrunk, down to the floor; only then do its words wrap anywhere. Nothing is cut with "…".
  function fitTiles(items, minFont) {
    for (const item of items) {
      if (item.style.fontSize) item.style.removeProperty("font-size");
      item.classList.remove("squeezed");
    }
    for (const item of items) {
      if (item.classList.contains("off")) continue;
      const name = item.querySelector(".tile-name .name");
      const over = function () {
        return item.scrollHeight > item.clientHeight + 1 || (!!name && name.scrollWidth > name.clientWidth + 1);
      };
      if (!over()) continue;
      let font = parseFloat(getComputedStyle(item).fontSize);
      while (over() && font > minFont) {
        font = Math.max(minFont, font * 0.92);
        item.style.fontSize = font + "px";
      }
      if (over()) item.classList.add("squeezed");
    }
  }

  // Outside TV mode the Wall scrolls; a new break is still marked.
  function markFresh() {
    const held = highlight();
    for (const item of document.querySelectorAll("#tiles > .tile")) {
      item.classList.toggle("fresh", !!held && held.keys.indexOf(item.dataset.key) >= 0);
    }
  }

  // ---- TV: lists paged to what fits ----------------------------------------------------------

  // Triage's reds, the people, a person's runs: pages of as many items as fit above the screen's
  // bottom edge. The waterfall's rows and stream entries that do not fit are left out.
  function layoutLists() {
    let most = 1;
    const bottom = window.innerHeight - 4;
    for (const list of document.querySelectorAll("#reds, #people, #repos, .dev-recent tbody, .dev-now .stream-list")) {
      const items = Array.prototype.filter.call(list.children, function (el) { return el.tagName !== "SCRIPT"; });
      for (const item of items) item.classList.remove("off");
      if (!items.length) continue;
      const room = bottom - list.getBoundingClientRect().top;
      const starts = [0];
      let origin = items[0].getBoundingClientRect().top;
      for (let i = 0; i < items.length; i++) {
        const rect = items[i].getBoundingClientRect();
        if (rect.bottom - origin > room && i > starts[starts.length - 1]) {
          starts.push(i);
          origin = rect.top;
        }
      }
      const count = starts.length;
      most = Math.max(most, count);
      // A new break being held: its item is marked, and its page shown.
      const held = highlight();
      let heldAt = -1;
      for (let i = 0; i < items.length; i++) {
        const fresh = !!held && held.keys.indexOf(items[i].dataset.key) >= 0;
        items[i].classList.toggle("fresh", fresh);
        if (fresh && heldAt < 0) heldAt = i;
      }
      if (heldAt >= 0) {
        let p = 0;
        while (p + 1 < count && starts[p + 1] <= heldAt) p += 1;
        page = p;
      }
      const shown = page % count;
      const from = starts[shown], to = shown + 1 < count ? starts[shown + 1] : items.length;
      for (let i = 0; i < items.length; i++) items[i].classList.toggle("off", i < from || i >= to);
    }
    // The waterfall off a TV page by repository (one repository, too many columns): columns that
    // do not fit are left out, whole.
    const grid = document.getElementById("grid-body");
    if (grid) fitRows(grid, bottom);
    fitLanes();
    const stream = document.getElementById("stream");
    if (stream) fitRows(stream, bottom);
    const pager = document.getElementById("pager");
    if (pager) pager.textContent = most > 1 ? "page " + (page % most + 1) + " of " + most : "";
    return most;
  }

  // Rows (of the waterfall, of the stream) are as tall as each other: as many as fit above
  // `bottom` are shown, the rest left out whole. One read of the layout, and a class changed only
  // where the answer changed (a live update moves one row past the edge).
  function fitRows(list, bottom) {
    const items = list.children;
    let first = null;
    for (const item of items) if (!item.classList.contains("off")) { first = item; break; }
    if (!first) first = items[0];
    if (!first) return;
    first.classList.remove("off");
    const rect = first.getBoundingClientRect();
    const fit = rect.height > 0 ? Math.floor((bottom - rect.top) / rect.height) : items.length;
    let i = 0;
    for (const item of items) {
      const out = i >= fit;
      if (item.classList.contains("off") !== out) item.classList.toggle("off", out);
      i += 1;
    }
  }

  // The waterfall's workflow columns that do not fit the screen's width are left out, whole
  // (header and cells), rather than cut at the edge; measured again only when the columns change.
  let fittedLanes = -1;
  function fitLanes(force) {
    const head = document.getElementById("grid-head");
    const grid = document.getElementById("grid-body");
    if (!head || !grid) return;
    const lanes = head.querySelectorAll("th[data-lane]");
    if (!force && lanes.length === fittedLanes) {
      // Cells of a new row follow their column's choice.
      const out = new Set();
      for (const th of lanes) if (th.classList.contains("off")) out.add(th.dataset.lane);
      if (out.size) {
        for (const td of grid.querySelectorAll("td.lane:not(.off)")) {
          if (out.has(td.dataset.lane)) td.classList.add("off");
        }
      }
      return;
    }
    fittedLanes = lanes.length;
    for (const th of lanes) th.classList.remove("off");
    for (const td of grid.querySelectorAll("td.lane.off")) td.classList.remove("off");
    const right = window.innerWidth;
    const out = new Set();
    for (const th of lanes) {
      if (th.getBoundingClientRect().right > right) out.add(th.dataset.lane);
    }
    if (!out.size) return;
    for (const th of lanes) if (out.has(th.dataset.lane)) th.classList.add("off");
    for (const td of grid.querySelectorAll("td.lane")) {
      if (out.has(td.dataset.lane)) td.classList.add("off");
    }
  }

  // ---- TV: the waterfall, as many whole repositories as the screen's width holds -----------------

  // The server sends the most recently active repositories, each with its newest rows, every row
  // with a cell per column of the page. Here they are packed, in the server's order, into pages of
  // as many whole repositories as fit beside the commit column; each page's `data-page` (groups,
  // columns, rows) is rewritten to its page here. A row keeps only its own page's cells (the others
  // are never shown: fewer nodes for every frame's style, layout and paint). Of a page's rows, the
  // newest that fit above the screen's bottom edge are shown.
  //
  // Live updates (`bb:updated` "runs", at most one a frame) cost only what changed: a new row gets
  // its page and cells, and the shown page is checked against the bottom edge with one read of the
  // layout, after every write of the frame (no forced extra layout).
  let wf = null;
  let measures = null;

  function rowRepo(tr) {
    const key = tr.dataset.commit || "";
    const at = key.lastIndexOf("@");
    return at < 0 ? key : key.slice(0, at);
  }

  // A new or redrawn row: its page, its page's cells only.
  function placeRow(tr) {
    const p = wf.repoPage.get(rowRepo(tr));
    const page = p === undefined ? -1 : p;
    tr.dataset.page = String(page);
    tr.dataset.tvPage = String(page);
    for (const td of Array.prototype.slice.call(tr.cells)) {
      if (!td.classList.contains("lane")) continue;
      const lp = wf.lanePage.get(td.dataset.lane);
      if (lp !== page) td.remove(); else td.dataset.page = String(page);
    }
    return page;
  }

  function packWaterfall() {
    const head = document.getElementById("grid-head");
    const body = document.getElementById("grid-body");
    const wrap = document.querySelector(".grid-wrap");
    if (!head || !body || !wrap) { wf = null; return 1; }
    const lanes = Array.prototype.slice.call(head.querySelectorAll("th[data-lane]"));
    const groupHeads = new Map();
    for (const th of document.querySelectorAll("#grid-groups th.repo-head")) groupHeads.set(th.dataset.repo, th);
    // Repositories in the server's order, with their columns.
    const repos = [];
    const byRepo = new Map();
    for (const th of lanes) {
      let group = byRepo.get(th.dataset.repo);
      if (!group) { group = { repo: th.dataset.repo, lanes: [] }; byRepo.set(group.repo, group); repos.push(group); }
      group.lanes.push(th);
    }
    // The screen's measures, read once per size of window: a redrawn grid (whose new rows are
    // not drawn until placed here, see app.css) is packed without laying anything out.
    if (!measures) {
      const rem = parseFloat(getComputedStyle(document.documentElement).fontSize) || 16;
      // A column is 7rem wide (app.css).
      measures = { rem: rem, laneW: 7 * rem, width: wrap.clientWidth };
    }
    const rem = measures.rem, laneW = measures.laneW, width = measures.width;
    // The commit column keeps room for its time, repository, branch and the start of a message.
    const room = width - Math.max(18 * rem, width * 0.22);
    const fits = Math.max(1, Math.floor((room + 1) / (laneW + 1)));
    const repoPage = new Map();
    const lanePage = new Map();
    let page = 0, used = 0;
    for (const group of repos) {
      const span = group.lanes.length;
      if (used > 0 && used + span > fits) { page += 1; used = 0; }
      repoPage.set(group.repo, page);
      // A repository wider than the screen: its columns that do not fit are left out, whole.
      const shown = Math.min(span, fits);
      group.lanes.forEach(function (th, i) {
        const p = i < shown ? page : -1;
        lanePage.set(th.dataset.lane, p);
        th.dataset.page = String(p);
      });
      const gh = groupHeads.get(group.repo);
      if (gh) {
        gh.dataset.page = String(page);
        if (gh.colSpan !== shown) gh.colSpan = shown;
        if (gh.style.getPropertyValue("--span") !== String(shown)) gh.style.setProperty("--span", String(shown));
      }
      used += shown;
    }
    const count = repos.length ? page + 1 : 1;
    wf = { repoPage: repoPage, lanePage: lanePage, count: count, shown: -1, fit: Infinity };
    for (const tr of Array.prototype.slice.call(body.rows)) placeRow(tr);
    return count;
  }

  // Shows page `shown` of the waterfall: its groups, columns and rows, the rows that fit.
  function showWaterfallPage(bottom) {
    const body = document.getElementById("grid-body");
    const shown = page % wf.count;
    wf.shown = shown;
    for (const el of document.querySelectorAll("#grid-groups th[data-page], #grid-head th[data-page]")) {
      const off = Number(el.dataset.page) !== shown;
      if (el.classList.contains("off") !== off) el.classList.toggle("off", off);
    }
    const rows = [];
    for (const tr of body.rows) {
      const mine = Number(tr.dataset.page) === shown;
      if (mine) rows.push(tr);
      if (tr.classList.contains("off") === mine) tr.classList.toggle("off", !mine);
    }
    // One read of the layout: the rows past the bottom edge are left out, whole.
    wf.fit = rows.length;
    let height = 0;
    for (let i = 0; i < rows.length; i++) {
      const rect = rows[i].getBoundingClientRect();
      if (!height) height = rect.height;
      if (rect.bottom > bottom) { wf.fit = i; break; }
    }
    for (let i = wf.fit; i < rows.length; i++) rows[i].classList.add("off");
    // Rows kept per page: what fits, and a few to spare when a row is cut short by a re-run.
    const first = rows.length ? rows[0].getBoundingClientRect().top : 0;
    const room = height > 0 ? Math.floor((bottom - first) / height) : 0;
    wf.keep = Math.max(maxRows, room + 2);
  }

  // A frame's live runs: new rows placed, each page's rows trimmed, the shown page fitted again.
  function liveWaterfall(bottom) {
    const body = document.getElementById("grid-body");
    if (!body) return;
    const shown = wf.shown;
    const perPage = new Map();
    const rows = [];
    let changed = false;
    for (const tr of Array.prototype.slice.call(body.rows)) {
      if (tr.dataset.tvPage === undefined) { placeRow(tr); changed = true; }
      const p = Number(tr.dataset.page);
      const n = (perPage.get(p) || 0) + 1;
      perPage.set(p, n);
      if (n > wf.keep || p < 0) { tr.remove(); continue; }
      if (p === shown) rows.push(tr);
      else if (!tr.classList.contains("off")) tr.classList.add("off");
    }
    if (!changed && !rows.length) return;
    // Newest first: as many as fitted before, then one read to cut what a taller row pushed out.
    for (let i = 0; i < rows.length; i++) {
      const off = i >= wf.fit;
      if (rows[i].classList.contains("off") !== off) rows[i].classList.toggle("off", off);
    }
    let last = Math.min(wf.fit, rows.length) - 1;
    while (last >= 0 && rows[last].getBoundingClientRect().bottom > bottom) {
      rows[last].classList.add("off");
      last -= 1;
    }
  }

  // The height of the "+N more repositories" line, read at each full layout.
  let moreHeight = 0;

  // The waterfall on a TV: `full` packs and shows the page; otherwise only the frame's changes.
  function layoutWaterfall(full) {
    const bottom = window.innerHeight - 4;
    if (full || !wf) {
      wf = null;
      const count = packWaterfall();
      // The "+N more repositories" line stays on screen below the rows: they stop above it.
      const more = document.getElementById("more-repos");
      moreHeight = more ? more.getBoundingClientRect().height + 4 : 0;
      if (wf) showWaterfallPage(bottom - moreHeight);
      fitStream(bottom, true);
      return count;
    }
    liveWaterfall(bottom - moreHeight);
    fitStream(bottom, false);
    return wf.count;
  }

  // The stream's entries are one line each: as many as fitted at the last full layout are shown.
  let streamFit = -1;
  function fitStream(bottom, measure) {
    const stream = document.getElementById("stream");
    if (!stream) return;
    if (measure || streamFit < 0) {
      fitRows(stream, bottom);
      streamFit = 0;
      for (const item of stream.children) { if (item.classList.contains("off")) break; streamFit += 1; }
      return;
    }
    let i = 0;
    for (const item of stream.children) {
      const out = i >= streamFit;
      if (item.classList.contains("off") !== out) item.classList.toggle("off", out);
      i += 1;
    }
  }

  function showPager(text) {
    const pager = document.getElementById("pager");
    if (pager && pager.textContent !== text) pager.textContent = text;
  }

  function layout(part) {
    if (!tv) { markFresh(); return; }
    if (view === "wall") layoutWall();
    else if (view === "waterfall" && document.getElementById("grid-head")) {
      // Runs and figures redrawn: only what changed; the whole grid redrawn, a resize or a new
      // page: packed and fitted again.
      pages = layoutWaterfall(part !== "runs" && part !== "hud");
      showPager(pages > 1 ? "page " + (page % pages + 1) + " of " + pages : "");
    } else pages = layoutLists();
  }

  // ---- TV: the rotation --------------------------------------------------------------------------

  const pageMs = (Number(ds.pageSeconds) || 8) * 1000;
  const pageKey = "bb.page." + view;
  let shownPages = 0;
  let startedAt = Date.now();
  let rotateFailures = 0;

  function notice(text) {
    let box = document.getElementById("tv-notice");
    if (!text) { if (box) box.remove(); return; }
    if (!box) {
      box = document.createElement("div");
      box.id = "tv-notice";
      box.className = "tv-notice";
      box.setAttribute("role", "alert");
      body.appendChild(box);
    }
    box.textContent = text;
  }

  // The next view, once the server answers for it; a refusal (429, 5xx, a bad parameter) is shown
  // big, and asked again with backoff while this view stays live.
  // The view after this one in the rotation; Triage is skipped while nothing is red. None when
  // the rotation comes back to this view.
  function nextUrl() {
    const here = view === "people" ? "developer" : view;
    const at = rotation.findIndex(function (stop) { return stop[0] === here; });
    for (let i = 1; i <= rotation.length; i++) {
      const stop = rotation[(at + i) % rotation.length];
      if (stop[0] === here) return null;
      if (stop[0] === "triage" && body.dataset.red === "0") continue;
      return stop[1];
    }
    return null;
  }

  function rotate() {
    const conn = document.getElementById("conn");
    const next = nextUrl();
    if (!next) { rotating = false; startedAt = Date.now(); shownPages = 0; return; }
    if (conn && conn.dataset.state !== "open") { setTimeout(rotate, 5000); return; }
    fetch(next, { method: "GET", cache: "no-store", credentials: "same-origin" })
      .then(function (response) {
        if (response.ok) {
          save(pageKey, page + 1);
          store.removeItem("bb.hold");
          location.replace(next);
          return;
        }
        rotateFailures += 1;
        const wait = Math.min(120, 5 * Math.pow(2, rotateFailures - 1));
        const why = response.status === 429 ? "The server is busy (429)"
          : response.status >= 500 ? "The server had a problem (" + response.status + ")"
            : "The next view was refused (" + response.status + ")";
        notice(why + ". Staying here; trying again in " + wait + " s.");
        setTimeout(rotate, wait * 1000);
      })
      .catch(function () {
        rotateFailures += 1;
        const wait = Math.min(120, 5 * Math.pow(2, rotateFailures - 1));
        notice("The server cannot be reached. Trying again in " + wait + " s.");
        setTimeout(rotate, wait * 1000);
      });
  }

  // Every page_s seconds the next page; once every page was shown and the view had its time
  // (rotate=N seconds, the answer view four times that), the next view. A new break being held
  // on screen waits for its hold.
  let pageShownAt = Date.now();
  let rotating = false;

  function step() {
    const now = Date.now();
    banner();
    // Held: the view has had its time once the hold ends; its pages go on turning meanwhile
    // (the Wall's red tiles are on every page, Triage stays on the held item's).
    const held = holding();
    if (held) startedAt = Math.min(startedAt, now - dwellMs);
    // A rotating view's pages all fit in its time when they can (page=N seconds at most, 2 s at
    // least); every page is shown before the next view.
    const perPage = rotateMs > 0 && pages > 1 ? Math.max(2000, Math.min(pageMs, dwellMs / pages)) : pageMs;
    const pageDone = now - pageShownAt >= perPage;
    const seenAll = shownPages + 1 >= pages && (pages === 1 || pageDone);
    if (!held && rotateMs > 0 && seenAll && now - startedAt >= dwellMs) {
      if (!rotating) { rotating = true; rotate(); }
      return;
    }
    if (pages > 1 && pageDone) {
      page = (page + 1) % pages;
      shownPages += 1;
      pageShownAt = now;
      save(pageKey, page);
      layout();
    }
  }

  // ---- wiring ---------------------------------------------------------------------------------

  // Only a run that can change the state asks for it again: a red result anywhere (a new break),
  // or any result in a repository with a red tile (a fix). The minute's check catches the rest.
  const redConclusions = (ds.redConclusions || "").split(",");
  document.addEventListener("bb:message", function (event) {
    const message = event.detail;
    if (message.type === "hello" || message.type === "backfill") { scheduleState(); return; }
    const build = message.type === "run" && message.build;
    if (!build || build.status !== "completed") return;
    if (redConclusions.indexOf(build.conclusion) >= 0 || redRepos.has(build.repo)) scheduleState();
  });
  // Synchronously, before the redrawn part is painted: a redrawn Wall never shows unsized or
  // without its highlight. (Updates already come at most once per frame or per fetched part.)
  document.addEventListener("bb:updated", function (event) {
    if (event.detail === "live") fittedLanes = -1;
    showTimes(false);
    showProgress();
    layout(event.detail);
  });
  window.addEventListener("resize", function () { fittedLanes = -1; measures = null; layout(); });

  showTimes(true);
  showProgress();
  setInterval(function () { showTimes(true); showProgress(); }, TIMES_EVERY);
  fetchState();
  setInterval(fetchState, STATE_EVERY);
  if (tv) {
    page = Number(load(pageKey, 0)) || 0;
    layout();
    startedAt = Date.now();
    pageShownAt = startedAt;
    setInterval(step, 1000);
  } else {
    markFresh();
  }
})();
