// printmed pages: the few helpers that earn their place (served by the app, no CDN).
// Confirmation of destructive actions, live validation of the prescription form, live printer
// progress (server-sent events) and live QC while weights are entered. Pages work without it.
"use strict";

(function focusProblems() {
  // After a refused submit, the summary of what to correct gets the focus (read out first).
  const summary = document.getElementById("error-summary");
  if (summary) summary.focus();
})();

(function confirmations() {
  const dialog = document.getElementById("confirm-dialog");
  if (!dialog) return;
  const text = dialog.querySelector("[data-confirm-text]");
  const ok = dialog.querySelector("[data-confirm-ok]");
  let pending = null;
  document.addEventListener("submit", (event) => {
    const form = event.target;
    if (!form.dataset.confirm || form.dataset.confirmed === "yes") return;
    event.preventDefault();
    pending = form;
    text.textContent = form.dataset.confirm;
    ok.textContent = form.dataset.confirmLabel || "Confirm";
    dialog.showModal();
  });
  dialog.addEventListener("close", () => {
    if (dialog.returnValue === "confirm" && pending) {
      pending.dataset.confirmed = "yes";
      const flag = pending.querySelector("input[name=confirmed]");
      if (flag) flag.value = "yes";
      pending.requestSubmit();
    }
    pending = null;
  });
})();

(function liveValidation() {
  const form = document.querySelector("form[data-validate]");
  if (!form) return;
  const touched = new Set();
  let timer = null;
  let serial = 0;

  function show(errors, all) {
    form.querySelectorAll("[data-error-for]").forEach((slot) => {
      const name = slot.dataset.errorFor;
      const input = form.querySelector(`[name="${CSS.escape(name)}"]`);
      const message = (all || touched.has(name)) ? (errors[name] || "") : "";
      slot.textContent = message;
      if (input) input.setAttribute("aria-invalid", message ? "true" : "false");
    });
    const summary = form.querySelector("[data-preview]");
    if (summary) summary.textContent = errors.__preview__ || summary.dataset.empty;
  }

  async function check(all) {
    const mine = ++serial;
    const response = await fetch(form.dataset.validate, {
      method: "POST", body: new FormData(form), credentials: "same-origin",
      headers: { "Accept": "application/json" },
    });
    if (!response.ok || mine !== serial) return;
    const body = await response.json();
    show(Object.assign({}, body.errors, { __preview__: body.preview || "" }), all);
  }

  form.addEventListener("input", (event) => {
    if (!event.target.name) return;
    touched.add(event.target.name);
    clearTimeout(timer);
    timer = setTimeout(() => check(false), 350);
  });
  form.addEventListener("change", (event) => {
    if (!event.target.name) return;
    touched.add(event.target.name);
    check(false);
  });
})();

(function printerEvents() {
  // The cards are updated from the server's words (the same as on the first render). When the
  // session ends the stream says so with an `ended` event, also on a reconnection after it ended,
  // and the page goes where the event says: nothing here watches a clock.
  const board = document.querySelector("[data-printer-events]");
  if (!board || !window.EventSource) return;
  const source = new EventSource(board.dataset.printerEvents);
  source.addEventListener("open", () => { board.dataset.live = "open"; });
  source.addEventListener("ended", (event) => {
    source.close();
    board.dataset.live = "ended";
    window.location.assign(JSON.parse(event.data).location || "/login?ended=1");
  });
  // Typing into a form on the page (a line clearance): no redraw for a batch begun elsewhere
  // takes what was typed away; the form's answer draws the page afresh anyway.
  let typing = false;
  board.addEventListener("input", () => { typing = true; });
  source.addEventListener("printers", (event) => {
    JSON.parse(event.data).forEach((p) => {
      const card = board.querySelector(`[data-printer="${CSS.escape(p.name)}"]`);
      if (!card) return;
      // A batch came off this printer: draw the page afresh (its notice, queue and next step).
      if (card.dataset.finished !== undefined && card.dataset.finished !== (p.finished || "")) {
        window.location.replace("/printers");
        return;
      }
      // A batch began on it: the same (the queue, the line clearance it used up, the next step).
      if (!typing && card.dataset.batch !== undefined && card.dataset.batch !== (p.batch || "")) {
        window.location.replace("/printers");
        return;
      }
      const set = (key, value) => card.querySelectorAll(`[data-field="${key}"]`).forEach((el) => { el.textContent = value; });
      set("state", p.state_label);
      set("job", p.job);
      set("percent", p.percent_text);
      ["lines", "nozzle", "bed", "remaining"].forEach((key) => set(key, p[key]));
      const bar = card.querySelector("[data-field=bar]");
      if (bar) {
        bar.style.width = `${p.percent}%`;
        bar.parentElement.setAttribute("aria-valuenow", p.percent.toFixed(0));
      }
      const badge = card.querySelector("[data-field=state]");
      if (badge) badge.className = `badge ${p.state}`;
      card.querySelectorAll("[data-when]").forEach((el) => {
        el.hidden = !el.dataset.when.split(" ").includes(p.state);
      });
    });
  });
})();

(function liveQc() {
  const form = document.querySelector("form[data-qc]");
  if (!form) return;
  const panel = document.querySelector("[data-qc-panel]");
  let timer = null;
  async function check() {
    const response = await fetch(form.dataset.qc, {
      method: "POST", body: new FormData(form), credentials: "same-origin",
      headers: { "Accept": "text/html" },
    });
    if (response.ok) panel.innerHTML = await response.text();
  }
  form.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(check, 300); });
})();

(function balanceReadings() {
  const button = document.querySelector("[data-balance]");
  if (!button) return;
  const form = button.closest("form");
  const status = form.querySelector("[data-balance-status]");
  button.addEventListener("click", async () => {
    const empty = Array.from(form.querySelectorAll("input[name^=w]")).find((input) => !input.value);
    if (!empty) { status.textContent = "Every unit has a weight."; return; }
    const unit = empty.labels[0].textContent.replace(" (mg)", "");
    button.disabled = true;
    status.textContent = `Place ${unit.toLowerCase()} on the balance and press Print…`;
    try {
      const response = await fetch(button.dataset.balance, {
        method: "POST", body: new FormData(form), credentials: "same-origin",
        headers: { "Accept": "application/json" },
      });
      const body = await response.json();
      if (response.ok) {
        empty.value = body.weight_mg.toFixed(2);
        const units = form.querySelector("input[name=balance_units]");
        units.value = [units.value, empty.name.slice(1)].filter(Boolean).join(",");
        empty.dispatchEvent(new Event("input", { bubbles: true }));
        status.textContent = `${unit}: ${empty.value} mg from the balance.`;
      } else {
        status.textContent = body.error;
      }
    } finally {
      button.disabled = false;
      button.focus();
    }
  });
})();
