// Change served models: pick, see memory fit, confirm, then the set_models operation (pull → on-chain → restart).
import { $, api, clearErrors, confirmDialog, el, header, lcai, progressBox, put, runOp, showError } from "./app.js";
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

// Suggest: the agent's exact search over model subsets; applying it is the same set_models operation.
$("#suggest").addEventListener("click", async () => {
  clearErrors();
  const box = $("#suggestion");
  box.replaceChildren(el("p", { class: "small muted" }, "Reading demand and checking every model set…"));
  try {
    const s = await api(`/api/models/suggest?window_h=${picker?.windowH() || 24}`);
    const apply = el("button", { type: "button", class: "primary", id: "apply-suggestion", disabled: !s.changes || !s.models.length }, "Use this set…");
    apply.addEventListener("click", () => applySuggestion(s));
    box.replaceChildren(el("div", { class: "notice ok", "data-testid": "suggestion", "data-models": s.models.join(",") },
      el("strong", {}, s.models.length ? `Serve ${s.models.join(", ")}` : "No model had demand in this window"),
      el("div", {}, `Expected ≈ ${lcai(s.wei_per_day)}/day, now ≈ ${lcai(s.current_wei_per_day)}/day (${s.current.join(", ") || "no models"}); demand over the last ${s.window}.`),
      s.changes ? null : el("div", { class: "small" }, "This is the set already served."),
      s.left_out.length ? el("ul", {}, ...s.left_out.map((x) => el("li", { "data-code": x.code, "data-model": x.model }, el("span", { style: "font-weight:600" }, x.model), `: ${x.reason}`))) : null,
      el("div", { class: "small muted" }, `Estimate: ${s.formula}. It is not a promise: ${s.assumptions.join(" ")}`)),
    el("div", { class: "row" }, apply));
  } catch (err) { box.replaceChildren(); showError(err); }
});

async function applySuggestion(s) {
  const ok = await confirmDialog({
    title: "Change to the suggested models",
    text: "New models download first; then the on-chain model list is updated (no new stake) and the worker restarts once it is idle.",
    rows: [["Now", `${s.current.join(", ") || "—"} · ≈ ${lcai(s.current_wei_per_day)}/day`],
      ["Suggested", `${s.models.join(", ")} · ≈ ${lcai(s.wei_per_day)}/day`],
      ["Gas", "a few small transactions from the worker wallet"]],
    confirm: "Apply",
  });
  if (!ok) return;
  picker.select(s.models);
  await change(s.models);
}

async function change(now) {
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
}

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
  await change(now);
});
