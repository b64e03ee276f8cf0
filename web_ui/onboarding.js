// Onboarding wizard: network → hardware → models → password → (key, funding, models, register, start,
// online run automatically). The agent persists every step, so this page simply renders GET /api/onboarding.
import { $, api, clearErrors, copyButton, el, followOp, gib, header, humanizeMoney, lcai, markField, put, runOp, showError, toBig } from "./app.js";
import { modelPicker } from "./picker.js";
import { perGpuBox } from "./workers.js";

header();
// short labels: the ten steps are one row at 1280 px (one progress display; the automatic steps have no second list)
const LABELS = { network: "Network", hardware: "Hardware check", models: "Models", password: "Password", key: "Key",
  funding: "Funding", models_ready: "Download", registered: "Register", container: "Start", online: "Online" };
const LONG = { network: "Choose the network", hardware: "Check this machine", models: "Choose models", password: "Protect the key",
  key: "Create the worker key", funding: "Fund the worker wallet", models_ready: "Download and load the models",
  registered: "Register on-chain with the stake", container: "Start the worker", online: "Wait until it is online" };
// the steps the user fills in, in order; Back goes one of them back (the agent keeps what was chosen)
const CHOICES = ["network", "hardware", "models", "password"];
const AUTO = ["key", "funding", "models_ready", "registered", "container", "online"];
const panel = $("#panel");
let state = null;
let following = null;
let lastProgress = "";
let autoFailed = false; // after a failure the user presses "Continue setup" (no retry loop)
let shown = null; // a step the user went Back to (null: the agent's current step)

async function load() {
  try {
    const fresh = await api("/api/onboarding");
    if (state && JSON.stringify(fresh) === JSON.stringify(state) && panel.dataset.rendered) return;
    if (state && shown && panel.dataset.rendered) { state = fresh; renderSteps(shown); return; } // the user went Back: keep the form
    state = fresh;
    render();
    panel.dataset.rendered = "1";
  } catch (e) { showError(e); }
}

function renderSteps(step) {
  const idx = state.steps.indexOf(state.step), at = state.steps.indexOf(step);
  $("#steps").replaceChildren(...state.steps.map((s, i) => el("li", {
    class: state.done || i < idx ? "done" : "", "aria-current": !state.done && i === at ? "step" : null, title: LONG[s] || null },
  el("span", { class: "step-label" }, LABELS[s] || s))));
  $("#step-now").textContent = state.done ? "All steps done" : `Step ${at + 1} of ${state.steps.length}: ${LONG[step] || step}`;
}

/** The Back button of a step: one user step back, or to the dashboard from the first step. */
function back(step) {
  const i = CHOICES.indexOf(step);
  const keyMade = Boolean(state.address);
  let target = i > 0 ? CHOICES[i - 1] : i < 0 ? "models" : null;
  if (target === "password" && keyMade) target = "models"; // the key exists: its password is set
  if (i < 0 && ["registered", "container", "online"].includes(state.step) && !autoFailed && !following) target = null;
  if (!target) return el("a", { class: "button", href: "dashboard.html", id: "back" }, "Back");
  const b = el("button", { type: "button", id: "back", disabled: Boolean(following) }, "Back");
  b.addEventListener("click", () => { clearErrors(); shown = target; render(); });
  return b;
}

/** After the user confirms `step` again (having gone Back), show the step after it, not a jump ahead. */
function advance(step) {
  const nxt = CHOICES[CHOICES.indexOf(step) + 1];
  const real = state.steps.indexOf(state.step);
  shown = nxt && !(nxt === "password" && state.address) && state.steps.indexOf(nxt) < real ? nxt : null;
}

function render() {
  const step = shown || state.step;
  renderSteps(step);
  if (state.done) return renderDone();
  if (step === "network") return renderNetwork();
  if (step === "hardware") return renderHardware();
  if (step === "models") return renderModels();
  if (step === "password") return renderPassword();
  return renderAuto();
}

