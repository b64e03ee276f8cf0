// Actions shared by the dashboard and Settings: the notice banner, Stop with its consequence, Deregister with
// the amounts returned, Top up with what is missing, Replace worker key with what happens to the old stake.
import { $, clearErrors, confirmDialog, currentStatus, el, humanizeMoney, lcai, lcaiNumber, parseLcai, plural,
  progressBox, put, runOp, sentence, showError, toBig, when } from "./app.js";

// operations that move funds or stake (tray_agent/common/ops.py MONEY_OPS): the agent wants confirm: true
const MONEY_OPS = new Set(["settle", "withdraw", "deregister", "clear_stuck", "top_up", "remove_worker", "replace_key",
  "stop_foreign", "stop_now", "adopt_foreign"]);
const LEVEL_CLASS = { error: "error", warning: "warn", info: "info" };

/** "Tue, 1 Dec 2026, 14:00 (in 3 h 20 min)" for a unix time. */
export function dateWithCountdown(unix) {
  const ms = Number(unix) * 1000;
  if (!ms) return "";
  const d = new Date(ms);
  const text = d.toLocaleString("en-GB", { weekday: "short", day: "numeric", month: "short", year: "numeric", hour: "2-digit", minute: "2-digit" });
  const left = Math.round((ms - Date.now()) / 60000);
  if (left <= 0) return `${text} (passed)`;
  const h = Math.floor(left / 60), m = left % 60;
  const days = Math.floor(h / 24);
  const rel = days >= 2 ? `in ${days} days` : h ? `in ${h} h ${m} min` : `in ${m} min`;
  return `${text} (${rel})`;
}

/** What the Stop button means while sessions are claimed: a confirmation with the consequence. */
export async function confirmStop(s = currentStatus()) {
  const sessions = Number(s?.claimed_sessions || 0);
  const risky = sessions > 0 || Boolean(s?.registered);  // a registered worker keeps getting jobs while stopped
  const rows = [["Claimed sessions", String(sessions)]];
  if (Number(s?.active_jobs || 0)) rows.push(["Jobs running now", String(s.active_jobs)]);
  const deregister = el("a", { href: "dashboard.html#leaving", id: "dlg-to-deregister" }, "Deregister instead…");
  return confirmDialog({
    title: "Stop the worker?",
    text: (sessions > 0
      ? `${plural(sessions, "claimed session")} keep${sessions === 1 ? "s" : ""} sending jobs to this worker while it is registered. `
      : risky ? "The network keeps sending jobs to this worker while it is registered. " : "")
      + (risky ? "Jobs that arrive while it is stopped are not answered: they time out and count as offences, which can slash the stake."
        : "The worker stops taking jobs until you start it again."),
    rows,
    extra: el("p", { class: "small" }, "To leave the network for good and get the stake back, use Deregister. ", deregister),
    confirm: risky ? "Stop anyway" : "Stop",
    danger: risky,
  });
}

/** Deregister: confirmation, progress (wei in it formatted), then the amounts returned and the way to Withdraw. */
export async function deregisterFlow(progressTarget, onDone = () => {}) {
  clearErrors();
  const s = currentStatus() || {};
  if (!s.registered) {
    showError({ message: "This worker is not registered, so there is nothing to deregister.", fix: "Withdraw what is in the worker wallet instead." });
    return null;
  }
  const ok = await confirmDialog({
    title: "Deregister this worker?",
    text: "The worker stops taking jobs now. Once its last jobs leave the dispute window, the agent settles them and deregisters "
      + "by itself (you can close this page; until then you can cancel). The stake comes back to the worker wallet; from there "
      + "you withdraw it to your own wallet.",
    rows: [["Stake returned", lcai(s.stake_wei)], ["Earnings settled on the way", lcai(toBig(s.releasable_wei) + toBig(s.escrowed_wei))],
      ["Takes", "up to the dispute window (the dashboard shows a countdown)"]],
    confirm: "Deregister", danger: true,
  });
  if (!ok) return null;
  const box = progressBox(progressTarget);
  try {
    const op = await runOp("deregister", { confirm: true }, (p) => box.update(p));
    const r = op.result || {};
    if (r.scheduled) showScheduled(progressTarget, r);
    else { showDeregistered(progressTarget, r); onDone(r); }
    return r;
  } catch (e) { progressTarget.replaceChildren(); showError(e); return null; }
}

