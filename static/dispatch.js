// Starting a workflow by hand (workflow_dispatch) from its run page: a "Run workflow…" button for
// a person signed in with GitHub who may write to the repository (as /api/operator says), which
// opens a form built from the workflow's inputs (GET /api/workflows/<id>/dispatch) and POSTs
// {ref, inputs} back. The server checks the values and answers in words; never in TV mode. The
// form is a modal <dialog> outside the page's live part, so a redraw does not take it away.

import { session } from "./operator.js";

const API = (id) => "/api/workflows/" + encodeURIComponent(id) + "/dispatch";

/** A person signed in with GitHub, with the repositories they may write to; or null. */
async function whoActs() {
  const me = await session();
  return me && me.person && Array.isArray(me.repos) ? me : null;
}

function element(tag, props, children) {
  const node = Object.assign(document.createElement(tag), props || {});
  (children || []).forEach((child) => node.append(child));
  return node;
}

/** One labelled field for `input` (see src/github/dispatch.rs for the kinds). */
function field(input) {
  let control;
  if (input.type === "boolean") {
    control = element("input", { type: "checkbox", checked: input.default === "true" });
  } else if (input.type === "choice") {
    control = element("select", {}, input.options.map((option) =>
      element("option", { value: option, textContent: option, selected: option === input.default })));
  } else {
    control = element("input", {
      type: input.type === "number" ? "number" : "text",
      value: input.default || "",
      required: input.required && !input.default,
    });
  }
  control.name = input.name;
  control.dataset.kind = input.type;
  const text = input.description ? input.name + " (" + input.description + ")" : input.name;
  return element("label", { className: "dispatch-field" }, [text + " ", control]);
}

function values(form) {
  const inputs = {};
  form.querySelectorAll("[data-kind]").forEach((control) => {
    inputs[control.name] = control.dataset.kind === "boolean" ? control.checked : control.value;
  });
  return inputs;
}

async function openForm(spot, me) {
  const response = await fetch(API(spot.dataset.workflowId) + "?ref=" +
    encodeURIComponent(spot.dataset.ref || ""), {
    credentials: "same-origin",
    headers: { "X-CSRF-Token": me.csrf, Accept: "application/json" },
  });
  const body = await response.json().catch(() => ({}));
  const status = element("output", { className: "dispatch-status" });
  const close = element("button", { type: "button", textContent: "Close" });
  const dialog = element("dialog", { className: "dispatch-dialog" });
  close.addEventListener("click", () => dialog.remove());
  document.body.append(dialog);
  if (!response.ok) {
    status.textContent = (body.error && body.error.message) || "the server answered " + response.status;
    dialog.append(status, close);
    dialog.showModal();
    return;
  }
  const refField = element("input", { name: "ref", value: body.ref, required: true });
  const form = element("form", { className: "dispatch-form" }, [
    element("label", {}, ["ref ", refField]),
    ...body.inputs.map(field),
    element("button", { type: "submit", textContent: "Run " + body.workflow.name }),
    close,
    status,
  ]);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const sent = await fetch(API(spot.dataset.workflowId), {
      method: "POST",
      credentials: "same-origin",
      headers: { "X-CSRF-Token": me.csrf, Accept: "application/json",
        "Content-Type": "application/json" },
      body: JSON.stringify({ ref: refField.value, inputs: values(form) }),
    });
    const answer = await sent.json().catch(() => ({}));
    status.textContent = answer.message || (answer.error && answer.error.message) ||
      "the server answered " + sent.status;
    status.className = "dispatch-status " + (sent.ok ? "ok" : "refused");
  });
  dialog.append(form);
  dialog.showModal();
}

function offer(me) {
  document.querySelectorAll(".dispatch[data-workflow-id]:not([data-offered])").forEach((spot) => {
    spot.dataset.offered = "1";
    const repo = (spot.dataset.repo || "").toLowerCase();
    const writable = me.repos.map((r) => r.toLowerCase());
    if (spot.dataset.source !== "actions" || writable.indexOf(repo) < 0) return;
    const button = element("button", { type: "button", className: "dispatch-button",
      textContent: "Run workflow…" });
    button.addEventListener("click", () => openForm(spot, me));
    spot.append(button);
  });
}

const tv = document.body && document.body.dataset.tv === "1";
if (!tv && document.querySelector(".dispatch[data-workflow-id]")) {
  whoActs().then((me) => {
    if (!me) return;
    offer(me);
    new MutationObserver(() => offer(me))
      .observe(document.body, { childList: true, subtree: true });
  });
}