function next(btnText = "Continue", id = "next") {
  return el("button", { type: "submit", class: "primary", id }, btnText);
}
const buttons = (step, ...rest) => el("div", { class: "row" }, back(step), ...rest);

function renderNetwork() {
  const nets = state.networks || { testnet: "", mainnet: "" };
  const current = state.network; // the network the agent runs on: one Continue never switches networks
  const warn = el("div", { "aria-live": "polite" });
  const ack = el("label", { class: "inline", hidden: true }, el("input", { type: "checkbox", id: "mainnet-ack" }),
    "I understand that mainnet needs the stake in real LCAI.");
  const form = el("form", {},
    el("h2", {}, "Which network?"),
    el("p", { class: "muted" }, "Start on testnet: it uses free test LCAI from the faucet. Each network keeps its own key and settings."),
    el("fieldset", {}, el("legend", {}, "Network"), ...Object.keys(nets).map((n) => el("label", { class: "inline" },
      el("input", { type: "radio", name: "network", value: n, checked: n === current }),
      n === "testnet" ? "Testnet (recommended for new workers)" : n === "mainnet" ? "Mainnet (real money)" : n === "devnet" ? "Devnet" : n,
      nets[n] && n !== "mainnet" ? el("span", { class: "small muted" }, `— ${nets[n]}`) : null,
      n === state.network ? el("span", { class: "tag ok" }, "this agent runs on it") : null))),
    warn, ack, buttons("network", next()));
  const sync = () => {
    const v = form.network.value;
    ack.hidden = v !== "mainnet";
    warn.replaceChildren(v === "mainnet" ? el("div", { class: "notice warn", role: "alert" }, el("strong", {}, "Mainnet: real money. "),
      nets.mainnet || "Mainnet needs a real-money stake (the minimum is read on-chain) plus gas.") : "");
  };
  form.addEventListener("change", sync);
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    clearErrors();
    if (form.network.value === "mainnet" && !$("#mainnet-ack").checked) {
      showError({ message: "Please confirm the mainnet stake first.", fix: "Tick the box, or choose testnet.", field: "mainnet-ack" });
      return;
    }
    try { state = await api("/api/onboarding/network", { method: "POST", body: { network: form.network.value } }); advance("network"); render(); }
    catch (err) { showError(err); }
  });
  panel.replaceChildren(form);
  sync();
}

const HW_STATUS = { ok: ["ok", "OK"], recommended: ["ok", "Recommended"], below_recommended: ["warn", "Below recommended"],
  below_minimum: ["bad", "Below minimum"], unknown: ["warn", "Unknown"] };
// human labels; memory and disk in GiB with "total" or "free" said (the agent's reason text mixes GB and GiB)
const CHECK_LABELS = { cpu_cores: "CPU cores", ram: "Memory (total)", vram: "GPU memory (total)", storage: "Disk size (total)" };
const checkValue = (c, v) => (v === null || v === undefined ? "unknown" : c.name === "cpu_cores" ? String(v) : gib(v));