/** The deregister operation ended with a schedule: when the stake comes back, and that it can be cancelled. */
export function showScheduled(target, r = {}) {
  target.replaceChildren(el("div", { class: "notice info", role: "status", id: "dereg-scheduled" },
    el("strong", {}, `Deregistration scheduled for ${dateWithCountdown(r.at)}.`),
    el("div", {}, "The worker is stopped. The agent returns the stake by itself when the dispute window of the last jobs ends; "
      + "meanwhile you can settle and withdraw earnings. Cancel it from the banner above to keep the stake.")));
}

/** Cancel a scheduled deregistration: the worker starts again and keeps its stake. */
export async function cancelDeregisterFlow(progressTarget) {
  clearErrors();
  const box = progressBox(progressTarget);
  try {
    const op = await runOp("cancel_deregister", {}, (p) => box.update(p));
    box.done(op.result?.message ? sentence(op.result.message) : "Deregistration cancelled: the worker runs again.");
    return op;
  } catch (e) { progressTarget.replaceChildren(); showError(e); return null; }
}

/** The result of a deregistration: amounts returned and the next step (Withdraw). */
export function showDeregistered(target, r = {}) {
  const stake = toBig(r.stake_returned_wei), withdrawn = toBig(r.withdrawn_wei);
  target.replaceChildren(el("div", { class: "notice ok", role: "status", id: "deregistered" },
    el("strong", {}, r.already_deregistered ? "This worker was already deregistered: nothing more came back." : "Deregistered. The stake is back in the worker wallet."),
    r.already_deregistered ? null : el("dl", { class: "kv" },
      el("dt", {}, "Stake returned"), el("dd", { id: "dereg-stake" }, lcai(stake)),
      el("dt", {}, "Earnings paid out on the way"), el("dd", { id: "dereg-earnings" }, lcai(withdrawn))),
    el("p", {}, "Next: send it to your own wallet."),
    el("p", {}, el("a", { class: "button primary", href: "withdraw.html", id: "go-withdraw" }, "Withdraw to your wallet…"))));
}

/** What is missing for the minimum stake (wei, 0n when nothing). */
export function missingStake(s = currentStatus()) {
  const min = toBig(s?.min_stake_wei), stake = toBig(s?.stake_wei);
  return min > stake ? min - stake : 0n;
}

/** Top up the stake: the dialog proposes what is missing (not the registration sum again). */
export async function topUpFlow(progressTarget, suggestedWei = null) {
  clearErrors();
  const s = currentStatus() || {};
  const missing = suggestedWei !== null ? toBig(suggestedWei) : missingStake(s);
  const input = el("input", { type: "text", id: "topup-amount", name: "amount", inputmode: "decimal", autocomplete: "off",
    value: missing > 0n ? lcaiNumber(missing).replace(/,/g, "") : "" });
  const msg = el("div", { class: "field-msg", id: "topup-msg", "aria-live": "polite" });
  const amount = await new Promise((resolve) => {
    const cancel = el("button", { type: "button", id: "topup-cancel" }, "Cancel");
    const nextBtn = el("button", { type: "button", class: "primary", id: "topup-next" }, "Next");
    const devnet = el("button", { type: "button", class: "link", id: "topup-devnet" }, "get LCAI from the devnet wallet");
    devnet.addEventListener("click", async () => {
      devnet.disabled = true;
      try { await runOp("devnet_fund", {}, (p) => { msg.className = "field-msg"; msg.textContent = humanizeMoney(p.message || ""); }); msg.textContent = "Funded from the devnet wallet."; }
      catch (e) { msg.className = "field-msg bad"; msg.textContent = sentence(e.message); devnet.disabled = false; }
    });
    const dlg = el("dialog", { "aria-labelledby": "tu-h", "data-testid": "topup-dialog" }, el("h2", { id: "tu-h" }, "Top up the stake"),
      el("dl", { class: "kv" },
        el("dt", {}, "Stake now"), el("dd", {}, lcai(s.stake_wei)),
        el("dt", {}, "Minimum stake"), el("dd", {}, toBig(s.min_stake_wei) > 0n ? lcai(s.min_stake_wei) : "unknown"),
        el("dt", {}, "Missing"), el("dd", { id: "topup-missing" }, missing > 0n ? lcai(missing) : "nothing"),
        el("dt", {}, "Worker wallet"), el("dd", {}, lcai(s.wallet_wei))),
      el("label", { for: "topup-amount" }, "Amount to add from the worker wallet (LCAI)"), input, msg,
      s.network === "devnet" && missing > toBig(s.wallet_wei) ? el("p", { class: "small" },
        "The worker wallet holds less than that. On devnet, ", devnet, " first.") : null,
      el("div", { class: "row end" }, cancel, nextBtn));
    const done = (v) => { dlg.close(); dlg.remove(); resolve(v); };
    cancel.addEventListener("click", () => done(null));
    dlg.addEventListener("cancel", (e) => { e.preventDefault(); done(null); });
    nextBtn.addEventListener("click", () => {
      const wei = parseLcai(input.value);
      if (wei === null || wei <= 0n) {
        input.setAttribute("aria-invalid", "true");
        msg.className = "field-msg bad";
        msg.textContent = "Type an amount of LCAI, like 100 or 12.5.";
        input.focus();
        return;
      }
      done(input.value.trim());
    });
    document.body.append(dlg); dlg.showModal(); input.focus();
  });
  if (!amount) return null;
  const ok = await confirmDialog({ title: "Top up the stake?", confirm: "Top up",
    rows: [["Amount", lcai(parseLcai(amount))], ["From", "the worker wallet"], ["Wallet now", lcai(s.wallet_wei)]] });
  if (!ok) return null;
  const box = progressBox(progressTarget);
  try {
    const op = await runOp("top_up", { amount, confirm: true }, (p) => box.update(p));
    box.done("Stake topped up.");
    return op;
  } catch (e) { progressTarget.replaceChildren(); showError(e); return null; }
}

