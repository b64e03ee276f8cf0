// Clear stuck jobs: list with slash amounts, explicit opt-in to a slash, confirmation, the clear_stuck operation.
import { $, api, clearErrors, confirmDialog, el, header, lcai, plural, progressBox, runOp, showError, toBig, when } from "./app.js";

header();
let data = { jobs: [], slash_applies: false };

async function load() {
  try { data = await api("/api/stuck"); } catch (e) { showError(e); return; }
  const jobs = data.jobs || [];
  $("#stuck tbody").replaceChildren(...(jobs.length ? jobs.map((j) => el("tr", {},
    el("td", { class: "mono" }, String(j.job_id)), el("td", {}, j.state), el("td", {}, when(j.deadline)), el("td", {}, when(j.no_fault_at)),
    el("td", { class: "num" }, toBig(j.slash_wei) > 0n ? el("span", { class: "tag bad" }, lcai(j.slash_wei)) : "none")))
    : [el("tr", {}, el("td", { colspan: "5", class: "muted" }, "No stuck jobs. Nothing to do."))]));
  const slash = jobs.reduce((a, j) => a + toBig(j.slash_wei), 0n);
  $("#slash-box").replaceChildren(data.slash_applies && slash > 0n ? el("div", { class: "notice warn" },
    el("strong", {}, `Clearing now slashes ${lcai(slash)} of the stake.`),
    el("label", { class: "inline" }, el("input", { type: "checkbox", id: "allow-slash" }), "Clear anyway and accept the slash"),
    el("div", { class: "small" }, "Or wait until the no-fault time and clear them without a penalty.")) : "");
  $("#clear").disabled = !jobs.length;
}

$("#clear").addEventListener("click", async () => {
  clearErrors();
  const jobs = data.jobs || [];
  const slash = jobs.reduce((a, j) => a + toBig(j.slash_wei), 0n);
  const allow = Boolean($("#allow-slash")?.checked);
  if (data.slash_applies && slash > 0n && !allow) {
    showError({ message: "These jobs cannot be cleared without a slash yet.", fix: "Tick “Clear anyway” to accept the slash, or wait until the no-fault time." });
    return;
  }
  const ok = await confirmDialog({
    title: `Clear ${plural(jobs.length, "stuck job")}?`,
    rows: [["Jobs", jobs.map((j) => j.job_id).join(", ")], ["Slash", slash > 0n && allow ? lcai(slash) : "none"], ["Gas", jobs.length === 1 ? "one transaction" : "one transaction per job"]],
    confirm: "Clear", danger: slash > 0n && allow,
  });
  if (!ok) return;
  const box = progressBox($("#op-progress"));
  try {
    await runOp("clear_stuck", { allow_slash: allow, confirm: true }, (p) => box.update(p));
    box.done("Stuck jobs cleared.");
  } catch (e) { $("#op-progress").replaceChildren(); showError(e); }
  load();
});
load();
