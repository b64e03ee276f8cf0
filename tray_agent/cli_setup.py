"""Terminal onboarding for headless servers: the same steps as the onboarding window, over the local API."""

from __future__ import annotations

import getpass
import sys
import time

from .common.amounts import format_lcai
from .common.api_client import ApiClient, ApiError
from .common.networks import network_names
from .common.words import plural


def _ask(prompt: str, default: str = "") -> str:
    suffix = f" [{default}]" if default else ""
    answer = input(f"{prompt}{suffix}: ").strip()
    return answer or default


def pin_gpus(client: ApiClient, gpus: str) -> None:
    """Save this profile's GPU group (raises the agent's ValidationError naming the GPUs it has)."""
    saved = client.post("/api/settings", {"gpus": gpus}).get("gpus") or []
    if saved:
        print(f"this worker (profile {client.get('/api/status').get('profile', '?')}) uses GPU {', '.join(saved)} only: "
              "its own container and Ollama see no other GPU")
    else:
        print("this worker uses every GPU of the machine")


def _offer_per_gpu(hw: dict) -> None:
    """Several GPUs and this worker not pinned: say how to run one worker per GPU."""
    offer = hw.get("per_gpu") or {}
    if not offer.get("offer") or offer.get("pinned"):
        return
    print(f"\n{offer['explain']}")
    print(f"  this worker: 'lcai-tray --profile {offer['this_worker']['profile']} setup --gpus "
          f"{offer['this_worker']['gpus']}' pins it to GPU {offer['this_worker']['gpus']}")
    for o in offer["others"]:
        print(f"  GPU {o['gpus']} ({o['name']}): {o['command']}")


def run_setup(client: ApiClient, generate_password: bool = False) -> int:
    """Ask the onboarding questions on the terminal (the CLI checks there is one before calling)."""
    ob = client.get("/api/onboarding")
    if ob["done"]:
        print(f"setup is already done for {ob['network']}: 'lcai-tray status' shows the worker")
        return 0
    print(f"Network ({', '.join(network_names())}). {ob['networks'].get('mainnet', '')}")
    while True:
        try:
            ob = client.post("/api/onboarding/network", {"network": _ask("network", ob["network"])})
            break
        except ApiError as e:
            print(f"  {e.message} — {e.fix}")
    hw = client.get("/api/hardware")
    print(f"\nHardware: {plural(hw['cpu_cores'], 'CPU core')}, {int(hw['ram_bytes']) / 2**30:.1f} GiB memory, "
          f"{plural(len(hw['gpus']), 'GPU')} — {hw['level'].replace('_', ' ')}")
    for reason in [*hw.get("reasons", []), *hw.get("notes", [])]:
        print(f"  - {reason}")
    _offer_per_gpu(hw)
    models = client.get("/api/models")
    print("\nModels offered (fee per job, memory):")
    for m in models["catalog"]:
        fee = format_lcai(int(m["fee_wei"])) if m.get("fee_wei") else "?"
        print(f"  {m['name']:24} {fee:>8} LCAI  {int(m['footprint_bytes']) / 2**30:5.1f} GiB")
    while True:
        names = [n.strip() for n in _ask("models to serve (comma separated)", "llama3-8b").split(",") if n.strip()]
        try:
            fit = client.post("/api/models/fit", {"models": names})
            print(f"  fit: {fit.get('verdict')} — {fit.get('message') or fit.get('summary') or ''}")
            client.post("/api/onboarding/models", {"models": names})
            break
        except ApiError as e:
            print(f"  {e.message} — {e.fix}")
    ob = client.get("/api/onboarding")
    if not ob.get("address"):
        while True:
            if generate_password:
                r = client.post("/api/onboarding/password", {"generate": True})
                break
            pw = getpass.getpass("keystore password (empty = generate one): ")
            if not pw:
                r = client.post("/api/onboarding/password", {"generate": True})
                break
            if getpass.getpass("again: ") != pw:
                print("  the two entries differ; try again")
                continue
            try:
                r = client.post("/api/onboarding/password", {"password": pw})
                for hint in r.get("hints", []):
                    print(f"  hint: {hint}")
                break
            except ApiError as e:
                print(f"  {e.message} — {e.fix}")
        print(f"\nWorker key created: {r['address']} (stored in the keychain and an encrypted keystore)")
    ob = client.get("/api/onboarding")
    f = ob.get("funding") or {}
    if f and not f.get("funded"):
        print(f"\nFund the worker: send {f['missing_lcai']} LCAI to {f['address']}")
        print(f"  payment link: {f['eip681']}")
        try:
            import segno

            segno.make(f["eip681"]).terminal(compact=True)
        except Exception:
            pass
        if f.get("faucet_url"):
            print(f"  testnet faucet: {f['faucet_url']}")
    op = client.post("/api/onboarding/continue")["op_id"]
    seen, last = 0, ""
    while True:
        rec = client.get(f"/api/ops/{op}")
        items = rec.get("progress", [])
        for item in items:
            if item.get("i", 0) < seen:
                continue
            if item["message"] != last:  # the funding wait repeats itself: print changes only
                print(f"  {item['message']}")
                last = item["message"]
            seen = item.get("i", 0) + 1
        if rec["state"] != "running":
            break
        time.sleep(0.5)
    if rec["state"] == "done":
        print("\nThe worker is online. 'lcai-tray status' shows it; the agent keeps it running.")
        return 0
    err = rec.get("error") or {}
    print(f"\nerror: {err.get('message')}\nfix:   {err.get('fix', '')}", file=sys.stderr)
    return 1
