// Model picker shared by onboarding and models pages: checkboxes with fee, size and expected LCAI/day (from the
// chain's demand over a window the user picks, formula beside each number), a memory bar against this machine's
// capacity, and the agent's fit verdict (fits / tight / won't fit) with its reasons.
import { api, debounce, el, gib, humanizeMoney, lcai, plural, showError } from "./app.js";

const VERDICT = { fits: ["ok", "Fits this machine"], tight: ["warn", "Tight: it may be slow or unload under load"],
  wont_fit: ["bad", "Won't fit in this machine's memory"], unknown: ["warn", "Memory unknown"] };

/** Render into `root`; returns {selected(), verdict(), onChange(fn)}. `initial` = names preselected. */
export async function modelPicker(root, initial = null) {
  const data = await api("/api/models");
  const catalog = data.catalog || [];
  const capacity = Number(data.capacity_bytes || 0);
  const chosen = new Set(initial ?? (data.served?.length ? data.served : catalog.filter((m) => m.served).map((m) => m.name)));
  let verdict = null;
  const listeners = [];

  const list = el("div", { class: "model-list", role: "group", "aria-label": "Models" });
  const estimates = new Map();
  for (const m of catalog) {
    const id = `model-${m.name.replace(/[^a-z0-9]/gi, "-")}`;
    const box = el("input", { type: "checkbox", id, value: m.name, checked: chosen.has(m.name) });
    box.addEventListener("change", () => { box.checked ? chosen.add(m.name) : chosen.delete(m.name); update(); });
    list.append(el("label", { for: id, title: m.note || null }, box, el("span", {}, el("strong", {}, m.name),
      m.label ? el("span", { class: "small muted" }, ` ${m.label}`) : null),
      el("span", { class: "spacer" }),
      el("span", { class: "small muted" }, `fee ${lcai(m.fee_wei)} / job`),
      el("span", { class: "small muted" }, `needs ${gib(m.footprint_bytes || m.size_bytes || m.disk_bytes)}`),
      m.pulled ? el("span", { class: "tag ok" }, "downloaded") : el("span", { class: "tag" }, `download ${gib(m.size_bytes ?? m.disk_bytes)}`),
      m.served ? el("span", { class: "tag ok" }, "served") : null,
      estimateCell(m.name, estimates)));
  }
  const demandBox = el("div", { class: "demand", "aria-live": "polite" });
  const windowSel = el("select", { id: "demand-window", "aria-label": "Demand window", style: "width:auto" },
    ...[["1", "last hour"], ["24", "last 24 h"], ["168", "last 7 days"]].map(([v, t]) =>
      el("option", { value: v, selected: v === "24" }, t)));
  windowSel.addEventListener("change", () => loadDemand());
  async function loadDemand() {
    demandBox.replaceChildren(el("p", { class: "small muted" }, "Reading the demand from the chain…"));
    try {
      const d = await api(`/api/models/demand?window_h=${windowSel.value}`);
      for (const r of d.models) {
        const cell = estimates.get(r.model);
        if (!cell) continue;
        cell.value.textContent = r.jobs ? `≈ ${lcai(r.wei_per_day)}/day` : "no demand";
        cell.value.className = `tag ${r.jobs ? "ok" : ""} estimate`;
        cell.value.dataset.wei = r.wei_per_day;
        cell.formula.textContent = r.jobs ? `expected: ${r.formula}` : `no jobs in the ${d.window} window · ${plural(r.other_workers, "other worker")}`;
      }
      demandBox.replaceChildren(el("details", { class: "small", "data-testid": "demand-how" },
        el("summary", {}, `Expected LCAI/day is an estimate from the last ${d.window} of jobs on the chain — how?`),
        el("p", {}, d.formula),
        el("ul", {}, ...d.assumptions.map((a) => el("li", {}, a)))));
    } catch (e) {
      demandBox.replaceChildren(el("p", { class: "small muted" }, `Expected earnings unavailable: ${e.message || e}`));
    }
  }
  const bar = el("span", { style: "width:0%" });
  const meter = el("div", { class: "meter", role: "meter", "aria-label": "Memory needed against this machine's capacity",
    "aria-valuemin": "0", "aria-valuemax": String(capacity || 1), "aria-valuenow": "0" }, bar);
  const meterText = el("div", { class: "small", "aria-live": "polite" });
  const fitBox = el("div", { "aria-live": "polite" });
  root.replaceChildren(el("div", { class: "row" }, el("label", { for: "demand-window", class: "small" }, "Expected earnings from demand over the"),
    windowSel), list, demandBox, el("h3", {}, "Memory"), meter, meterText, fitBox);
  loadDemand();

  let seq = 0; // only the newest answer counts (answers can arrive out of order)
  const checkFit = debounce(async () => {
    const names = [...chosen];
    const mine = ++seq;
    if (!names.length) { verdict = null; fitBox.replaceChildren(el("p", { class: "field-msg bad" }, "Choose at least one model.")); fire(); return; }
    try {
      const answer = await api("/api/models/fit", { method: "POST", body: { models: names } });
      if (mine !== seq) return;
      verdict = answer;
      const [cls, text] = VERDICT[verdict.verdict] || ["warn", verdict.verdict];
      const used = Number(verdict.required_bytes ?? verdict.total_bytes ?? 0);
      const cap = Number(verdict.available_bytes ?? verdict.capacity_bytes ?? capacity ?? 0);
      paint(used, cap, verdict.verdict, Number(verdict.usable_bytes || 0));
      const drop = [].concat(verdict.drop || []).filter(Boolean);
      fitBox.replaceChildren(el("div", { class: `notice ${cls === "ok" ? "ok" : cls === "warn" ? "warn" : "error"}`, "data-verdict": verdict.verdict,
        "data-models": names.join(",") },
        el("strong", {}, text),
        verdict.message ? el("div", { class: "small" }, humanizeMoney(verdict.message)) : null,
        drop.length ? el("div", {}, `Drop ${drop.join(", ")} to make it fit.`) : null,
        ...(verdict.reasons || []).map((r) => el("div", { class: "small" }, humanizeMoney(r)))));
    } catch (e) {
      if (mine !== seq) return;
      verdict = null;
      showError(e, fitBox);
    }
    fire();
  }, 250);

  function paint(used, cap, v, usable = 0) {
    const pct = cap ? Math.min(100, (used / cap) * 100) : 0;
    bar.style.width = `${pct.toFixed(0)}%`;
    meter.className = `meter ${v || ""}`;
    meter.setAttribute("aria-valuemax", String(cap || 1));
    meter.setAttribute("aria-valuenow", String(used));
    meterText.textContent = cap
      ? `${gib(used)} needed of ${gib(cap)} available for models (${pct.toFixed(0)}%)${usable && usable < cap ? ` — ${gib(usable)} usable after headroom` : ""}`
      : `${gib(used)} needed; the memory available for models is unknown`;
  }
  function update() {
    const used = catalog.filter((m) => chosen.has(m.name)).reduce((a, m) => a + Number(m.footprint_bytes || m.size_bytes || m.disk_bytes || 0), 0);
    paint(used, capacity, null);
    verdict = null; // stale until the agent answers for this selection
    fitBox.replaceChildren(el("p", { class: "small muted" }, "Checking the fit…"));
    fire();
    checkFit();
  }
  function fire() { for (const fn of listeners) fn(); }
  update();
  return {
    selected: () => [...chosen],
    windowH: () => windowSel.value,
    select: (names) => { chosen.clear(); names.forEach((n) => chosen.add(n)); for (const b of list.querySelectorAll("input")) b.checked = chosen.has(b.value); update(); },
    verdict: () => verdict,
    onChange: (fn) => listeners.push(fn),
    served: data.served || [],
  };
}

function estimateCell(name, estimates) {
  const value = el("span", { class: "tag estimate", "data-model": name }, "…");
  const formula = el("span", { class: "small muted formula" });
  estimates.set(name, { value, formula });
  return [value, formula];
}
