// Actions: operators' buttons to re-run failed jobs, re-run and cancel (see README "Acting from
// the board"). The server renders the same markup for everyone (live parts are shared and
// cached); this module asks /api/operator whether this browser is a signed-in operator (or a
// person signed in with GitHub, and where they may write) and only then adds buttons. Each click POSTs with the session's CSRF token and shows GitHub's answer.
// Loaded by every board page but a TV's (nobody clicks a TV).

// Conclusions whose failed jobs can be re-run: the page's (src/views.rs), their one source.
var FAILED = (document.body.dataset.rerunConclusions || '').split(',');
var LABELS = {
  'rerun-failed-jobs': 'Re-run failed jobs',
  rerun: 'Re-run',
  cancel: 'Cancel'
};
var csrf = null;
// For a signed-in person, the repositories they may write to; null: every one (an operator).
var writable = null;
var toastTimer = null;

function mayAct(repo) {
  return writable === null || writable.indexOf((repo || '').toLowerCase()) >= 0;
}

function toast(text, ok) {
  var box = document.getElementById('act-toast');
  if (!box) {
    box = document.createElement('div');
    box.id = 'act-toast';
    box.setAttribute('role', 'status');
    box.setAttribute('aria-live', 'polite');
    document.body.appendChild(box);
  }
  box.textContent = text;
  box.className = ok ? 'act-toast ok' : 'act-toast refused';
  clearTimeout(toastTimer);
  toastTimer = setTimeout(function () { box.className = 'act-toast'; }, ok ? 5000 : 12000);
}

function act(button, runId, action) {
  if (action === 'cancel' && !window.confirm('Cancel run ' + runId + '?')) {
    return;
  }
  button.disabled = true;
  fetch('/api/runs/' + encodeURIComponent(runId) + '/' + action, {
    method: 'POST',
    credentials: 'same-origin',
    headers: { 'X-CSRF-Token': csrf, Accept: 'application/json' }
  }).then(function (response) {
    return response.json().catch(function () { return {}; }).then(function (body) {
      var message = body.message || (body.error && body.error.message) ||
        ('the server answered ' + response.status);
      toast(message, response.ok);
    });
  }).catch(function () {
    toast('The board could not be reached; try again.', false);
  }).then(function () {
    button.disabled = false;
  });
}

function buttons(into, runId, actions) {
  actions.forEach(function (action) {
    var button = document.createElement('button');
    button.type = 'button';
    button.className = 'act-button act-' + action;
    button.textContent = LABELS[action];
    button.dataset.action = action;
    button.dataset.runId = runId;
    into.appendChild(button);
  });
}

// Placeholders from templates/act_buttons.html, and the Developer view's running runs.
function decorate(root) {
  root.querySelectorAll('.act[data-run-id]:not([data-acted])').forEach(function (spot) {
    spot.dataset.acted = '1';
    if (spot.dataset.source !== 'actions' || !mayAct(spot.dataset.repo)) return;
    if (spot.dataset.status !== 'completed') {
      buttons(spot, spot.dataset.runId, ['cancel']);
    } else if (FAILED.indexOf(spot.dataset.conclusion) >= 0) {
      buttons(spot, spot.dataset.runId, ['rerun-failed-jobs', 'rerun']);
    } else {
      buttons(spot, spot.dataset.runId, ['rerun']);
    }
  });
  root.querySelectorAll('.dev-active li.event[data-source="actions"]:not([data-acted])')
    .forEach(function (item) {
      item.dataset.acted = '1';
      if (!mayAct(item.dataset.repo)) return;
      var spot = document.createElement('span');
      spot.className = 'act';
      item.appendChild(document.createTextNode(' '));
      item.appendChild(spot);
      buttons(spot, item.dataset.runId, ['cancel']);
    });
}

function start() {
  document.addEventListener('click', function (event) {
    var button = event.target.closest && event.target.closest('button.act-button');
    if (button) {
      event.preventDefault();
      act(button, button.dataset.runId, button.dataset.action);
    }
  });
  decorate(document);
  // Live updates replace parts of the page: decorate what arrives.
  new MutationObserver(function () { decorate(document); })
    .observe(document.body, { childList: true, subtree: true });
}

document.addEventListener('DOMContentLoaded', function () {
  fetch('/api/operator', { credentials: 'same-origin', headers: { Accept: 'application/json' } })
    .then(function (response) { return response.ok ? response.json() : null; })
    .then(function (session) {
      if (session && session.operator && session.csrf) {
        csrf = session.csrf;
        writable = Array.isArray(session.repos)
          ? session.repos.map(function (r) { return r.toLowerCase(); }) : null;
        document.body.classList.add('operator');
        start();
      }
    })
    .catch(function () {});
});
