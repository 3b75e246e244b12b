// "Ask the model" on the run page (only with --analysis-url; the server renders the button, never
// on a TV): a click POSTs /api/jobs/<id>/analysis with this reader's CSRF token (from
// GET /api/analysis) and shows the model's answer, or why there is none, as text: the answer is
// the model's words, never markup. Answers are kept across the run page's live redraws.

const shown = new Map(); // job id -> the text shown under its button

let token = null; // this reader's CSRF token, asked once

async function csrf() {
  if (token) return token;
  const response = await fetch("/api/analysis", {
    credentials: "same-origin",
    headers: { Accept: "application/json" },
  });
  const body = await response.json().catch(() => ({}));
  if (!response.ok || !body.csrf) {
    throw new Error((body.error && body.error.message) || "the server answered " + response.status);
  }
  token = body.csrf;
  return token;
}

// Puts `text` under job `id`'s button, as text.
function show(id, text) {
  shown.set(id, text);
  const slot = document.querySelector('[data-analysis-answer="' + CSS.escape(id) + '"]');
  if (!slot) return;
  slot.textContent = text;
  slot.hidden = false;
}

async function ask(id, button) {
  button.disabled = true;
  button.setAttribute("aria-busy", "true");
  show(id, "Asking the model…");
  try {
    const response = await fetch("/api/jobs/" + encodeURIComponent(id) + "/analysis", {
      method: "POST",
      credentials: "same-origin",
      headers: { "X-CSRF-Token": await csrf(), Accept: "application/json" },
    });
    const body = await response.json().catch(() => ({}));
    if (response.ok && typeof body.answer === "string") {
      show(id, body.answer);
    } else {
      show(id, (body.error && body.error.message) || "The server answered " + response.status + ".");
    }
  } catch (err) {
    show(id, "The board could not be reached (" + err.message + "); try again.");
  } finally {
    button.disabled = false;
    button.removeAttribute("aria-busy");
  }
}

document.addEventListener("click", (event) => {
  const button = event.target.closest && event.target.closest("button[data-analysis-job]");
  if (button) ask(button.dataset.analysisJob, button);
});

// The run page's live part was redrawn: show the answers again.
document.addEventListener("bb:updated", () => {
  for (const [id, text] of shown) show(id, text);
});
