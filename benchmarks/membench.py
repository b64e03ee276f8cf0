"""Memory and CPU as a user's machine sees them: RSS and USS (unique memory) side by side, the process alone and
with its child processes, and where a process's memory sits (per mapped object, from /proc/<pid>/smaps)."""

from __future__ import annotations

import contextlib
import os
import statistics
import time
from pathlib import Path

MB = 2**20


def _tree(pid: int):
    import psutil

    p = psutil.Process(pid)
    kids = []
    with contextlib.suppress(psutil.NoSuchProcess):
        kids = p.children(recursive=True)
    return p, kids


def _mem(p) -> tuple[int, int]:
    """(rss, uss) bytes; USS needs /proc/<pid>/smaps (root or same user)."""
    import psutil

    try:
        m = p.memory_full_info()
        return m.rss, m.uss
    except (psutil.NoSuchProcess, psutil.ZombieProcess):
        return 0, 0
    except psutil.AccessDenied:
        return p.memory_info().rss, 0


def _cpu(p) -> float:
    import psutil

    try:
        t = p.cpu_times()
        return t.user + t.system
    except (psutil.NoSuchProcess, psutil.ZombieProcess):
        return 0.0


def sample(pids: dict[str, int], seconds: float, interval: float = 1.0) -> dict:
    """Per name: RSS and USS mean/max (MB) of the process alone and of the process + all its children, CPU % of
    the process alone and of the tree (CPU time / wall time; children seen at the start and the end), and the
    machine's 1-min load average over the window (min/max)."""
    import psutil

    procs = {k: psutil.Process(p) for k, p in pids.items()}
    kids0 = {k: {c.pid: c for c in _tree(p)[1]} for k, p in pids.items()}
    cpu0 = {k: _cpu(p) for k, p in procs.items()}
    kcpu0 = {k: {pid: _cpu(c) for pid, c in kids0[k].items()} for k in procs}
    series: dict[str, dict[str, list[int]]] = {k: {"rss": [], "uss": [], "rss_tree": [], "uss_tree": []}
                                               for k in procs}
    kid_names: dict[str, set[str]] = {k: set() for k in procs}
    t0 = time.monotonic()
    loads: list[float] = []  # 1-min load average each second: other work on the machine inflates CPU %
    while time.monotonic() - t0 < seconds:
        loads.append(os.getloadavg()[0])
        for k, p in procs.items():
            rss, uss = _mem(p)
            trss, tuss = rss, uss
            _, kids = _tree(p.pid)
            for c in kids:
                r, u = _mem(c)
                trss += r
                tuss += u
                with contextlib.suppress(psutil.Error):
                    kid_names[k].add(" ".join(c.cmdline()[:3])[-80:] or c.name())
                kids0[k].setdefault(c.pid, c)
            s = series[k]
            s["rss"].append(rss)
            s["uss"].append(uss)
            s["rss_tree"].append(trss)
            s["uss_tree"].append(tuss)
        time.sleep(interval)
    wall = time.monotonic() - t0
    out = {}
    for k, p in procs.items():
        own = _cpu(p) - cpu0[k]
        tree = own + sum(max(0.0, _cpu(c) - kcpu0[k].get(pid, 0.0)) for pid, c in kids0[k].items())
        s = series[k]
        out[k] = {**{f"{m}_mb_mean": statistics.mean(v) / MB for m, v in s.items() if v},
                  **{f"{m}_mb_max": max(v) / MB for m, v in s.items() if v},
                  "cpu_pct": own / wall * 100, "cpu_pct_tree": tree / wall * 100, "seconds": wall,
                  "cpu_s": own, "load_min": min(loads), "load_max": max(loads),
                  "children": sorted(kid_names[k])}
    return out


def smaps_by_object(pid: int) -> dict[str, dict[str, int]]:
    """Mapped object (library path, [heap], [anon], …) → {rss, pss, private} in kB."""
    out: dict[str, dict[str, int]] = {}
    cur = None
    with open(f"/proc/{pid}/smaps") as fh:
        for line in fh:
            parts = line.split()
            if not parts:
                continue
            if "-" in parts[0] and len(parts) >= 5 and not parts[0].endswith(":"):
                name = parts[5] if len(parts) >= 6 else "[anon]"
                if name.startswith("/"):
                    name = _short(name)
                cur = out.setdefault(name, {"rss": 0, "pss": 0, "private": 0})
            elif cur is not None and parts[0] in ("Rss:", "Pss:", "Private_Clean:", "Private_Dirty:"):
                v = int(parts[1])
                if parts[0] == "Rss:":
                    cur["rss"] += v
                elif parts[0] == "Pss:":
                    cur["pss"] += v
                else:
                    cur["private"] += v
    return out


def _short(path: str) -> str:
    p = Path(path)
    if "site-packages" in p.parts:
        i = p.parts.index("site-packages")
        return "site-packages/" + "/".join(p.parts[i + 1:i + 2]) + "/…/" + p.name
    return p.name


def grouped(objs: dict[str, dict[str, int]]) -> dict[str, dict[str, int]]:
    """Fold mapped objects into families (python heap, GTK/GLib, X11, Python extensions per package, …)."""
    fam: dict[str, dict[str, int]] = {}
    for name, v in objs.items():
        if name in ("[heap]", "[anon]") or name.startswith("[anon"):
            key = "anonymous (Python objects, malloc arenas)"
        elif name.startswith("site-packages/"):
            key = "py-ext " + name.split("/")[1]
        elif any(s in name for s in ("gtk", "gdk", "glib", "gio", "gobject", "pango", "cairo", "harfbuzz", "atk",
                                     "appindicator", "dbusmenu", "girepository", "pixman", "fontconfig", "freetype",
                                     "epoxy", "wayland", "xkbcommon")):
            key = "GTK/GLib/Cairo/Pango stack"
        elif name.startswith("libX") or name.startswith("libxcb"):
            key = "X11 libraries"
        elif name.startswith("libpython") or name == "python3.11" or name.startswith("python3"):
            key = "python interpreter"
        elif name.startswith("[stack") or name in ("[vdso]", "[vvar]", "[vsyscall]"):
            key = "stacks/vdso"
        else:
            key = "other shared objects"
        f = fam.setdefault(key, {"rss": 0, "pss": 0, "private": 0})
        for m in f:
            f[m] += v[m]
    return fam


def top_delta(before: dict[str, dict[str, int]], after: dict[str, dict[str, int]], n: int = 8,
              metric: str = "rss") -> list[tuple[str, int]]:
    """The ``n`` objects whose ``metric`` grew most (kB)."""
    keys = set(before) | set(after)
    d = [(k, after.get(k, {}).get(metric, 0) - before.get(k, {}).get(metric, 0)) for k in keys]
    return sorted((x for x in d if x[1]), key=lambda x: -x[1])[:n]