async function renderHardware() {
  panel.replaceChildren(el("h2", {}, "Checking this machine…"), el("progress", { "aria-label": "checking hardware" }));
  try {
    const hw = await api("/api/hardware");
    const level = hw.level || hw.verdict || "";
    const [cls, label] = HW_STATUS[level] || (level ? ["warn", level] : ["ok", "Checked"]);
    const summary = el("dl", { class: "kv" },
      el("dt", {}, "System"), el("dd", {}, `${hw.os || "?"} ${hw.arch || ""}`),
      el("dt", {}, "CPU"), el("dd", {}, `${hw.cpu_model || "?"} — ${hw.cpu_cores ?? "?"} ${hw.cpu_cores === 1 ? "core" : "cores"}`),
      el("dt", {}, "Memory (total)"), el("dd", {}, hw.ram_bytes ? gib(hw.ram_bytes) : "unknown"),
      el("dt", {}, (hw.gpus || []).length === 1 ? "GPU" : "GPUs"), el("dd", {}, (hw.gpus || []).length ? hw.gpus.map((g) => `${g.name || g.model || "GPU"}${g.vram_bytes ? ` (${gib(g.vram_bytes)} total)` : ""}${g.source === "simulated" ? " — simulated" : ""}`).join(", ") : "none found"),
      ...(hw.disks || []).flatMap((d) => [el("dt", {}, `Disk space for ${d.purpose} (free)`), el("dd", {}, `${gib(d.free_bytes)} free at ${d.measured_path || d.path}`)]));
    const checks = (hw.checks || []).map((c) => {
      const [ccls, clabel] = HW_STATUS[c.status] || ["", c.status];
      return el("tr", { "data-check": c.name }, el("th", { scope: "row" }, CHECK_LABELS[c.name] || c.name.replace(/_/g, " ")),
        el("td", { class: "num" }, checkValue(c, c.value)), el("td", { class: "num" }, checkValue(c, c.minimum)),
        el("td", { class: "num" }, checkValue(c, c.recommended)),
        el("td", {}, el("span", { class: `tag ${ccls}` }, clabel), c.value !== null ? null : el("div", { class: "small" }, humanizeMoney(c.reason || ""))));
    });
    const form = el("form", {},
      el("h2", {}, "This machine"),
      el("div", { class: `notice ${cls === "bad" ? "error" : cls}`, "data-verdict": level },
        el("strong", {}, cls === "bad" ? `${label}: the worker may be too slow to finish jobs before their deadline.` : cls === "warn" ? `${label}: it works, with fewer or smaller models.` : "This machine can run a worker."),
        hw.message ? el("div", { class: "small" }, hw.message) : null),
      summary,
      perGpuBox(hw, renderHardware),
      checks.length ? el("div", { class: "table-wrap" }, el("table", {}, el("thead", {}, el("tr", {}, el("th", { scope: "col" }, "Check"), el("th", { scope: "col", class: "num" }, "This machine"),
        el("th", { scope: "col", class: "num" }, "Minimum"), el("th", { scope: "col", class: "num" }, "Recommended"), el("th", { scope: "col" }, "Result"))), el("tbody", {}, checks))) : null,
      buttons("hardware", next()));
    form.addEventListener("submit", (e) => { e.preventDefault(); advance("hardware"); panel.dataset.rendered = ""; if (shown) render(); else load(); });
    panel.replaceChildren(form);
  } catch (e) { showError(e); }
}

async function renderModels() {
  const host = el("div", {}, el("p", { class: "muted" }, "Loading the model list…"));
  const form = el("form", {}, el("h2", {}, "Models to serve"),
    el("p", { class: "muted" }, "Each model earns its fee per job. More models need more memory; the bar shows what fits."),
    host, el("div", { id: "fit-gate", "aria-live": "polite" }), buttons("models", next()));
  panel.replaceChildren(form);
  let picker;
  try { picker = await modelPicker(host, state.models?.length ? state.models : null); } catch (e) { showError(e); return; }
  host.querySelector(".model-list")?.setAttribute("data-field", "models");
  // as on the Models page: a set that does not fit is blocked; a tight or unknown fit needs an explicit yes
  const gate = form.querySelector("#fit-gate");
  const sync = () => {
    if (picker.selected().length && $("#errors").childElementCount) { clearErrors(); markField(null); }
    const v = picker.verdict()?.verdict;
    const btn = form.querySelector("#next");
    if (v === "wont_fit") {
      put(gate, el("p", { class: "field-msg bad", id: "fit-blocked" }, "This set does not fit this machine's memory. Untick a model to continue."));
      btn.disabled = true;
    } else if (v === "tight" || v === "unknown") {
      const was = form.querySelector("#fit-ack")?.checked;
      put(gate, el("label", { class: "inline" }, el("input", { type: "checkbox", id: "fit-ack", checked: was }),
        v === "tight" ? "Use this set anyway: it may be slow or unload models under load." : "Use this set anyway: the GPU memory is not known."));
      btn.disabled = false;
    } else { gate.replaceChildren(); btn.disabled = false; }
  };
  picker.onChange(sync);
  sync();
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    clearErrors();
    if (!picker.selected().length) {
      showError({ code: "invalid_input", field: "models", message: "Choose at least one model to serve.", fix: "Tick one or more models in the list." });
      return;
    }
    const v = picker.verdict()?.verdict;
    if (v === "wont_fit") { markField("models"); return; }
    if ((v === "tight" || v === "unknown") && !form.querySelector("#fit-ack")?.checked) {
      showError({ field: "fit-ack", message: "This set is tight for this machine.", fix: "Tick “Use this set anyway”, or choose fewer models." });
      return;
    }
    try { state = await api("/api/onboarding/models", { method: "POST", body: { models: picker.selected() } }); advance("models"); render(); }
    catch (err) { showError(err); }
  });
}

