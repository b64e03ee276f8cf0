import uPlot from "./vendor/uPlot.esm.js";
import { $, api, clearErrors, confirmDialog, copyButton, duration, el, header, lcai, on, progressBox, runOp,
  showError, showNotice, statePill, toBig, when } from "./app.js";

header();
let status = null;
let withdrawn = 0n;

function renderStatus(s) {
  status = s;
  $("#state-pill").replaceChildren(statePill(s));
  const msg = $("#state-msg");
  msg.replaceChildren();
  if (s.state === "setup_needed") {
    msg.append(el("div", { class: "notice info", role: "status" }, el("strong", {}, s.message || "Setup is not finished."),
      el("div", {}, el("a", { href: "onboarding.html", id: "continue-setup" }, "Continue setup…"))));
  } else if (s.message || s.fix) {
    const kind = ["error", "docker_missing", "docker_down", "stale"].includes(s.state) ? "warn" : s.state === "online" ? "ok" : "info";
    msg.append(el("div", { class: `notice ${kind}`, role: "status" }, el("strong", {}, s.message || s.state_label),
      s.fix ? el("div", { class: "fix" }, "How to fix: ", s.fix) : null));
  }
  $("#uptime").textContent = s.uptime_s ? duration(s.uptime_s) : "—";
  $("#active-jobs").textContent = String(s.active_jobs ?? 0);
  $("#network").textContent = s.network;
  $("#keep-awake").textContent = s.keep_awake ? "On" : "Off";
  $("#keep-awake-reason").textContent = s.keep_awake ? "" : s.keep_awake_reason || "";
  $("#address").textContent = s.address || "no key yet";
  if (s.address && !$("#copy-addr").childElementCount) $("#copy-addr").append(copyButton(() => status.address, "Copy address"));
  const served = s.served_models || [];
  $("#served").replaceChildren(...(served.length ? served.map((m) => el("li", {}, m)) : [el("li", { class: "muted" }, "none yet")]));
  $("#stuck-note").replaceChildren(s.stuck_jobs > 0
    ? el("div", { class: "notice warn" }, `${s.stuck_jobs} stuck job(s). `, el("a", { href: "stuck.html" }, "Clear stuck jobs…"))
    : "");
  renderBalances();
  const busy = Boolean(s.operation);
  const noWorker = ["setup_needed", "docker_missing"].includes(s.state);
  $("#btn-start").disabled = busy || noWorker || !["paused", "error", "docker_down"].includes(s.state);
  $("#btn-stop").disabled = busy || noWorker || !["online", "starting", "stale"].includes(s.state);
  $("#btn-restart").disabled = busy || noWorker || s.state === "stopping";
  $("#btn-settle").disabled = busy || noWorker || !s.registered;
  $("#btn-settle").textContent = toBig(s.releasable_wei) > 0n ? `Settle ${lcai(s.releasable_wei, 2)}` : "Settle earnings";
}

function renderBalances() {
  if (!status) return;
  const parts = { stake: status.stake_wei, escrowed: status.escrowed_wei, releasable: status.releasable_wei,
    credited: status.worker_balance_wei, wallet: status.wallet_wei };
  let total = 0n;
  for (const [k, v] of Object.entries(parts)) { $(`#b-${k}`).textContent = lcai(v); total += toBig(v); }
  $("#b-total").textContent = lcai(total);
  $("#b-withdrawn").textContent = lcai(withdrawn);
}

async function loadJobs() {
  const tbody = $("#jobs tbody");
  try {
    const { jobs: all = [] } = await api("/api/jobs");
    const jobs = all.slice().reverse().slice(0, 50); // newest first
    const hasModel = jobs.some((j) => j.model);
    $("#jobs-model-h").hidden = !hasModel;
    tbody.replaceChildren(...(jobs.length ? jobs.map((j) => el("tr", {},
      el("td", { class: "mono" }, String(j.job_id)), hasModel ? el("td", {}, j.model || "—") : null,
      el("td", {}, el("span", { class: `tag ${/released|completed/i.test(j.state) ? "ok" : /timed|disput|slash/i.test(j.state) ? "bad" : ""}` }, j.state)),
      el("td", { class: "num" }, lcai(j.share_wei ?? j.fee_wei)), el("td", {}, when(j.completed_at)), el("td", {}, when(j.releasable_at))))
      : [el("tr", {}, el("td", { colspan: "6", class: "muted" }, "No jobs yet."))]));
  } catch (e) {
    tbody.replaceChildren(el("tr", {}, el("td", { colspan: "6" }, `Could not load jobs: ${e.message}`)));
  }
}

