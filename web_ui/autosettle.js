// Settings → Automatic settle: the policy (GET/POST /api/autosettle), the one confirmed withdraw address
// (POST /api/autosettle/address, shown in full in the confirmation) and pause/resume.
import { $, api, clearErrors, confirmDialog, el, markField, on, put, sentence, showError, when } from "./app.js";

const form = $("#auto-form");
let policy = null;

/** "2.5" (%) → 250 basis points, exactly; null when it is not a percentage with at most two decimals. */
function bps(text) {
  const m = /^(\d{1,3})(?:\.(\d{1,2}))?$/.exec(text.trim());
  return m ? Number(m[1]) * 100 + Number((m[2] || "").padEnd(2, "0")) : null;
}

function render(p) {
  policy = p;
  form.enabled.checked = Boolean(p.enabled);
  form.threshold_lcai.value = p.threshold_lcai || "0";
  form.every_days.value = p.every_days ?? 0;
  form.max_fee_bps.value = String((p.max_fee_bps || 0) / 100);
  form.withdraw.checked = Boolean(p.withdraw);
  form.withdraw.disabled = !p.withdraw_to;
  $("#as-to").textContent = p.withdraw_to || "none yet (confirm one below)";
  $("#as-pause").textContent = p.paused ? "Resume" : "Pause";
  $("#as-pause").disabled = !p.enabled;
  const box = $("#as-state");
  const kind = { retrying: "warn", held: "warn", skipped: "warn", paused: "warn", running: "info" }[p.state] || "info";
  box.className = `notice ${kind}`;
  const last = p.last_action ? `Last: ${p.last_action.ok ? "" : "failed — "}${p.last_action.text} (${when(p.last_action.at)})` : "";
  put(box, el("strong", {}, p.message || p.state), last ? el("div", { class: "small" }, last) : null,
    p.last_error && p.state === "retrying" ? el("div", { class: "small" }, `Why: ${p.last_error}`) : null);
}

async function load() {
  try { render(await api("/api/autosettle")); } catch (e) { showError(e); }
}

form.addEventListener("submit", async (e) => {
  e.preventDefault();
  clearErrors();
  $("#as-saved").textContent = "";
  const fee = bps(form.max_fee_bps.value);
  if (fee === null) {
    showError({ message: `The fee share ${JSON.stringify(form.max_fee_bps.value)} is not a percentage.`, fix: "Enter e.g. 5 or 2.5 (at most two decimals).", field: "max_fee_bps" });
    return;
  }
  const body = { enabled: form.enabled.checked, threshold_lcai: form.threshold_lcai.value.trim() || "0",
    every_days: Math.round(Number(form.every_days.value) || 0), max_fee_bps: fee, withdraw: form.withdraw.checked };
  try {
    render(await api("/api/autosettle", { method: "POST", body }));
    markField(null, form);  // an earlier error's mark goes once the values are saved
    $("#as-saved").textContent = "Saved ✓";
  } catch (err) { showError(err); }
});

$("#as-confirm").addEventListener("click", async () => {
  clearErrors();
  const msg = $("#as-address-msg");
  msg.textContent = ""; msg.className = "field-msg";
  let preview;
  try {
    preview = await api("/api/autosettle/address", { method: "POST", body: { address: form.address.value } });
  } catch (err) {
    msg.textContent = `${sentence(err.message)}${err.fix ? ` ${sentence(err.fix)}` : ""}`; msg.className = "field-msg bad";
    form.address.setAttribute("aria-invalid", "true");
    return;
  }
  form.address.setAttribute("aria-invalid", "false");
  const rows = [["Address", el("code", { class: "mono", "data-testid": "full-address" }, preview.address)]];
  if (preview.current && preview.current !== preview.address) rows.push(["Replaces", el("code", { class: "mono" }, preview.current)]);
  const ok = await confirmDialog({ title: "Send automatic withdrawals to this address?", text: preview.text, rows,
    confirm: "Use this address" });
  if (!ok) return;
  try {
    render(await api("/api/autosettle/address", { method: "POST", body: { address: preview.address, confirm: true } }));
    form.address.value = "";
    msg.textContent = "✓ confirmed"; msg.className = "field-msg good";
  } catch (err) { showError(err); }
});

$("#as-pause").addEventListener("click", async () => {
  clearErrors();
  try { render(await api("/api/autosettle/pause", { method: "POST", body: { paused: !policy?.paused } })); } catch (e) { showError(e); }
});

let lastSeen = "";
on("status", (s) => {  // the agent reports the policy's state in the Status: refresh the card on a change
  const key = JSON.stringify(s.autosettle || {});
  if (key !== lastSeen) { lastSeen = key; load(); }
});
load();