function renderPassword() {
  const form = el("form", { autocomplete: "off" },
    el("h2", {}, "Protect the worker key"),
    el("p", { class: "muted" }, "The key is created on this machine and encrypted with this password; both stay in your OS keychain. You will not need to type it again."),
    el("label", { class: "inline" }, el("input", { type: "checkbox", id: "gen", checked: true }), "Generate a strong password for me (recommended)"),
    el("div", { id: "pw-fields", hidden: true },
      el("label", { for: "pw" }, "Password"), el("input", { type: "password", id: "pw", autocomplete: "new-password", minlength: "12" }),
      el("label", { for: "pw2" }, "Repeat the password"), el("input", { type: "password", id: "pw2", autocomplete: "new-password" }),
      el("div", { class: "field-msg", id: "pw-msg", "aria-live": "polite" })),
    buttons("password", next("Create the key")));
  const gen = form.querySelector("#gen");
  gen.addEventListener("change", () => { form.querySelector("#pw-fields").hidden = gen.checked; });
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    clearErrors();
    const pw = form.querySelector("#pw"), pw2 = form.querySelector("#pw2"), msg = form.querySelector("#pw-msg");
    let body;
    if (gen.checked) body = { generate: true };
    else {
      if (pw.value !== pw2.value) { msg.textContent = "The two passwords differ."; msg.className = "field-msg bad"; pw2.setAttribute("aria-invalid", "true"); return; }
      body = { password: pw.value };
    }
    form.querySelector("#next").disabled = true;
    try {
      const res = await api("/api/onboarding/password", { method: "POST", body });
      pw.value = ""; pw2.value = "";
      if (res.hints?.length) sessionStorage.setItem("pw-hints", res.hints.join(" "));
      panel.dataset.rendered = "";
      await load();
      maybeStartAuto();
    } catch (err) {
      pw.value = ""; pw2.value = "";
      form.querySelector("#next").disabled = false;
      showError(err);
    }
  });
  panel.replaceChildren(form);
}

function fundingBox(f) {
  const bal = toBig(f.balance_wei), thr = toBig(f.threshold_wei);
  const missing = thr > bal ? thr - bal : 0n;
  const pct = thr > 0n ? Number((bal * 1000n) / thr) / 10 : 0;
  const qr = el("div", { class: "qr", role: "img", "aria-label": "QR code of the payment request" });
  if (f.qr_svg) qr.innerHTML = f.qr_svg; // SVG made by the agent (segno)
  const browserWallet = el("button", { type: "button", id: "browser-wallet" }, "Send from a browser wallet…");
  browserWallet.addEventListener("click", openFundInBrowser);
  return el("div", { class: "grid two", id: "funding" },
    el("div", {},
      el("h2", {}, f.funded ? "Funded ✓" : "Fund the worker wallet"),
      el("p", {}, "Send ", el("strong", { id: "fund-amount" }, lcai(missing > 0n ? missing : thr)), ` to the worker address on ${f.chain?.name || state.network}:`),
      el("p", { class: "row" }, el("code", { id: "fund-address" }, f.address), copyButton(() => f.address, "Copy address")),
      el("div", { class: "meter", role: "meter", "aria-label": "Balance against the amount needed", "aria-valuemin": "0",
        "aria-valuemax": "100", "aria-valuenow": String(Math.min(100, pct)) }, el("span", { style: `width:${Math.min(100, pct)}%` })),
      el("p", { class: "small", id: "fund-balance", "aria-live": "polite" }, `Balance ${lcai(bal)} of ${lcai(thr)} needed (stake + gas). This page updates by itself.`),
      el("p", { class: "row" },
        f.eip681 ? el("a", { class: "button", href: f.eip681, id: "eip681" }, "Open in a wallet app") : null,
        browserWallet,
        f.faucet_url ? el("a", { class: "button", href: f.faucet_url, target: "_blank", rel: "noopener", id: "faucet" }, "Get test LCAI from the faucet") : null,
        f.devnet_wallet ? el("button", { type: "button", id: "devnet-fund", onclick: devnetFund }, "Fund from the devnet wallet") : null)),
    el("div", {}, qr, el("p", { class: "small muted" }, "Scan with a mobile wallet: it fills in the address, the amount and the network.")));
}