/** Replace the worker key: explains what happens to the old key's stake and asks for confirmation. */
export async function replaceKeyFlow(progressTarget) {
  clearErrors();
  const s = currentStatus() || {};
  const staked = toBig(s.stake_wei) > 0n;
  const ok = await confirmDialog({
    title: "Replace the worker key?",
    text: staked
      ? `The current key still holds ${lcai(s.stake_wei)} of stake. That stake stays with the old key: it is not moved. `
        + "The old key is archived (never deleted); you can restore it later under Recover key, or deregister first to get the stake back before replacing it."
      : "The current key is archived (never deleted) and a new key is created. The new key needs funding and registration again.",
    rows: [["Old key", s.address || "none"], ["Stake on the old key", lcai(s.stake_wei)], ["Old key afterwards", "archived; restore it under Recover key"]],
    extra: staked ? el("label", { class: "inline" }, el("input", { type: "checkbox", id: "replace-ack" }),
      "I understand the stake stays with the old key.") : null,
    confirm: "Replace the key", danger: staked,
    require: staked ? "#replace-ack" : null,
  });
  if (!ok) return null;
  const box = progressBox(progressTarget);
  try {
    const op = await runOp("replace_key", { confirm: true }, (p) => box.update(p));
    box.done("A new worker key was created. Finish setup to fund and register it.");
    return op;
  } catch (e) { progressTarget.replaceChildren(); showError(e); return null; }
}

/** Adopt the worker another app runs here: its keystore password (never stored by the page), then import, drain,
 *  stop it and run ours with the same key. */
export async function adoptFlow(progressTarget) {
  clearErrors();
  const s = currentStatus() || {};
  const pw = el("input", { type: "password", id: "adopt-password", autocomplete: "off", "aria-label": "Keystore password" });
  const repl = el("input", { type: "checkbox", id: "adopt-replace" });
  const ok = await confirmDialog({
    title: "Adopt the other worker?",
    text: "This app imports its key files (keystore and encryption key) from the folders mounted into its container, waits "
      + "until it runs no job, stops it and runs the same worker here: its stake, earnings and sessions stay the same.",
    extra: el("div", {},
      el("label", { for: "adopt-password" }, "Its keystore password (WORKER_KEYSTORE_PASSWORD in its env file)"), pw,
      s.address ? el("label", { class: "inline" }, repl, `Archive this app's current key ${s.address} (its stake stays with it and can be recovered)`) : null),
    confirm: "Adopt",
  });
  if (!ok) return null;
  const box = progressBox(progressTarget);
  try {
    const op = await runOp("adopt_foreign", { confirm: true, password: pw.value, replace_active: repl.checked }, (p) => box.update(p));
    box.done(`Adopted ${op.result?.adopted || "the other worker"}: this app now runs worker ${op.result?.address || ""}.`);
    return op;
  } catch (e) { progressTarget.replaceChildren(); showError(e); return null; } finally { pw.value = ""; }
}

