// Shared helpers of every page: API calls (session cookie), live events (SSE), errors with a fix,
// LCAI amounts in BigInt wei, in-page confirmation dialogs (window.confirm is unreliable in webviews),
// operations with progress, and the page header.

export class ApiError extends Error {
  constructor(status, err = {}) {
    super(err.message || err.code || `HTTP ${status}`);
    this.status = status;
    this.code = err.code || `http_${status}`;
    this.fix = err.fix || "";
    this.field = err.field || "";
  }
}

/** JSON request to the agent; the session cookie authenticates, Origin is sent by the browser. */
export async function api(path, { method = "GET", body } = {}) {
  let res;
  try {
    res = await fetch(path, {
      method,
      credentials: "same-origin",
      cache: "no-store",
      headers: body !== undefined ? { "Content-Type": "application/json", Accept: "application/json" } : { Accept: "application/json" },
      body: body !== undefined ? JSON.stringify(body) : undefined,
    });
  } catch (e) {
    throw new ApiError(0, { code: "unreachable", message: "The agent is not answering.",
      fix: "Check that the worker agent is running (tray icon, or `lcai-tray status`)." });
  }
  const text = await res.text();
  let data = {};
  try { data = text ? JSON.parse(text) : {}; } catch { data = {}; }
  if (!res.ok) {
    const err = new ApiError(res.status, data.error || {});
    if (res.status === 401 && !err.fix) err.fix = "Open this page again from the tray menu or with `lcai-tray open`.";
    throw err;
  }
  return data;
}

// ---- DOM helpers -------------------------------------------------------------------------------------
export const $ = (sel, root = document) => root.querySelector(sel);
export const $$ = (sel, root = document) => [...root.querySelectorAll(sel)];

/** el("div", {class: "x", onclick: fn}, "text", child) */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on") && typeof v === "function") node.addEventListener(k.slice(2), v);
    else if (k === "html") node.innerHTML = v;
    else if (k === "style") node.style.cssText = v; // CSSOM, allowed by a CSP without 'unsafe-inline'

    else if (k === "text") node.textContent = v;
    else node.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) if (c !== null && c !== undefined && c !== false) node.append(c instanceof Node ? c : String(c));
  return node;
}

/** target.replaceChildren without the "null" text that DOM inserts for null/undefined/false. */
export function put(target, ...children) {
  target.replaceChildren(...children.flat().filter((c) => c !== null && c !== undefined && c !== false));
  return target;
}

// ---- amounts -------------------------------------------------------------------------------------------
const WEI = 10n ** 18n;
export function toBig(x) {
  try { return BigInt(x ?? 0); } catch { return 0n; }
}
/**
 * The one LCAI formatting rule (UI; the CLI and tray should match it): amounts are truncated, never rounded
 * up, with thousands separators. At least 1 LCAI: up to 4 decimals. Below 1 LCAI: up to 4 significant digits,
 * so small fees stay exact (0.000021) and 0.096 is never cut to 0.09. Trailing zeros are dropped; no amount
 * ever shows 18 decimals. `lcai(wei)` adds the unit, `lcaiNumber(wei)` does not.
 */
export function lcaiNumber(wei) {
  const w = toBig(wei);
  const neg = w < 0n;
  const a = neg ? -w : w;
  const whole = a / WEI;
  const digits = (a % WEI).toString().padStart(18, "0");
  let places = 4;
  if (whole === 0n && a > 0n) {
    const first = digits.search(/[1-9]/); // leading zeros after the point
    places = Math.min(18, Math.max(4, first + 4));
  }
  const frac = digits.slice(0, places).replace(/0+$/, "");
  return `${neg ? "-" : ""}${whole.toLocaleString("en-US")}${frac ? "." + frac : ""}`;
}
export const lcai = (wei) => `${lcaiNumber(wei)} LCAI`;

