// A job's log on the run page and on its own page (/jobs/<id>/log): fetched on demand into its
// job, kept across the run page's live redraws, scrolled to the failure's first line, searched,
// timestamps shown on request. The server renders the log (src/views/log.rs, templates/joblog.html);
// this module only fetches it, moves it and toggles classes: it never builds markup from text.

const opened = new Map(); // job id -> its rendered log (a <section class="joblog">), while shown

// Parses one server-rendered element; <template> parsing runs no script and loads nothing.
function fragment(html) {
  const template = document.createElement("template");
  template.innerHTML = html.trim();
  return template.content.firstElementChild;
}

// The failure's first line, opened and in view.
function showFirstError(log) {
  const line = log.querySelector(".first-error");
  if (!line) return;
  for (let d = line.closest("details"); d; d = d.parentElement.closest("details")) d.open = true;
  line.scrollIntoView({ block: "center" });
}

// Marks the lines holding `text` (any case), opens their sections, and counts them.
function search(log, text) {
  const hits = log.querySelector(".log-hits");
  const wanted = text.trim().toLowerCase();
  let count = 0;
  let first = null;
  for (const line of log.querySelectorAll(".ln")) {
    const hit = wanted !== "" && line.textContent.toLowerCase().includes(wanted);
    line.classList.toggle("hit", hit);
    if (!hit) continue;
    count += 1;
    first = first || line;
    for (let d = line.closest("details"); d; d = d.parentElement.closest("details")) d.open = true;
  }
  hits.textContent = wanted === "" ? "" : count === 1 ? "1 line" : count + " lines";
  if (first) first.scrollIntoView({ block: "center" });
}

// The next line found after the one in view, on Enter.
function next(log) {
  const found = [...log.querySelectorAll(".ln.hit")];
  if (found.length === 0) return;
  const current = log.querySelector(".ln.hit.current");
  const at = (found.indexOf(current) + 1) % found.length;
  if (current) current.classList.remove("current");
  found[at].classList.add("current");
  found[at].scrollIntoView({ block: "center" });
}

// Search and the timestamps' toggle of one rendered log.
function wire(log) {
  if (log.dataset.wired) return;
  log.dataset.wired = "1";
  const box = log.querySelector(".log-search");
  if (box) {
    box.hidden = false;
    let timer = 0;
    box.addEventListener("input", () => {
      clearTimeout(timer);
      timer = setTimeout(() => search(log, box.value), 150);
    });
    box.addEventListener("keydown", (event) => {
      if (event.key === "Enter") {
        event.preventDefault();
        next(log);
      }
    });
  }
  const toggle = log.querySelector(".log-ts-toggle");
  if (toggle) {
    toggle.addEventListener("click", (event) => {
      event.preventDefault();
      const shown = log.classList.toggle("show-ts");
      toggle.textContent = shown ? "hide timestamps" : "show timestamps";
    });
  }
}

// The log of job `id` into its slot: fetched the first time, then shown or hidden.
async function open(id, slot, link) {
  const shown = opened.get(id);
  if (shown) {
    shown.hidden = !shown.hidden;
    link.setAttribute("aria-expanded", String(!shown.hidden));
    return;
  }
  link.setAttribute("aria-busy", "true");
  try {
    const response = await fetch("/jobs/" + encodeURIComponent(id) + "/log?part=live", {
      cache: "no-store",
      credentials: "same-origin",
    });
    if (!response.ok) throw new Error("HTTP " + response.status);
    const log = fragment(await response.text());
    if (!log) throw new Error("empty answer");
    opened.set(id, log);
    slot.replaceChildren(log);
    wire(log);
    link.setAttribute("aria-expanded", "true");
    showFirstError(log);
  } catch (err) {
    slot.textContent = "The log could not be loaded (" + err.message + "); try again.";
  } finally {
    link.removeAttribute("aria-busy");
  }
}

document.addEventListener("click", (event) => {
  const link = event.target.closest("a[data-log-job]");
  if (!link || event.ctrlKey || event.metaKey || event.shiftKey) return;
  const id = link.dataset.logJob;
  const slot = document.querySelector('[data-log-slot="' + CSS.escape(id) + '"]');
  if (!slot) return;
  event.preventDefault();
  open(id, slot, link);
});

// The run page's live part was redrawn: put the logs being read back into their new slots.
document.addEventListener("bb:updated", () => {
  for (const [id, log] of opened) {
    const slot = document.querySelector('[data-log-slot="' + CSS.escape(id) + '"]');
    if (slot && !slot.contains(log)) slot.replaceChildren(log);
  }
});

// The log's own page: already rendered.
for (const log of document.querySelectorAll(".logpage .joblog")) {
  wire(log);
  if (!location.hash) showFirstError(log);
}
