// Recover a replaced key: the archive with network, address and on-chain stake; restore as the active key.
import { $, api, clearErrors, confirmDialog, copyButton, el, header, lcai, progressBox, runOp, showError, when } from "./app.js";

header();
async function load() {
  let data;
  try { data = await api("/api/keys"); } catch (e) { showError(e); return; }
  const a = data.active;
  $("#active").replaceChildren(a ? el("p", {}, el("code", {}, a.address), " ", copyButton(() => a.address), el("span", { class: "muted" }, ` on ${a.network}`))
    : el("p", { class: "muted" }, "No active key on this network."));
  const rows = data.archive || [];
  $("#archive tbody").replaceChildren(...(rows.length ? rows.map((k) => el("tr", {},
    el("td", {}, el("code", {}, k.address)), el("td", {}, k.network), el("td", {}, when(k.created)), el("td", {}, when(k.archived)),
    el("td", {}, k.reason || "—"),
    el("td", {}, k.still_staked === true ? el("span", { class: "tag warn" }, "yes — stake to recover") : k.still_staked === false ? "no" : "unknown"),
    el("td", {}, el("button", { type: "button", "data-id": k.id, "aria-label": `Restore ${k.address}`, onclick: () => restore(k) }, "Restore…"))))
    : [el("tr", {}, el("td", { colspan: "7", class: "muted" }, "No archived keys."))]));
}

async function restore(k) {
  clearErrors();
  const ok = await confirmDialog({
    title: "Restore this key?",
    text: "The current key is archived (never deleted) and the worker restarts with the restored one.",
    rows: [["Address", el("code", {}, k.address)], ["Network", k.network],
      ["Still staked", k.still_staked === true ? "yes: it is registered with its stake" : k.still_staked === false ? "no" : "unknown"]],
    confirm: "Restore",
  });
  if (!ok) return;
  const box = progressBox($("#op-progress"));
  try {
    await runOp("recover", { id: k.id }, (p) => box.update(p));
    box.done(`Restored ${k.address}.`);
    await nextStep(k);
  } catch (e) { $("#op-progress").replaceChildren(); showError(e); }
  load();
}

/** After a restore, one flow back to a running worker: start it (staked key) or finish its setup. */
async function nextStep(k) {
  let s = {};
  try { s = await api("/api/status"); } catch { /* shown below as "open the dashboard" */ }
  const running = ["online", "starting"].includes(s.state);
  const target = $("#next-step");
  const start = el("button", { type: "button", class: "primary", id: "start-restored" }, "Start the worker");
  start.addEventListener("click", async () => {
    const box = progressBox(target);
    try { await runOp("start", {}, (p) => box.update(p)); box.done("Worker started with the restored key."); }
    catch (e) { target.replaceChildren(); showError(e); }
  });
  target.replaceChildren(el("div", { class: "notice ok", role: "status", id: "restored" },
    el("strong", {}, "Next step"),
    s.registered
      ? el("div", {}, `It is registered${s.stake_wei && s.stake_wei !== "0" ? ` with ${lcai(s.stake_wei)} of stake` : ""}. `,
        running ? "The worker is running with it." : "Start the worker to take jobs with it again.")
      : el("div", {}, "It is not registered on this network: finish its setup (funding and registration) to use it."),
    el("p", { class: "row" },
      s.registered && !running ? start : null,
      !s.registered ? el("a", { class: "button primary", href: "onboarding.html", id: "setup-restored" }, "Continue setup…") : null,
      el("a", { class: "button", href: "dashboard.html" }, "Open the dashboard"))));
}
load();

$("#import-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  clearErrors();
  const form = e.target;
  for (const i of form.querySelectorAll("input")) i.removeAttribute("aria-invalid");
  const body = { path: form.path.value.trim(), password: form.password.value, replace_active: form.replace_active.checked };
  const box = progressBox($("#op-progress"));
  try {
    const op = await runOp("import_keys", body, (p) => box.update(p));
    form.password.value = "";  // never kept on the page after entry
    box.done(op.result?.worker_started ? `Imported ${op.result.address}: it is registered, so its worker starts now.`
      : `Imported ${op.result?.address}. Finish setup to fund and register it.`);
    load();
  } catch (err) {
    form.password.value = "";
    $("#op-progress").replaceChildren();
    const f = err.field && form.querySelector(`[name="${err.field}"]`);
    if (f) { f.setAttribute("aria-invalid", "true"); f.focus(); }
    showError(err);
  }
});