/** Money in free text (progress lines, results, errors from the agent) in the same rule: "… 100000000000000000000 wei"
 *  and "5050.000000000000000000 LCAI" become "100 LCAI" and "5,050 LCAI". */
export function humanizeMoney(text) {
  if (typeof text !== "string") return text;
  return text
    .replace(/\b1 ([a-z]+)\(s\) need\b/g, "1 $1 needs")
    .replace(/\b(\d+) ([a-z]+)\(s\)/g, (_, n, w) => `${n} ${Number(n) === 1 ? w : `${w}s`}`) // "2 model(s)" → "2 models"
    .replace(/\b(\d+) wei\b/g, (_, n) => lcai(n))
    .replace(/\b(\d+)(?:\.(\d+))? LCAI\b/g, (m, w, f = "") => (f.length > 4 || w.length > 3 ? lcai(BigInt(w) * WEI + BigInt(f.slice(0, 18).padEnd(18, "0"))) : m));
}

/** Parse a decimal LCAI amount typed by the user into wei (BigInt); null when not a number. */
export function parseLcai(text) {
  const m = String(text).trim().match(/^(\d+)(?:\.(\d{0,18}))?$/);
  if (!m) return null;
  return BigInt(m[1]) * WEI + BigInt((m[2] || "").padEnd(18, "0"));
}
/** Memory and disk sizes, one unit family everywhere: GiB (2^30 bytes). */
export const gib = (b) => `${(Number(b || 0) / 2 ** 30).toLocaleString("en-US", { maximumFractionDigits: 1, minimumFractionDigits: 1 })} GiB`;
/** "1 job", "3 jobs": plural forms instead of "job(s)". */
export const plural = (n, one, many = `${one}s`) => `${Number(n).toLocaleString("en-US")} ${Number(n) === 1 ? one : many}`;
export function duration(s) {
  s = Math.max(0, Math.floor(Number(s) || 0));
  const d = Math.floor(s / 86400), h = Math.floor((s % 86400) / 3600), m = Math.floor((s % 3600) / 60);
  if (d) return `${d} d ${h} h`;
  if (h) return `${h} h ${m} min`;
  return m ? `${m} min` : `${s} s`;
}
export function when(t) {
  if (!t) return "—";
  const d = new Date(typeof t === "number" ? (t < 1e12 ? t * 1000 : t) : t);
  return isNaN(d) ? String(t) : d.toLocaleString();
}
export const shortAddr = (a) => (a && a.length > 14 ? `${a.slice(0, 8)}…${a.slice(-6)}` : a || "—");

