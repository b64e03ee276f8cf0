// Speed test: worst-case time per model against the on-chain deadline budget.
import { $, api, clearErrors, el, header, progressBox, runOp, showError } from "./app.js";

header();
const VERDICT = { comfortable: ["ok", "Comfortable"], tight: ["warn", "Tight"], over: ["bad", "Too slow"],
  postponed: ["warn", "Postponed (jobs running)"], error: ["bad", "Error"] };
const sec = (s) => (typeof s === "number" ? `${s.toFixed(1)} s` : "—");

async function loadModels() {
  try {
    const data = await api("/api/models");
    const served = data.served?.length ? data.served : (data.catalog || []).filter((m) => m.served).map((m) => m.name);
    const names = served.length ? served : (data.catalog || []).filter((m) => m.pulled).map((m) => m.name);
    $("#models").replaceChildren(...(names.length ? names.map((n, i) => el("label", { class: "inline" },
      el("input", { type: "checkbox", name: "model", value: n, checked: true, id: `m${i}` }), n))
      : [el("p", { class: "muted" }, "No models are served yet: the test runs the default model.")]));
  } catch (e) { showError(e); }
}

function renderResult(r) {
  const tbody = $("#results tbody");
  const budget = r.budget_s ?? r.deadline_s;
  tbody.replaceChildren(...(r.models || []).map((m) => {
    const [cls, label] = VERDICT[m.verdict] || ["", m.verdict];
    return el("tr", {}, el("td", {}, m.model), el("td", { class: "num" }, sec(m.worst_job_s)),
      el("td", { class: "num" }, sec(budget)), el("td", { class: "num" }, m.decode_tps ? m.decode_tps.toFixed(1) : "—"),
      el("td", {}, el("span", { class: `tag ${cls}` }, label), m.error ? el("div", { class: "small" }, m.error) : null,
        ...(m.advice || []).map((a) => el("div", { class: "small muted" }, a))));
  }));
  $("#results-card").hidden = false;
  const [cls] = VERDICT[r.verdict] || ["info"];
  $("#op-progress").replaceChildren(el("div", { class: `notice ${cls === "ok" ? "ok" : cls === "bad" ? "error" : "warn"}`, role: "status" },
    el("strong", {}, r.message || r.verdict), ...(r.advice || []).map((a) => el("div", { class: "small" }, a)),
    (r.gpus || []).length ? el("div", { class: "small", id: "tested-gpus" }, `Measured on ${r.gpus.map((g) => `GPU ${g.id} (${g.name})`).join(", ")}: the GPUs this worker's Ollama sees.`) : null));
}

$("#form").addEventListener("submit", async (e) => {
  e.preventDefault();
  clearErrors();
  const models = [...document.querySelectorAll("input[name=model]:checked")].map((x) => x.value);
  const box = progressBox($("#op-progress"));
  $("#run").disabled = true;
  try {
    const op = await runOp("speedtest", models.length ? { models } : {}, (p) => box.update(p));
    renderResult(op.result || {});
  } catch (err) {
    $("#op-progress").replaceChildren();
    showError(err);
  } finally { $("#run").disabled = false; }
});
loadModels();
