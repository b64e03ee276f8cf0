import uPlot from "./vendor/uPlot.esm.js";
import { $, api, clearErrors, confirmDialog, copyButton, duration, el, header, lcai, on, plural, progressBox, runOp,
  showError, showNotice, statePill, toBig, when } from "./app.js";
import { cancelDeregisterFlow, confirmStop, dateWithCountdown, deregisterFlow, missingStake, renderNotices, showDeregistered,
  topUpFlow } from "./actions.js";
import { renderMachine } from "./workers.js";

header();
let status = null;
let totals = {};
let deregistered = null; // the result of the last deregistration on this network (this page or the history)
let historyChecked = "";

/** After a reload the dashboard still knows the worker left: the last done deregister operation of this network. */
async function checkDeregistered(s) {
  if (s.registered || !s.address || historyChecked === s.network) return;
  historyChecked = s.network;
  try {
    const { items = [] } = await api("/api/history?kind=deregister&limit=5");
    const last = items.find((o) => o.network === s.network && o.state === "done" && o.result && !o.result.already_deregistered);
    if (last && !deregistered) { deregistered = last.result; renderStatus(status); }
  } catch { /* the history is a hint only */ }
}

/** "No job for 14 min: <reason>" once no job has come for a while (the agent fills idle_reason then). */
function renderIdle(s) {
  const box = $("#idle");
  if (!s.idle_reason) { box.replaceChildren(); return; }
  const since = Number(s.last_job_at) > 0 ? `No job for ${duration(Date.now() / 1000 - Number(s.last_job_at))}` : "No job yet";
  box.replaceChildren(el("div", { class: "notice info", role: "status", id: "idle-reason" },
    el("strong", {}, `${since}.`), el("div", {}, s.idle_reason.replace(/^./, (c) => c.toUpperCase()).replace(/([^.!?])$/, "$1."))));
}

/** The automatic settle policy's line (only while it is on): what it does now, why it failed, when it retries. */
function renderAutosettle(s) {
  const a = s.autosettle || {};
  const box = $("#autosettle");
  if (!a.enabled) { box.replaceChildren(); return; }
  const warn = ["retrying", "held", "skipped", "paused"].includes(a.state);
  box.replaceChildren(el("div", { class: `notice ${warn ? "warn" : "info"}`, role: "status", id: "autosettle-state" },
    el("strong", {}, `Automatic settle: ${a.message || a.state}`),
    a.last_action ? el("div", { class: "small" }, `Last: ${a.last_action.ok ? "" : "failed — "}${a.last_action.text}`) : null,
    el("a", { href: "settings.html#auto-form", class: "small" }, "Change in Settings")));
}