async function devnetFund(ev) {
  clearErrors();
  ev.target.disabled = true;
  try {
    await runOp("devnet_fund", {}, (p) => { const m = $("#fund-balance"); if (m && p.message) m.textContent = humanizeMoney(p.message); });
    panel.dataset.rendered = "";
    await load();
  } catch (e) { ev.target.disabled = false; showError(e); }
}

async function openFundInBrowser() {
  try {
    const { url } = await api(`/api/login-code?next=${encodeURIComponent("/ui/fund.html")}`, { method: "POST", body: {} });
    window.open(url, "_blank", "noopener");
  } catch (e) { showError(e); }
}

function renderAuto() {
  const f = state.funding;
  // one progress display: the step pills above; here only what runs now and its live message
  const hints = sessionStorage.getItem("pw-hints");
  const retry = el("button", { type: "button", id: "retry", hidden: Boolean(following) }, "Continue setup");
  retry.addEventListener("click", startAuto);
  put(panel,
    f && !f.funded && state.step === "funding" ? fundingBox(f) : null,
    hints ? el("div", { class: "notice warn" }, "Password note: ", hints) : null,
    el("div", { id: "auto-steps" },
      el("h2", {}, state.step === "funding" && !f?.funded ? "Waiting for the funds" : `Setting up: ${LONG[state.step] || state.step}`),
      el("div", { class: "small", id: "auto-msg", role: "status", "aria-live": "polite" }, lastProgress),
      following ? el("progress", { "aria-label": "setup progress" }) : null),
    buttons(state.step, retry));
  if (!following && state.op_id) follow(state.op_id);
  else maybeStartAuto();
}

/** Start the automatic steps once the wallet is funded (the page watches the balance until then). */
function maybeStartAuto() {
  if (following || state.op_id || state.done || autoFailed) return;
  if (state.step === "funding" && !state.funding?.funded) return;
  if (AUTO.includes(state.step)) startAuto();
}

async function startAuto() {
  clearErrors();
  autoFailed = false;
  try {
    const { op_id } = await api("/api/onboarding/continue", { method: "POST", body: {} });
    follow(op_id);
  } catch (e) { showError(e); }
}

async function follow(opId) {
  if (following === opId) return;
  following = opId;
  $("#retry")?.setAttribute("hidden", "");
  try {
    render();
    await followOp(opId, (p) => { lastProgress = humanizeMoney(p.message) || lastProgress; const m = $("#auto-msg"); if (m) m.textContent = lastProgress; });
    following = null;
    panel.dataset.rendered = "";
    await load();
  } catch (e) {
    following = null;
    autoFailed = true;
    panel.dataset.rendered = "";
    await load();
    showError(e);
  }
}

function renderDone() {
  panel.replaceChildren(el("h2", {}, "Your worker is online ✓"),
    el("p", {}, "It keeps running in the background and comes back after restarts. The tray icon shows its state."),
    el("p", {}, el("a", { class: "button primary", href: "dashboard.html" }, "Open the dashboard")));
}

await load();
setInterval(() => { if (state && !state.done && AUTO.includes(state.step)) load(); }, 3000);