// ---- errors and notices ----------------------------------------------------------------------------
// Errors are sentences for a person: the agent's message and fix are written for the CLI too and may carry
// developer text (JSON examples, routes, field names), so known fields get a sentence of their own and the
// technical lines (code, raw message) go behind a "Details" toggle. The field named by the error is marked.
const FIELD_SENTENCES = {
  models: ["Choose at least one model to serve.", "Tick one or more models in the list."],
  network: ["Choose a network.", "Pick testnet, mainnet or devnet."],
  password: ["That password cannot be used.", "Use at least 12 characters, or let the app generate one."],
  to: ["That address cannot receive the withdrawal.", "Paste a 0x address of 40 hexadecimal characters that you control."],
  amount: ["That amount cannot be sent.", "Type a number of LCAI, like 12.5, or press Max."],
  webhook_url: ["The webhook address is not valid.", "Use an https:// address, or leave the field empty."],
  rpc_override: ["The RPC address cannot be used.", "Use the https:// address of an RPC of this network, or leave it empty."],
  ollama_url: ["The Ollama address is not valid.", "Use an http:// address such as http://127.0.0.1:11434, or leave it empty for Ollama on this machine."],
};
const DEV_TEXT = /[[\]{}`]|\b(POST|GET) \/|\be\.g\.\s*[[{"]|_wei\b|\b[a-z]+_[a-z_]+\b(?= must| is)/;

/** A sentence: first letter upper case, a full stop at the end, money in the one LCAI format. */
export function sentence(text) {
  const t = humanizeMoney(String(text || "").trim());
  if (!t) return "";
  const up = t[0].toUpperCase() + t.slice(1);
  return /[.!?…)]$/.test(up) ? up : `${up}.`;
}

/** {message, fix, details[]} for a person from an ApiError / agent error dict. */
export function humanError(err) {
  const raw = err?.message || String(err || "Something went wrong");
  // the UI offers no "force" (it keeps the gas reserve; Max sends what may go): never tell people to force it
  const fix = String(err?.fix || "").replace(/,? or force it$/, ", or press Max");
  const known = err?.field && FIELD_SENTENCES[err.field] && (err.code === "invalid_input" || DEV_TEXT.test(raw) || DEV_TEXT.test(fix));
  let message = known ? FIELD_SENTENCES[err.field][0] : DEV_TEXT.test(raw) ? "The agent refused this request." : sentence(raw);
  let howTo = known ? FIELD_SENTENCES[err.field][1] : fix && !DEV_TEXT.test(fix) ? sentence(fix) : "";
  const details = [];
  if (message !== sentence(raw)) details.push(raw);
  if (fix && !howTo.includes(sentence(fix))) details.push(`fix: ${fix}`);
  if (err?.code && err.code !== "internal_error") details.push(`code: ${err.code}`);
  if (!known && DEV_TEXT.test(raw) && !howTo) howTo = "Open Details for the technical reason, or try again.";
  return { message, fix: howTo, details };
}

/** Mark the input named by an error's `field` (aria-invalid + focus); clears earlier marks in `root`. */
export function markField(field, root = document) {
  for (const e of $$("[aria-invalid='true'][data-error-mark]", root)) { e.removeAttribute("aria-invalid"); e.removeAttribute("data-error-mark"); }
  if (!field) return null;
  const target = root.querySelector(`[name="${field}"], #${CSS.escape(field)}, [data-field="${field}"]`);
  if (!target) return null;
  target.setAttribute("aria-invalid", "true");
  target.setAttribute("data-error-mark", "");
  (target.matches("input, select, textarea, button") ? target : target.querySelector("input, select, textarea, button"))?.focus?.();
  return target;
}

/** Show an error (a sentence, how to fix it, technical details folded) in the page's alert region, or in `target`. */
export function showError(err, target = $("#errors")) {
  if (!target) { console.error(err); return; }
  const h = humanError(err);
  target.replaceChildren(el("div", { class: "notice error", role: "alert", "data-code": err?.code || null },
    el("strong", {}, h.message),
    h.fix ? el("div", { class: "fix" }, "How to fix: ", h.fix) : null,
    h.details.length ? el("details", { class: "small" }, el("summary", {}, "Details"),
      ...h.details.map((d) => el("div", { class: "mono" }, d))) : null));
  if (err?.field) markField(err.field);
  target.scrollIntoView?.({ block: "nearest" });
}
export function showNotice(text, kind = "ok", target = $("#errors")) {
  if (!target) return;
  target.replaceChildren(el("div", { class: `notice ${kind}`, role: kind === "error" ? "alert" : "status" }, text));
}
export function clearErrors(target = $("#errors")) { target?.replaceChildren(); }