/** A generic operation from a notice's action (op kind): confirmation for money operations. */
async function noticeOp(n, progressTarget) {
  const kind = n.action;
  if (kind === "top_up") return topUpFlow(progressTarget, toBig(n.amount_wei) > 0n ? n.amount_wei : null);
  if (kind === "deregister") return deregisterFlow(progressTarget);
  if (kind === "cancel_deregister") return cancelDeregisterFlow(progressTarget);
  if (kind === "replace_key") return replaceKeyFlow(progressTarget);
  if (MONEY_OPS.has(kind)) {
    const ok = await confirmDialog({ title: `${n.action_label || kind}?`, text: sentence(n.detail || n.title),
      rows: toBig(n.amount_wei) > 0n ? [["Amount", lcai(n.amount_wei)]] : [], confirm: n.action_label || "Continue" });
    if (!ok) return null;
  }
  clearErrors();
  const box = progressBox(progressTarget);
  try {
    const op = await runOp(kind, MONEY_OPS.has(kind) ? { confirm: true } : {}, (p) => box.update(p));
    box.done(humanizeMoney(op.result?.message) || `${n.action_label || kind}: done.`);
    return op;
  } catch (e) { progressTarget.replaceChildren(); showError(e); return null; }
}

/** The banner: the most important notice with its colour by risk, the date or amount that matters and the one
 *  action that fixes it; the others listed under it. Returns the banner element (empty when no notices). */
export function renderNotices(target, notices = [], { progressTarget = $("#op-progress"), busy = false } = {}) {
  if (!notices.length) { target.replaceChildren(); return; }
  const [first, ...rest] = notices;
  const facts = [];
  if (Number(first.until) > 0) facts.push(el("div", { class: "banner-fact", "data-fact": "until" }, el("span", { class: "muted" }, untilLabel(first.kind)), " ",
    el("strong", {}, dateWithCountdown(first.until))));
  if (toBig(first.amount_wei) > 0n) facts.push(el("div", { class: "banner-fact", "data-fact": "amount" }, el("span", { class: "muted" }, amountLabel(first.kind)), " ",
    el("strong", {}, lcai(first.amount_wei))));
  let action = null;
  if (first.action?.startsWith("page:")) {
    action = el("a", { class: "button primary", href: `${first.action.slice(5)}.html`, id: "banner-action" }, first.action_label || "Open");
  } else if (first.action) {
    action = el("button", { type: "button", class: first.level === "error" ? "danger" : "primary", id: "banner-action", disabled: busy },
      first.action_label || first.action.replace(/_/g, " "));
    action.addEventListener("click", () => noticeOp(first, progressTarget));
  }
  const adopt = first.kind === "foreign_worker"
    ? el("button", { type: "button", class: "primary", id: "banner-adopt", disabled: busy }, "Adopt it…") : null;
  adopt?.addEventListener("click", () => adoptFlow(progressTarget));
  put(target, el("div", { class: `notice banner ${LEVEL_CLASS[first.level] || "info"}`, role: first.level === "error" ? "alert" : "status",
    "data-kind": first.kind, "data-level": first.level, id: "banner-main" },
    el("div", { class: "banner-body" },
      el("strong", {}, capital(first.title)),
      first.detail ? el("div", {}, sentence(first.detail)) : null,
      ...facts),
    action || adopt ? el("div", { class: "banner-action" }, adopt, action) : null),
  rest.length ? el("ul", { class: "notices-more", "aria-label": "Other notices" }, rest.map((n) => el("li", { class: `lvl-${n.level}`, "data-kind": n.kind },
    el("span", { class: "dot", "aria-hidden": "true" }), capital(n.title),
    n.action?.startsWith("page:") ? el("a", { href: `${n.action.slice(5)}.html` }, " ", n.action_label || "Open") : null))) : null);
}

const capital = (t) => humanizeMoney(String(t || "")).replace(/^./, (c) => c.toUpperCase());

function untilLabel(kind) {
  return { suspended: "Suspended until", stuck_jobs: "Can be cleared without a slash from",
    deregistering: "The stake comes back after" }[kind] || "Until";
}
function amountLabel(kind) {
  return { slashed: "Slashed from the stake:", understaked: "Missing for the minimum stake:", stuck_jobs: "Slash if cleared now:",
    earnings_ready: "Ready to settle:", low_gas: "Add at least:" }[kind] || "Amount:";
}

export { when };
