// Preflight: one line per check with its result (ok / warn / block), the detail and how to fix it.
import { $, api, clearErrors, el, header, plural, showError } from "./app.js";

header();
const TAG = { ok: ["ok", "OK"], warn: ["warn", "Warn"], block: ["bad", "Block"] };

function row(c) {
  const [cls, label] = TAG[c.result] || ["bad", c.result];
  return el("tr", { "data-check": c.id, "data-result": c.result },
    el("th", { scope: "row" }, c.title),
    el("td", {}, el("span", { class: `tag ${cls}` }, label)),
    el("td", {}, c.detail),
    el("td", { class: "fix" }, c.result === "ok" ? "" : c.fix || ""));
}

function summary(rep) {
  const n = rep.counts || {};
  if (rep.result === "block") return el("div", { class: "notice error", role: "alert" },
    el("strong", {}, `${plural(n.block, "blocking problem")}.`), " Stake-changing steps are refused until they are fixed.");
  if (rep.result === "warn") return el("div", { class: "notice warn" },
    el("strong", {}, `${plural(n.warn, "warning")}.`), " The worker can run, but may miss jobs or earnings.");
  return el("div", { class: "notice ok" }, el("strong", {}, "All checks passed."));
}

async function load() {
  const btn = $("#rerun");
  btn.disabled = true;
  clearErrors();
  $("#summary").replaceChildren("Checking…");
  try {
    const rep = await api("/api/preflight");
    $("#summary").replaceChildren(summary(rep));
    $("#checks tbody").replaceChildren(...(rep.checks || []).map(row));
    document.body.dataset.result = rep.result;
  } catch (e) {
    $("#summary").replaceChildren();
    showError(e);
  } finally {
    btn.disabled = false;
  }
}

$("#rerun").addEventListener("click", load);
load();
