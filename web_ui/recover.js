// Recover a replaced key: the archive with network, address and on-chain stake; restore as the active key.
import { $, api, clearErrors, confirmDialog, copyButton, el, header, progressBox, runOp, showError, when } from "./app.js";

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
    rows: [["Address", el("code", {}, k.address)], ["Network", k.network], ["Still staked", String(k.still_staked ?? "unknown")]],
    confirm: "Restore",
  });
  if (!ok) return;
  const box = progressBox($("#op-progress"));
  try {
    await runOp("recover", { id: k.id }, (p) => box.update(p));
    box.done(`Restored ${k.address}.`);
  } catch (e) { $("#op-progress").replaceChildren(); showError(e); }
  load();
}
load();
