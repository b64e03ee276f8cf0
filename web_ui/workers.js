// One worker per GPU: the "workers on this machine" view (dashboard) and the one-worker-per-GPU offer (onboarding).
import { $, api, copyButton, el, gib, showError, statePill } from "./app.js";

const gpuText = (ids) => (ids && ids.length ? `GPU ${ids.join(", ")}` : "every GPU");

/** The dashboard's table of every worker on this machine (read from each profile's agent, read-only). */
export async function renderMachine(target = $("#machine")) {
  if (!target) return;
  let data;
  try { data = await api("/api/machine/workers"); } catch (e) { showError(e, $("#machine-errors")); return; }
  const rows = data.workers.map((w) => el("tr", { "data-profile": w.profile, "data-state": w.state || "not_running" },
    el("th", { scope: "row" }, w.profile, w.current ? el("span", { class: "small muted" }, " (this worker)") : null),
    el("td", {}, gpuText(w.gpus)),
    el("td", {}, w.running ? statePill(w) : el("span", { class: "tag warn" }, "Agent not running")),
    el("td", { class: "num" }, w.running ? String(w.active_jobs) : "—"),
    el("td", {}, w.network || "—"),
    el("td", { class: "mono small" }, w.address ? `${w.address.slice(0, 8)}…${w.address.slice(-6)}` : "—"),
    el("td", {}, w.current ? null : el("code", { class: "small" }, `lcai-tray --profile ${w.profile} open`))));
  const worst = data.workers.find((w) => w.profile === data.worst_profile);
  target.replaceChildren(
    el("div", { class: "table-wrap" }, el("table", { id: "machine-table" },
      el("thead", {}, el("tr", {}, ...["Worker (profile)", "GPUs", "State", "Jobs running", "Network", "Address", "Open"]
        .map((h) => el("th", { scope: "col", class: h === "Jobs running" ? "num" : null }, h)))),
      el("tbody", {}, rows))),
    data.count > 1 && worst ? el("p", { class: "small muted", id: "machine-worst" },
      `The tray icon shows the worst state of these ${data.count} workers: ${worst.state_label} (${worst.profile}).`)
      : el("p", { class: "small muted" }, "Only this worker runs here. A machine with several GPUs can run one worker per GPU: the hardware check of onboarding explains how."));
}

/** Onboarding: several GPUs found. Explain one worker per GPU, pin this worker, give the commands for the others. */
export function perGpuBox(hw, onChange) {
  const offer = hw.per_gpu || {};
  if ((offer.pinned || []).length) {
    const use = el("button", { type: "button", id: "unpin-gpus" }, "Use every GPU instead");
    use.addEventListener("click", () => pin([], onChange));
    return el("div", { class: "notice info", id: "per-gpu" },
      el("strong", {}, `This worker uses ${gpuText(offer.pinned)} only.`),
      el("div", { class: "small" }, "Its container and its own Ollama see no other GPU; the checks below count that memory only."),
      (offer.others || []).length ? el("div", { class: "small" }, "The other GPUs each get a worker of their own, created in a terminal:") : null,
      commands(offer), use);
  }
  if (!offer.offer) return null;
  const me = offer.this_worker;
  const btn = el("button", { type: "button", class: "primary", id: "pin-gpu" }, `Use GPU ${me.gpus} for this worker`);
  btn.addEventListener("click", () => pin([me.gpus], onChange));
  return el("div", { class: "notice info", id: "per-gpu" },
    el("strong", {}, "One worker per GPU"),
    el("div", {}, offer.explain),
    el("p", {}, btn, " ", el("span", { class: "small" }, `${me.name}${me.vram_bytes ? `, ${gib(me.vram_bytes)}` : ""}`)),
    el("div", { class: "small" }, "Then create one more worker per other GPU, in a terminal (each asks for its own password and stake):"),
    commands(offer),
    el("div", { class: "small" }, "The tray icon shows all of them; the dashboard lists them under “Workers on this machine”."));
}

function commands(offer) {
  return el("ul", { id: "per-gpu-commands" }, (offer.others || []).map((o) => {
    const cmd = el("code", {}, o.command);
    return el("li", {}, `GPU ${o.gpus} (${o.name}${o.vram_bytes ? `, ${gib(o.vram_bytes)}` : ""}): `, cmd, " ", copyButton(() => o.command));
  }));
}

async function pin(gpus, onChange) {
  try { await api("/api/settings", { method: "POST", body: { gpus } }); onChange(); } catch (e) { showError(e); }
}