function renderStatus(s) {
  status = s;
  renderAutosettle(s);
  $("#state-pill").replaceChildren(statePill(s));
  const busy = Boolean(s.operation);
  renderNotices($("#banner"), s.notices || [], { progressTarget: $("#op-progress"), busy });
  const msg = $("#state-msg");
  msg.replaceChildren();
  checkDeregistered(s);
  if (!s.registered && deregistered && s.address && !s.operation) {
    // after a deregistration: the money is in the worker wallet — lead to Withdraw first, not to "Finish setup"
    // (once: while the operation's own result box says so, nothing more here)
    const stake = toBig(deregistered.stake_returned_wei);
    if (!document.getElementById("deregistered")) msg.append(el("div", { class: "notice info", role: "status", id: "not-registered" },
      el("strong", {}, `Deregistered. ${lcai(s.wallet_wei)} is in the worker wallet.`),
      el("div", {}, stake > 0n ? `The stake of ${lcai(stake)} came back. ` : "",
        "Withdraw it to your own wallet, or set the worker up again to rejoin the network."),
      el("p", { class: "row" }, el("a", { class: "button primary", href: "withdraw.html", id: "withdraw-now" }, "Withdraw to your wallet…"),
        s.state === "setup_needed" ? el("a", { href: "onboarding.html", id: "continue-setup" }, "Set up again…") : null)));
  } else if (s.state === "setup_needed") {
    msg.append(el("div", { class: "notice info", role: "status" }, el("strong", {}, s.message || "Setup is not finished."),
      el("div", {}, el("a", { href: "onboarding.html", id: "continue-setup" }, "Continue setup…"))));
  } else if ((s.message || s.fix) && !(s.notices || []).length) {
    const kind = ["error", "docker_missing", "docker_down", "stale"].includes(s.state) ? "warn" : s.state === "online" ? "ok" : "info";
    msg.append(el("div", { class: `notice ${kind}`, role: "status" }, el("strong", {}, s.message || s.state_label),
      s.fix ? el("div", { class: "fix" }, "How to fix: ", s.fix) : null));
  }
  $("#uptime").textContent = s.uptime_s ? duration(s.uptime_s) : "—";
  $("#active-jobs").textContent = String(s.active_jobs ?? 0);
  $("#expected-jobs").textContent = String(s.expected_jobs ?? 0);
  $("#network").textContent = s.network;
  const available = s.keep_awake_available !== false;
  $("#keep-awake").textContent = !available ? "Unavailable" : s.keep_awake ? "On" : "Off";
  $("#keep-awake-reason").textContent = !available || !s.keep_awake ? s.keep_awake_reason || "" : "";
  renderIdle(s);
  $("#address").textContent = s.address || "no key yet";
  if (s.address && !$("#copy-addr").childElementCount) $("#copy-addr").append(copyButton(() => status.address, "Copy address"));
  const served = s.served_models || [];
  $("#served").replaceChildren(...(served.length ? served.map((m) => el("li", {}, m)) : [el("li", { class: "muted" }, "none yet")]));
  $("#stuck-note").replaceChildren(s.stuck_jobs > 0
    ? el("div", { class: "notice warn" }, `${plural(s.stuck_jobs, "stuck job")}. `, el("a", { href: "stuck.html" }, "Clear stuck jobs…"))
    : "");
  renderBalances();
  const noWorker = ["setup_needed", "docker_missing"].includes(s.state);
  const leaving = Number(s.deregister_at) > 0; // a scheduled deregistration: the worker stays stopped until cancelled
  $("#btn-start").disabled = busy || noWorker || leaving || !["paused", "error", "docker_down"].includes(s.state);
  // a suspended or understaked worker (error state) still runs its container: it can still be stopped
  $("#btn-stop").disabled = busy || noWorker || s.state === "stopping" ||
    !(["online", "starting", "stale"].includes(s.state) || s.container_running);
  $("#btn-restart").disabled = busy || noWorker || leaving || s.state === "stopping";
  const settleable = toBig(s.releasable_wei) > 0n || toBig(s.worker_balance_wei) > 0n;
  $("#btn-settle").disabled = busy || noWorker || !s.registered || !settleable; // nothing to settle: no pause for nothing
  $("#btn-settle").title = settleable ? "" : "Nothing is ready to settle yet: earnings wait out the dispute window first.";
  $("#btn-settle").textContent = toBig(s.releasable_wei) > 0n ? `Settle ${lcai(s.releasable_wei)}` : "Settle earnings";
  // leaving: Deregister while registered; afterwards the way to Withdraw, and the actions that no longer apply are off
  $("#btn-deregister").disabled = busy || !s.registered || leaving;
  $("#btn-deregister").hidden = leaving;
  $("#btn-cancel-deregister").hidden = !leaving;
  $("#btn-cancel-deregister").disabled = !leaving; // also while the final step runs: it stops before the deregister tx
  $("#btn-topup").disabled = busy || !s.registered || leaving;
  $("#leaving").hidden = !s.registered && !deregistered && !(s.address && toBig(s.wallet_wei) > 0n);
  $("#leaving-text").textContent = leaving
    ? `Deregistration scheduled for ${dateWithCountdown(s.deregister_at)}. The worker is stopped; when the dispute window of its last jobs ends, the agent deregisters and the stake comes back to the worker wallet. Settle and Withdraw work meanwhile. Cancel to keep the stake and run the worker again.`
    : s.registered
    ? "Deregister stops the worker now. Once the dispute window of its last jobs ends, the agent settles them and returns the stake to the worker wallet by itself (you can cancel until then). Then withdraw it to your own wallet."
    : `This worker is not registered. ${toBig(s.wallet_wei) > 0n ? `${lcai(s.wallet_wei)} is in the worker wallet: withdraw it to your own wallet.` : ""}`;
}

function renderBalances() {
  if (!status) return;
  const parts = { stake: status.stake_wei, escrowed: status.escrowed_wei, releasable: status.releasable_wei,
    credited: status.worker_balance_wei, wallet: status.wallet_wei };
  let total = 0n;
  for (const [k, v] of Object.entries(parts)) { $(`#b-${k}`).textContent = lcai(v); total += toBig(v); }
  $("#row-credited").hidden = toBig(status.worker_balance_wei) === 0n; // normally 0: Settle pays it out at once
  $("#b-total").textContent = lcai(total);
  const t = (k, fallback) => (totals[k] !== undefined ? lcai(totals[k]) : fallback);
  $("#t-earned").textContent = t("earned_wei", "not reported yet");
  $("#t-settled").textContent = t("settled_wei", "not reported yet");
  $("#t-slashed").textContent = totals.slashed_wei !== undefined ? lcai(totals.slashed_wei) : lcai(status.slashed_wei);
  $("#t-withdrawn").textContent = t("withdrawn_wei", "—");
}

