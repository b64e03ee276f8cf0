// Change served models: pick, see memory fit, confirm, then the set_models operation (pull → on-chain → restart).
import { $, clearErrors, confirmDialog, el, header, progressBox, put, runOp, showError } from "./app.js";
import { modelPicker } from "./picker.js";

header();
let picker;
const same = (a, b) => a.length === b.length && a.every((x) => b.includes(x));

function diff() {
  const now = picker.selected(), before = picker.served;
  return { add: now.filter((m) => !before.includes(m)), remove: before.filter((m) => !now.includes(m)), now };
}
function refresh() {
  const { add, remove, now } = diff();
  const v = picker.verdict();
  $("#save").disabled = !now.length || same(now, picker.served) || !v || v.verdict === "wont_fit";
  put($("#changes"),
    add.length ? el("div", {}, "Adds: ", add.join(", ")) : null,
    remove.length ? el("div", {}, "Removes: ", remove.join(", ")) : null);
}

try {
  picker = await modelPicker($("#picker"));
  picker.onChange(refresh);
  refresh();
} catch (e) { showError(e); }

$("#form").addEventListener("submit", async (e) => {
  e.preventDefault();
  clearErrors();
  const { add, remove, now } = diff();
  const ok = await confirmDialog({
    title: "Change served models",
    text: "New models download first; then the on-chain model list is updated (no new stake) and the worker restarts. The worker pauses briefly.",
    rows: [["Add", add.join(", ") || "—"], ["Remove", remove.join(", ") || "—"], ["Gas", "a few small transactions from the worker wallet"]],
    confirm: "Apply",
  });
  if (!ok) return;
  const box = progressBox($("#op-progress"));
  $("#save").disabled = true;
  try {
    await runOp("set_models", { models: now }, (p) => box.update(p));
    box.done(`Now serving: ${now.join(", ")}.`);
    picker = await modelPicker($("#picker"));
    picker.onChange(refresh);
    refresh();
  } catch (err) {
    $("#op-progress").replaceChildren();
    showError(err);
    refresh();
  }
});
