// Settings: autostart, keep-awake, alerts, webhook, RPC override (per network), network switch, maintenance ops.
import { $, api, clearErrors, confirmDialog, currentStatus, header, humanizeMoney, lcai, on, progressBox, runOp, showError, toBig } from "./app.js";
import { deregisterFlow, replaceKeyFlow, topUpFlow } from "./actions.js";

header();
const form = $("#form");
let settings = {};
let network = "";

async function load() {
  try { settings = await api("/api/settings"); } catch (e) { showError(e); return; }
  network = network || settings.network || "";
  form.autostart.checked = Boolean(settings.autostart);
  form.keep_awake.checked = Boolean(settings.keep_awake);
  form.offline_alert_minutes.value = settings.offline_alert_minutes ?? "";
  form.webhook_url.value = settings.webhook_url || "";
  form.ollama_url.value = settings.ollama_url || "";
  api("/api/network").then((n) => {
    const box = $("#assumed");
    box.hidden = !n.assumed?.length;
    box.textContent = n.assumed?.length ? `Not confirmed for ${n.label}, taken from the old desktop app or inferred: ${n.assumed.join(", ")}. `
      + "The agent checks what it can on-chain and shows a warning when the chain says otherwise." : "";
  }).catch(() => {});
  const rpc = settings.rpc_override || {};
  form.rpc_override.value = typeof rpc === "string" ? rpc : rpc[network] || "";
  $("#network").value = network;
}

on("status", (s) => {
  if (!network) { network = s.network; load(); }
  network = s.network;
  $("#network").value = network;
  // the agent's reason may start with "keep-awake unavailable: …": say "Keep-awake" once
  $("#keep-awake-note").textContent = s.keep_awake_reason ?
    `Keep-awake: ${s.keep_awake_reason.replace(/^keep-awake\s+/i, "")}` : "";
  $("#rpc_override").previousElementSibling.textContent = `RPC URL override for ${network} (optional)`;
});

form.addEventListener("submit", async (e) => {
  e.preventDefault();
  clearErrors();
  $("#saved").textContent = "";
  for (const i of form.querySelectorAll("input")) i.removeAttribute("aria-invalid");
  const mins = Number(form.offline_alert_minutes.value);
  const rpc = { ...(typeof settings.rpc_override === "object" ? settings.rpc_override : {}) };
  rpc[network] = form.rpc_override.value.trim();
  if (!rpc[network]) delete rpc[network];
  const body = { autostart: form.autostart.checked, keep_awake: form.keep_awake.checked, webhook_url: form.webhook_url.value.trim(),
    ollama_url: form.ollama_url.value.trim(),
    offline_alert_minutes: Number.isFinite(mins) && mins > 0 ? Math.round(mins) : settings.offline_alert_minutes, rpc_override: rpc };
  try {
    settings = await api("/api/settings", { method: "POST", body });
    $("#saved").textContent = "Saved ✓";
  } catch (err) {
    const f = err.field && form.querySelector(`[name="${err.field}"]`);
    if (f) { f.setAttribute("aria-invalid", "true"); f.focus(); }
    showError(err);
  }
});

async function op(kind, body, title, rows = [], danger = false, text = "", confirm = "Continue") {
  clearErrors();
  if (title && !(await confirmDialog({ title, rows, danger, text, confirm }))) return;
  const box = progressBox($("#op-progress"));
  try {
    const res = await runOp(kind, body, (p) => box.update(p));
    box.done(humanizeMoney(res.result?.message) || "Done.");
  } catch (e) { $("#op-progress").replaceChildren(); showError(e); }
}

$("#net-form").addEventListener("submit", (e) => {
  e.preventDefault();
  const target = $("#network").value;
  if (target === network) { showError({ message: `Already on ${target}.`, fix: "Choose another network to switch." }); return; }
  op("switch_network", { network: target }, `Switch to ${target}?`, [["From", network], ["To", target]], false,
    target === "mainnet" ? "Mainnet needs a real-money stake (the minimum is read on-chain after the switch) plus gas." : "The worker on the current network stops; its key and history stay.");
});
for (const b of document.querySelectorAll("button[data-op]")) b.addEventListener("click", () => op(b.dataset.op, {}));
$("#top-up").addEventListener("click", () => topUpFlow($("#op-progress")));
$("#deregister").addEventListener("click", () => deregisterFlow($("#op-progress")));
$("#replace-key").addEventListener("click", () => replaceKeyFlow($("#op-progress")));
$("#remove").addEventListener("click", () => {
  const st = currentStatus() || {};
  const staked = toBig(st.stake_wei) > 0n;
  op("remove_worker", { confirm: true }, "Remove the worker container?", [["Container", "stopped and removed"], ["Key", "archived, never deleted"],
    ["Stake on this key", lcai(st.stake_wei)]], true,
  staked ? `The key still holds ${lcai(st.stake_wei)} of stake, which stays with it. Deregister first to get it back, or restore the key later under Recover key.`
    : "The key is archived (never deleted); restore it under Recover key.", "Remove the container");
});
on("status", (s) => {
  $("#deregister").disabled = !s.registered || Boolean(s.operation);
  $("#top-up").disabled = !s.registered || Boolean(s.operation);
  $("#replace-key").disabled = !s.address || Boolean(s.operation);
  const reinstate = document.querySelector("button[data-op=reinstate]");
  if (reinstate) reinstate.disabled = !(Number(s.suspended_until) > 0 || (s.alerts || []).includes("suspended")) || Boolean(s.operation);
});
load();
// the tray's "Deregister" opens this page to confirm here (money actions are never posted from the menu)
if (new URLSearchParams(location.search).get("confirm") === "deregister") {
  api("/api/status").then((s) => { if (s.registered && !s.operation) $("#deregister").click(); }).catch(showError);
}