/** Seconds as "42 s" / "2 min 5 s". */
const secs = (n) => (n < 60 ? `${n} s` : `${Math.floor(n / 60)} min${n % 60 ? ` ${n % 60} s` : ""}`);

/** How close a job came to its deadline: a bar coloured by the share of the allowed time used, and the same in words
 *  (colour is never the only signal). Timed-out jobs say so; their slash is in the share column. */
function deadlineCell(j) {
  if (j.timed_out) {
    return el("td", { class: "deadline", "data-level": "timed_out" }, el("span", { class: "tag bad" }, "missed the deadline"),
      el("div", { class: "small muted" }, j.acknowledged ? "accepted, not finished in time" : "never accepted"));
  }
  if (!j.allowed_s || j.used_s === undefined) return el("td", { class: "deadline muted" }, "—");
  const pct = Math.round((100 * j.used_s) / j.allowed_s);
  const level = pct >= 80 ? "bad" : pct >= 50 ? "warn" : "ok";
  const words = { ok: "comfortable", warn: "tight", bad: "close to the deadline" }[level];
  return el("td", { class: "deadline", "data-level": level },
    el("span", { class: `meter jobmeter ${level}`, "aria-hidden": "true" }, el("span", { style: `width:${Math.min(100, pct)}%` })),
    el("span", { class: "small" }, `${secs(j.used_s)} of ${secs(j.allowed_s)} (${pct}%, ${words})`));
}

function shareCell(j) {
  if (j.timed_out) return el("td", { class: "num bad-text", "data-slash": j.slash_wei }, `slashed ${lcai(j.slash_wei)}`);
  return el("td", { class: "num" }, lcai(j.share_wei ?? j.fee_wei));
}

async function loadJobs() {
  const tbody = $("#jobs tbody");
  try {
    const { jobs: all = [] } = await api("/api/jobs");
    const at = (j) => Number(j.completed_at || j.deadline || 0);
    const jobs = all.slice().sort((a, b) => at(b) - at(a) || Number(b.job_id) - Number(a.job_id)).slice(0, 50); // newest first
    const hasModel = jobs.some((j) => j.model);
    $("#jobs-model-h").hidden = !hasModel;
    const timedOut = all.filter((j) => j.timed_out);
    $("#jobs-timed-out").replaceChildren(timedOut.length ? el("div", { class: "notice warn", role: "status" },
      el("strong", {}, `${plural(timedOut.length, "job")} missed the deadline, `,
        `${lcai(timedOut.reduce((s, j) => s + toBig(j.slash_wei), 0n))} slashed in total.`),
      el("div", {}, "Each one counts as an offence. Keep the worker online and its models warm, or serve smaller models.")) : "");
    tbody.replaceChildren(...(jobs.length ? jobs.map((j) => el("tr", { "data-job": String(j.job_id), class: j.timed_out ? "timed-out" : null },
      el("td", { class: "mono" }, String(j.job_id)), hasModel ? el("td", {}, j.model || "—") : null,
      el("td", {}, j.outcome === "refunded" // a stuck job cleared without a penalty: a refund, not a red timeout
        ? el("span", { class: "tag", title: "Stuck job cleared without a penalty: the consumer got its fee back" }, "Refunded (no fault)")
        : el("span", { class: `tag ${/released|completed/i.test(j.state) ? "ok" : /timed|disput|slash/i.test(j.state) ? "bad" : ""}` }, j.state)),
      deadlineCell(j), shareCell(j), el("td", {}, j.timed_out ? `deadline ${when(j.deadline)}` : when(j.completed_at)),
      el("td", {}, when(j.releasable_at))))
      : [el("tr", {}, el("td", { colspan: "7", class: "muted" }, "No jobs yet."))]));
  } catch (e) {
    tbody.replaceChildren(el("tr", {}, el("td", { colspan: "7" }, `Could not load jobs: ${e.message}`)));
  }
}

let plot = null;
async function loadEarnings() {
  try {
    const data = await api("/api/earnings");
    totals = data.totals || {};
    const series = data.series || [];
    if (totals.withdrawn_wei === undefined && series.length) totals.withdrawn_wei = series[series.length - 1].withdrawn_wei;
    renderBalances();
    drawChart(series);
  } catch (e) {
    $("#chart-empty").hidden = false;
    $("#chart-empty").textContent = `Could not load earnings: ${e.message}`;
  }
}