let plot = null;
async function loadEarnings() {
  try {
    const data = await api("/api/earnings");
    const series = data.series || [];
    const totals = data.totals || {};
    if (totals.withdrawn_wei !== undefined) withdrawn = toBig(totals.withdrawn_wei);
    else if (series.length) withdrawn = toBig(series[series.length - 1].withdrawn_wei);
    renderBalances();
    drawChart(series);
  } catch (e) {
    $("#chart-empty").hidden = false;
    $("#chart-empty").textContent = `Could not load earnings: ${e.message}`;
  }
}

const SERIES = [
  ["escrowed_wei", "Escrowed", "#9a6700"], ["releasable_wei", "Releasable", "#0969da"],
  ["worker_balance_wei", "Credited", "#8250df"], ["released_wei", "Released", "#1a7f37"],
  ["withdrawn_wei", "Withdrawn", "#cf222e"],
];
function drawChart(series) {
  const box = $("#chart");
  const keys = SERIES.filter(([k]) => series.some((p) => p[k] !== undefined));
  const empty = series.length < 2 || !keys.length;
  $("#chart-empty").hidden = !empty;
  box.hidden = empty;
  if (empty) return;
  const xs = series.map((p) => Number(p.t) > 1e12 ? Number(p.t) / 1000 : Number(p.t));
  const ys = keys.map(([k]) => series.map((p) => Number(toBig(p[k])) / 1e18));
  const opts = {
    width: Math.max(300, box.clientWidth - 4), height: 240,
    series: [{}, ...keys.map(([, label, stroke]) => ({ label, stroke, width: 2, value: (u, v) => v == null ? "—" : `${v.toFixed(2)} LCAI` }))],
    axes: [{ stroke: getComputedStyle(document.body).color }, { stroke: getComputedStyle(document.body).color, size: 60 }],
  };
  if (plot) plot.destroy();
  plot = new uPlot(opts, [xs, ...ys], box);
}
window.addEventListener("resize", () => plot && plot.setSize({ width: Math.max(300, $("#chart").clientWidth - 4), height: 240 }));

async function doOp(kind, body = {}, doneText = "Done.") {
  clearErrors();
  const box = progressBox($("#op-progress"));
  try {
    await runOp(kind, body, (p) => box.update(p));
    box.done(doneText);
    setTimeout(() => $("#op-progress").replaceChildren(), 4000);
    loadEarnings(); loadJobs();
  } catch (e) {
    $("#op-progress").replaceChildren();
    showError(e);
  }
}

for (const b of document.querySelectorAll("button[data-op]")) {
  b.addEventListener("click", () => doOp(b.dataset.op, {}, `${b.textContent} requested.`));
}
$("#btn-settle").addEventListener("click", async () => {
  const ok = await confirmDialog({
    title: "Settle earnings",
    text: "The worker pauses for a moment while the settlement is sent from its key (it never sends while the worker container could).",
    rows: [["Ready to settle", lcai(status?.releasable_wei)], ["Paid to", "the worker wallet"]],
    confirm: "Settle now",
  });
  if (ok) doOp("settle", { confirm: true }, "Earnings settled.");
});

on("status", renderStatus);
on("result", (r) => { if (r.ok === false && r.error) showError(typeof r.error === "object" ? r.error : { message: String(r.error) }); });
on("notify", (n) => showNotice(`${n.title}: ${n.message}`, n.level === "error" ? "error" : n.level === "warning" ? "warn" : "info", $("#op-progress")));
api("/api/status").then(renderStatus).catch(showError);
loadJobs(); loadEarnings();
setInterval(loadJobs, 20000);
setInterval(loadEarnings, 30000);
