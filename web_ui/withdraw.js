// Withdraw: live address validation and fee preview through /api/withdraw/preview, Max, in-page confirmation.
import { $, api, clearErrors, confirmDialog, debounce, el, header, lcai, on, progressBox, runOp, sentence, showError } from "./app.js";

header();
const to = $("#to"), amount = $("#amount");
let preview = null;

function field(input, msgEl, text, good) {
  msgEl.textContent = text;
  msgEl.className = `field-msg ${text ? (good ? "good" : "bad") : ""}`;
  input.setAttribute("aria-invalid", text && !good ? "true" : "false");
}

const check = debounce(async () => {
  preview = null;
  $("#send").disabled = true;
  const addr = to.value.trim(), amt = amount.value.trim();
  if (!addr && !amt) { field(to, $("#to-msg"), "", true); field(amount, $("#amount-msg"), "", true); return; }
  const q = new URLSearchParams({ to: addr, amount: amt || "0" });
  let res;
  try { res = await api(`/api/withdraw/preview?${q}`); } catch (e) { showError(e); return; }
  if (addr !== to.value.trim() || amt !== amount.value.trim()) return; // the user typed on
  const err = res.error || {};
  const toBad = !res.ok && (err.field === "to" || /address/i.test(err.message || ""));
  const amtBad = !res.ok && !toBad;
  const said = (e) => `${sentence(e.message)}${e.fix ? " " + sentence(e.fix.replace(/,? or force it$/, ", or press Max")) : ""}`;
  if (addr) field(to, $("#to-msg"), toBad ? said(err) : "✓ valid address", !toBad);
  if (amt) field(amount, $("#amount-msg"), amtBad ? said(err) : "", !amtBad);
  else if (!toBad) field(amount, $("#amount-msg"), "Enter an amount or press Max.", false);
  $("#fee").textContent = res.fee_wei !== undefined ? lcai(res.fee_wei) : "—";
  $("#remaining").textContent = res.remaining_wei !== undefined ? lcai(res.remaining_wei) : "—";
  if (res.ok && amt && addr) { preview = res; $("#send").disabled = false; }
}, 300);

function changed() {
  preview = null; // never send on a preview of older input
  $("#send").disabled = true;
  check();
}
to.addEventListener("input", changed);
amount.addEventListener("input", changed);
$("#max").addEventListener("click", () => { amount.value = "max"; changed(); });
on("status", (s) => { $("#available").textContent = lcai(s.wallet_wei); });

$("#form").addEventListener("submit", async (e) => {
  e.preventDefault();
  clearErrors();
  if (!preview) return;
  const p = preview;
  const ok = await confirmDialog({
    title: "Send this withdrawal?",
    text: "The worker pauses for a moment while the transfer is sent from its key.",
    rows: [["To", el("code", {}, p.to || to.value.trim())], ["Amount", lcai(p.amount_wei)], ["Network fee", lcai(p.fee_wei)],
      ["Left in the worker wallet", lcai(p.remaining_wei)]],
    confirm: "Send",
  });
  if (!ok) return;
  const box = progressBox($("#op-progress"));
  $("#send").disabled = true;
  try {
    const op = await runOp("withdraw", { to: p.to || to.value.trim(), amount: amount.value.trim(), confirm: true }, (x) => box.update(x));
    const tx = op.result?.tx || op.result?.tx_hash || op.result?.hash;
    $("#op-progress").replaceChildren(el("div", { class: "notice ok", role: "status" }, el("strong", {}, `Sent ${lcai(p.amount_wei)}.`),
      tx ? el("div", { class: "mono" }, `Transaction ${tx}`) : null));
    amount.value = ""; preview = null;
  } catch (err) {
    $("#op-progress").replaceChildren();
    showError(err);
    check();
  }
});
