// Clear stuck jobs (contracts §7): per job when the no-fault refund opens (countdown from chain time), the no-fault
// clearing when open, and a slash confirmation (exact amount, integer wei) only for jobs with no no-fault path.
import { $, api, clearErrors, confirmDialog, duration, el, header, lcai, plural, progressBox, runOp, showError, toBig, when } from "./app.js";

header();
let data = { jobs: [], slash_applies: false, slash_wei_total: "0", chain_now: 0 };
let loadedAt = Date.now();
const chainNow = () => Number(data.chain_now || 0) + Math.floor((Date.now() - loadedAt) / 1000);
const noPath = (j) => j.no_fault === "unavailable";

function noFaultCell(j) {
  if (j.no_fault === "open") return el("span", { class: "tag ok" }, "available now");
  if (j.no_fault === "waiting" && j.available_at) {
    return el("span", {}, el("span", { class: "countdown", "data-at": String(j.available_at) }, ""),
      el("div", { class: "small muted" }, `from ${when(j.available_at)} (chain time)`));
  }
  if (noPath(j)) return el("span", { class: "tag warn", title: j.message || "" }, "not on this network");
  return el("span", { class: "muted" }, "not checked (tried first when clearing)");
}

function tick() {
  let opened = false;
  for (const c of document.querySelectorAll(".countdown")) {
    const left = Number(c.dataset.at) - chainNow();
    if (left <= 0) opened = true;
    c.textContent = left > 0 ? `in ${duration(left)}` : "opening now…";
  }
  if (opened && !tick.reloading) { tick.reloading = true; setTimeout(() => { tick.reloading = false; load(); }, 3000); }
}

async function load() {
  try { data = await api("/api/stuck"); loadedAt = Date.now(); } catch (e) { showError(e); return; }
  const jobs = data.jobs || [];
  $("#stuck tbody").replaceChildren(...(jobs.length ? jobs.map((j) => el("tr", { "data-job": String(j.job_id), "data-no-fault": j.no_fault || "unknown" },
    el("td", { class: "mono" }, String(j.job_id)), el("td", {}, j.state), el("td", {}, when(j.deadline)), el("td", {}, noFaultCell(j)),
    el("td", { class: "num" }, noPath(j) && toBig(j.slash_wei) > 0n ? el("span", { class: "tag bad" }, lcai(j.slash_wei)) : "none")))
    : [el("tr", {}, el("td", { colspan: "5", class: "muted" }, "No stuck jobs. Nothing to do."))]));
  $("#chain-time").textContent = jobs.length && data.chain_now ? `Times are chain time (now ${when(data.chain_now)}).` : "";
  const blocked = jobs.filter(noPath);
  const slash = toBig(data.slash_wei_total || 0);
  $("#slash-box").replaceChildren(blocked.length ? el("div", { class: "notice warn", id: "slash-notice" },
    el("strong", {}, `${plural(blocked.length, "job has", "jobs have")} no no-fault path on this network: only claimTimeout clears ${blocked.length === 1 ? "it" : "them"}, slashing ${lcai(slash)} of the stake (exactly ${slash} wei).`),
    el("label", { class: "inline" }, el("input", { type: "checkbox", id: "allow-slash" }), `Clear ${blocked.length === 1 ? "it" : "them"} anyway and accept this slash`),
    el("div", { class: "small" }, "Each timeout also counts as an offence. Without this box they stay stuck; the other jobs clear without a penalty.")) : "");
  const clearable = jobs.filter((j) => j.no_fault === "open" || j.no_fault === "unknown" || j.no_fault === undefined);
  $("#clear").disabled = !(clearable.length || blocked.length);
  $("#clear").textContent = clearable.length && !blocked.length ? `Clear ${plural(clearable.length, "job")} without a penalty…` : "Clear stuck jobs…";
  const waiting = jobs.filter((j) => j.no_fault === "waiting").length;
  $("#clear-note").textContent = waiting && !clearable.length && !blocked.length
    ? `Nothing can be cleared without a penalty yet: ${plural(waiting, "job waits", "jobs wait")} for the no-fault time above. This page updates itself.` : "";
  tick();
  loadCleared();
}

async function loadCleared() {
  let items = [];
  try { ({ items = [] } = await api("/api/history?kind=clear_stuck&limit=5")); } catch { return; }
  const rows = items.filter((o) => o.state === "done").flatMap((o) => ((o.result || {}).jobs || [])
    .filter((j) => j.action === "settled_no_fault" || j.action === "timed_out").map((j) => el("tr", { "data-job": String(j.job_id) },
      el("td", { class: "mono" }, String(j.job_id)),
      el("td", {}, j.action === "settled_no_fault" ? el("span", { class: "tag ok" }, "Refunded to the consumer (no fault)")
        : el("span", { class: "tag bad" }, "Timed out (slashed)")),
      el("td", { class: "num" }, j.action === "timed_out" ? lcai(j.slash_wei) : "none"), el("td", {}, when(o.finished)))));
  $("#cleared-card").hidden = !rows.length;
  $("#cleared tbody").replaceChildren(...rows);
}

$("#clear").addEventListener("click", async () => {
  clearErrors();
  const jobs = data.jobs || [];
  const blocked = jobs.filter(noPath);
  const allow = blocked.length > 0 && Boolean($("#allow-slash")?.checked);
  const slash = allow ? toBig(data.slash_wei_total || 0) : 0n;
  const now = jobs.filter((j) => !noPath(j) && j.no_fault !== "waiting");
  if (!now.length && !allow) {
    showError(blocked.length
      ? { message: "These jobs can only be cleared with a slash.", fix: "Tick “Clear anyway” to accept the slash shown, or leave them stuck." }
      : { message: "No job can be cleared without a penalty yet.", fix: "Wait for the no-fault time shown for each job; the page updates itself." });
    return;
  }
  const targets = [...now, ...(allow ? blocked : [])];
  const ok = await confirmDialog({
    title: `Clear ${plural(targets.length, "stuck job")}?`,
    rows: [["Jobs", targets.map((j) => j.job_id).join(", ")],
      ["No-fault refund", now.length ? `${plural(now.length, "job")}, no penalty` : "none"],
      ["Slash", allow ? `${lcai(slash)} (${slash} wei)` : "none"],
      ["Gas", targets.length === 1 ? "one transaction" : "one transaction per job"]],
    confirm: "Clear", danger: allow && slash > 0n,
  });
  if (!ok) return;
  const box = progressBox($("#op-progress"));
  const body = allow ? { allow_slash: true, max_slash_wei: slash.toString(), confirm: true } : { allow_slash: false, confirm: true };
  try {
    const rec = await runOp("clear_stuck", body, (p) => box.update(p));
    const r = (rec && rec.result) || {};
    box.done(r.settled_no_fault ? `${plural(r.settled_no_fault, "job")} refunded to the consumer without a penalty.` : "Done.");
  } catch (e) { $("#op-progress").replaceChildren(); showError(e); }
  load();
});
setInterval(tick, 1000);
load();