// ---- confirmation dialog ----------------------------------------------------------------------------
/** In-page modal; resolves true on confirm. `rows` are [label, value] pairs (amount, fee, …). */
export function confirmDialog({ title, text = "", rows = [], confirm = "Confirm", danger = false, extra = null, require = null }) {
  return new Promise((resolve) => {
    const dlg = el("dialog", { "aria-labelledby": "dlg-title", "data-testid": "confirm-dialog" },
      el("h2", { id: "dlg-title" }, title),
      text ? el("p", {}, text) : null,
      rows.length ? el("dl", { class: "kv" }, rows.flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, v)])) : null,
      extra,
      el("div", { class: "row end" },
        el("button", { type: "button", value: "cancel", id: "dlg-cancel" }, "Cancel"),
        el("button", { type: "button", value: "ok", id: "dlg-ok", class: danger ? "danger" : "primary" }, confirm)));
    const done = (ok) => { dlg.close(); dlg.remove(); resolve(ok); };
    const okBtn = dlg.querySelector("#dlg-ok");
    // `require`: a checkbox in `extra` that must be ticked before the confirm button works
    const gate = require ? dlg.querySelector(require) : null;
    if (gate) { okBtn.disabled = true; gate.addEventListener("change", () => { okBtn.disabled = !gate.checked; }); }
    dlg.querySelector("#dlg-cancel").addEventListener("click", () => done(false));
    okBtn.addEventListener("click", () => done(true));
    for (const a of dlg.querySelectorAll("a[href]")) a.addEventListener("click", () => done(false));
    dlg.addEventListener("cancel", (e) => { e.preventDefault(); done(false); });
    document.body.append(dlg);
    dlg.showModal();
    dlg.querySelector("#dlg-cancel").focus();
  });
}

// ---- live events ----------------------------------------------------------------------------------------
const listeners = { status: new Set(), progress: new Set(), result: new Set(), notify: new Set(), connection: new Set() };
let source = null;
let lastStatus = null;
export function on(kind, fn) {
  listeners[kind].add(fn);
  if (kind === "status" && lastStatus) fn(lastStatus);
  startEvents();
  return () => listeners[kind].delete(fn);
}
function emit(kind, data) { for (const fn of listeners[kind]) { try { fn(data); } catch (e) { console.error(e); } } }
function startEvents() {
  if (source) return;
  source = new EventSource("/api/events", { withCredentials: true });
  source.onopen = () => emit("connection", true);
  source.onerror = () => emit("connection", false); // EventSource reconnects by itself
  for (const kind of ["status", "progress", "result", "notify"]) {
    source.addEventListener(kind, (ev) => {
      let data;
      try { data = JSON.parse(ev.data); } catch { return; }
      if (kind === "status") lastStatus = data;
      emit(kind, data);
    });
  }
}
export const currentStatus = () => lastStatus;

// ---- operations -------------------------------------------------------------------------------------------
/**
 * Start an operation and follow it to the end. `onProgress({message, fraction})` gets live progress.
 * Resolves with the op record (state done); rejects with ApiError when it fails or cannot start.
 */
export async function runOp(kind, body = {}, onProgress = () => {}) {
  const { op_id } = await api(`/api/ops/${encodeURIComponent(kind)}`, { method: "POST", body });
  return followOp(op_id, onProgress);
}
export async function followOp(op_id, onProgress = () => {}) {
  const off = on("progress", (p) => { if (p.op_id === op_id) onProgress(p); });
  try {
    let seen = 0;
    for (;;) {
      const op = await api(`/api/ops/${encodeURIComponent(op_id)}`);
      const prog = op.progress || [];
      for (; seen < prog.length; seen++) {
        onProgress({ op_id, kind: op.kind, ...(typeof prog[seen] === "string" ? { message: prog[seen] } : prog[seen]) });
      }
      if (op.state === "done") return op;
      if (["failed", "cancelled", "interrupted"].includes(op.state)) { // a cancelled op ends too (e.g. deregister)
        const e = typeof op.error === "object" && op.error ? op.error : { message: String(op.error || "the operation failed") };
        throw new ApiError(0, { code: e.code || "operation_failed", ...e });
      }
      await new Promise((r) => setTimeout(r, 700));
    }
  } finally { off(); }
}

// operations whose long waits stop safely when asked (the agent checks the cancel at those points): the drain before
// stop/restart/update/remove, the deregister steps before its transaction, the speed test between measurements
const CANCELLABLE = new Set(["stop", "restart", "update_image", "remove_worker", "deregister", "speedtest"]);

