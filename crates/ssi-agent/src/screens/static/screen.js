// The screens' only script: arrow keys move the focus between the choices (Enter
// presses the focused one, as the browser does anyway), and a long poll learns
// of new prompts, replacing the view in place.
'use strict';
(function () {
  const choices = () => Array.from(document.querySelectorAll('.choice'));

  function focusDefault() {
    const first = document.querySelector('[data-default]') || choices()[0];
    if (first) first.focus();
  }

  document.addEventListener('keydown', (event) => {
    let step = 0;
    if (event.key === 'ArrowDown' || event.key === 'ArrowRight') step = 1;
    else if (event.key === 'ArrowUp' || event.key === 'ArrowLeft') step = -1;
    else return;
    const list = choices();
    if (list.length === 0) return;
    event.preventDefault();
    const at = list.indexOf(document.activeElement);
    const next = at < 0 ? 0 : Math.min(list.length - 1, Math.max(0, at + step));
    list[next].focus();
  });

  const body = document.body;
  const page = body.dataset.page;
  let version = body.dataset.version;
  const pause = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

  async function follow() {
    for (;;) {
      try {
        const changes = await fetch('/changes?since=' + encodeURIComponent(version), { cache: 'no-store' });
        // Unpaired (a newer pairing, or the agent restarted): show that instead of
        // a prompt that can no longer be answered.
        if (changes.status === 403) { location.reload(); return; }
        if (!changes.ok) { await pause(3000); continue; }
        const change = await changes.json();
        if (String(change.version) === version) continue;
        if (page !== 'home') {
          // Settings: a prompt takes the screen over; anything else can wait.
          if (change.prompt) { location.assign('/'); return; }
          version = String(change.version);
          continue;
        }
        const view = await fetch('/view', { cache: 'no-store' });
        if (!view.ok) { await pause(3000); continue; }
        version = view.headers.get('x-screen-version') || String(change.version);
        document.getElementById('view').innerHTML = await view.text();
        focusDefault();
      } catch (_) {
        await pause(3000);
      }
    }
  }

  focusDefault();
  if (page === 'home' || page === 'settings') follow();
})();