// Series named by what they are. The samples' withdrawn_wei is what the registry paid out of the worker's
// balance (settled earnings, cumulative), not what went to the user's own wallet — so it is named "Settled".
const SERIES = [
  ["escrowed_wei", "Escrowed (dispute window)", "#9a6700", "b-escrowed"],
  ["releasable_wei", "Ready to settle", "#0969da", "b-releasable"],
  ["worker_balance_wei", "Credited, not paid out", "#8250df", "b-credited"],
  ["wallet_wei", "Worker wallet", "#1a7f37", "b-wallet"],
  ["withdrawn_wei", "Settled so far (total)", "#cf222e", null],
];
function drawChart(series) {
  const box = $("#chart");
  const keys = SERIES.filter(([k]) => series.some((p) => p[k] !== undefined && (k !== "worker_balance_wei" || toBig(p[k]) > 0n)));
  const empty = series.length < 2 || !keys.length;
  $("#chart-empty").hidden = !empty;
  box.hidden = empty;
  $("#chart-legend").hidden = empty;
  if (empty) return;
  const last = series[series.length - 1];
  // legend with the latest values, readable without hovering; the same numbers as the table above
  $("#chart-legend").replaceChildren(...keys.map(([k, label, stroke]) => el("li", { "data-series": k },
    el("span", { class: "swatch", style: `background:${stroke}` }), el("span", {}, label), " ",
    el("strong", { class: "num" }, lcai(last[k])))));
  const xs = series.map((p) => Number(p.t) > 1e12 ? Number(p.t) / 1000 : Number(p.t));
  const ys = keys.map(([k]) => series.map((p) => Number(toBig(p[k])) / 1e18));
  const ink = getComputedStyle(document.body).color;
  const opts = {
    width: Math.max(300, box.clientWidth - 4), height: 240,
    legend: { show: false },
    series: [{}, ...keys.map(([, label, stroke]) => ({ label, stroke, width: 2 }))],
    axes: [{ stroke: ink }, { stroke: ink, size: 70, label: "LCAI", labelSize: 18, values: (u, vals) => vals.map((v) => v.toLocaleString("en-US")) }],
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

$("#btn-start").addEventListener("click", () => doOp("start", {}, "Worker started."));
$("#btn-restart").addEventListener("click", () => doOp("restart", {}, "Worker restarted."));
$("#btn-stop").addEventListener("click", async () => {
  if (status?.registered && !(await confirmStop(status))) return;
  doOp("stop", {}, "Worker stopped.");
});
$("#btn-settle").addEventListener("click", async () => {
  const ok = await confirmDialog({
    title: "Settle earnings",
    text: "The worker pauses for a moment while the settlement is sent from its key (it never sends while the worker container could).",
    rows: [["Ready to settle", lcai(status?.releasable_wei)], ["Paid to", "the worker wallet"]],
    confirm: "Settle now",
  });
  if (ok) doOp("settle", { confirm: true }, "Earnings settled.");
});
$("#btn-deregister").addEventListener("click", () => deregisterFlow($("#op-progress"), (r) => {
  deregistered = r;
  loadEarnings(); loadJobs();
}));
$("#btn-cancel-deregister").addEventListener("click", () => cancelDeregisterFlow($("#op-progress")));
$("#btn-topup").addEventListener("click", () => topUpFlow($("#op-progress"), missingStake(status) > 0n ? missingStake(status) : null));

$("#worker-log-box").addEventListener("toggle", async (e) => {
  if (!e.target.open) return;
  try {
    const r = await api("/api/worker/log?lines=200");
    $("#worker-log").textContent = r.lines.length ? r.lines.join("\n") : `No log: the container ${r.container} does not exist yet.`;
  } catch (err) { $("#worker-log").textContent = ""; showError(err); }
});

on("status", renderStatus);
on("result", (r) => {
  if (r.ok === false && r.error) showError(typeof r.error === "object" ? r.error : { message: String(r.error) });
  if (r.ok && r.kind === "deregister" && r.result && !r.result.scheduled && !deregistered) { deregistered = r.result; showDeregistered($("#op-progress"), r.result); }
});
on("notify", (n) => showNotice(`${n.title}: ${n.message}`, n.level === "error" ? "error" : n.level === "warning" ? "warn" : "info", $("#op-progress")));
api("/api/status").then((s) => {
  renderStatus(s);
  // the tray's "Settle earnings" opens this page to confirm here (money actions are never posted from the menu)
  const ask = new URLSearchParams(location.search).get("confirm");
  if (ask === "settle" && !$("#btn-settle").disabled) $("#btn-settle").click();
  if (ask === "stop" && !$("#btn-stop").disabled) $("#btn-stop").click();  // the tray's Stop of a registered worker
}).catch(showError);
loadJobs(); loadEarnings();
setInterval(loadJobs, 20000);
setInterval(() => status && renderStatus(status), 30000); // countdowns (scheduled deregistration) stay current
setInterval(loadEarnings, 30000);
renderMachine();
setInterval(renderMachine, 10000);