/** A small progress area: call .update(p) with {message, fraction, op_id?, kind?}; .done(text) / .fail(err).
 *  A cancellable operation gets a Cancel button (POST /api/ops/{id}/cancel). */
export function progressBox(target) {
  const msg = el("div", { role: "status", "aria-live": "polite" });
  const bar = el("progress", { max: "1", "aria-label": "progress" });
  const card = el("div", { class: "card" }, msg, bar);
  let cancel = null;
  target.replaceChildren(card);
  return {
    update(p) {
      if (p.message) msg.textContent = humanizeMoney(p.message);
      if (typeof p.fraction === "number") bar.value = p.fraction; else bar.removeAttribute("value");
      if (cancel || !p.op_id || !CANCELLABLE.has(p.kind)) return;
      cancel = el("button", { type: "button", id: "op-cancel" }, "Cancel");
      cancel.addEventListener("click", async () => {
        cancel.disabled = true;
        cancel.textContent = "Cancelling…";
        try { await api(`/api/ops/${encodeURIComponent(p.op_id)}/cancel`, { method: "POST" }); }
        catch (e) { cancel.textContent = "Too late to cancel"; if (e.status !== 404) showError(e); }
      });
      card.append(el("p", { class: "row" }, cancel));
    },
    done(text) { msg.textContent = humanizeMoney(text); bar.value = 1; cancel?.remove(); },
    fail(err) { showError(err, target); },
  };
}

// ---- header --------------------------------------------------------------------------------------------
const PAGES = [
  ["dashboard.html", "Dashboard"], ["models.html", "Models"], ["speedtest.html", "Speed test"],
  ["withdraw.html", "Withdraw"], ["stuck.html", "Stuck jobs"], ["recover.html", "Recover key"],
  ["preflight.html", "Preflight"], ["settings.html", "Settings"],
];
const GLYPH = { online: "✓", starting: "↻", stale: "!", paused: "❚❚", stopping: "■", error: "!", docker_missing: "×",
  docker_down: "–", setup_needed: "…" };
export function statePill(status) {
  const st = status?.state || "starting";
  return el("span", { class: `pill ${st}`, "data-state": st },
    el("span", { class: "glyph", "aria-hidden": "true" }, el("span", {}, GLYPH[st] || "?")),
    status?.state_label || "Connecting…");
}

/** Render the shared header (brand, navigation, connection indicator) into <header class="top">. */
export function header() {
  const here = location.pathname.split("/").pop() || "dashboard.html";
  const conn = el("span", { class: "conn", role: "status", "aria-live": "polite" }, "connecting…");
  const nav = el("nav", { "aria-label": "Pages" }, el("ul", {}, PAGES.map(([href, label]) =>
    el("li", {}, el("a", { href, "aria-current": href === here ? "page" : null }, label)))));
  const top = $("header.top") || document.body.prepend(el("header", { class: "top" })) || $("header.top");
  top.replaceChildren(
    el("a", { class: "skip", href: "#main" }, "Skip to content"),
    el("a", { class: "brand", href: "dashboard.html" }, el("img", { src: "icon.svg", alt: "" }), "LightChain worker"),
    nav, conn);
  on("connection", (up) => { conn.textContent = up ? "live" : "reconnecting…"; conn.classList.toggle("down", !up); });
  on("status", (s) => { conn.textContent = `live · ${s.network}`; conn.classList.remove("down"); });
}

/** Copy text to the clipboard with a visible confirmation on the button. */
export function copyButton(getText, label = "Copy") {
  const b = el("button", { type: "button", class: "small" }, label);
  b.addEventListener("click", async () => {
    try { await navigator.clipboard.writeText(getText()); b.textContent = "Copied"; }
    catch { b.textContent = "Select and copy"; }
    setTimeout(() => (b.textContent = label), 1500);
  });
  return b;
}

/** Debounce helper for live validation. */
export function debounce(fn, ms = 300) {
  let t;
  return (...a) => { clearTimeout(t); t = setTimeout(() => fn(...a), ms); };
}
