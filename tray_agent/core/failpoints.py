"""Fault points: named places in the code where a test can make the process die, stall or fail on purpose.

The failpoint pattern of etcd (gofail) and TiKV (fail-rs). A point is one call in the product code::

    failpoints.hit("settle.between_batches")

and does nothing (one dict truth test) unless the process environment names it::

    LCAI_FAILPOINTS="settle.between_batches=kill"
    LCAI_FAILPOINTS="withdraw/tx.after_broadcast=kill;tx.before_broadcast=sleep(200)"
    LCAI_FAILPOINTS="tx.after_broadcast=1*off->kill"        # the second broadcast kills the process

Spec grammar (TiKV-like): ``name=term[->term...]`` separated by ``;``; a term is ``[count*]action[(arg)]``:

* ``off``          nothing (useful with a count: ``2*off->kill`` fires on the third hit)
* ``kill``         SIGKILL this process (no cleanup, no atexit, no finally: what a power cut does to it)
* ``sleep(ms)``    block the calling thread for ``ms`` milliseconds
* ``raise`` / ``raise(message)``  raise :class:`FailpointError`
* ``print``        only log that the point was reached

A term without a count applies to every later hit. ``scope/name`` only matches while the calling thread is
inside ``@failpoints.scoped(scope)`` (e.g. ``withdraw/tx.after_broadcast``: the broadcast of a withdrawal,
not the one onboarding sends). Each firing writes one line ``failpoint <name>: <action>`` to stderr first, so a
test can prove where the process died. The spec is read once, at import, and removed from ``os.environ`` (child
processes such as the devnet consumer do not inherit it); :func:`configure` replaces it (tests).
"""

from __future__ import annotations

import contextvars
import functools
import os
import re
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from tray_agent.common.errors import AgentError

ENV = "LCAI_FAILPOINTS"
ACTIONS = ("off", "kill", "sleep", "raise", "print")

# Every point placed in the product (name -> where). Tests check that a spec names only these.
POINTS: dict[str, str] = {
    "tx.before_broadcast": "chain/tx.py: signed, about to eth_sendRawTransaction",
    "tx.after_broadcast": "chain/tx.py: eth_sendRawTransaction answered, receipt not read yet",
    "settle.between_batches": "chain/ops/settle.py: one releaseJobs batch mined, more batches to send",
    "settle.before_withdraw": "chain/ops/settle.py: every release mined, withdraw() not sent yet",
    "deregister.before_withdraw": "chain/ops/deregister.py: deregisterWorker mined, withdraw() not sent yet",
    "register.before_models": "chain/ops/register.py: registerWorker mined, addSupportedModel not sent yet",
    "set_models.between_txs": "chain/ops/served_models.py: one add/remove mined, more to send",
    "clear_stuck.between_jobs": "chain/ops/stuck.py: one stuck job handled, more to go",
    "custody.install.after_keychain": "keys/custody.py: new password in the keychain, keystore not written",
    "custody.archive.after_keychain": "keys/custody.py: archive password in the keychain, key not moved",
    "custody.restore.after_keychain": "keys/custody.py: restored password in the keychain, keystore not moved back",
}
# The operation scopes (``@scoped``) a ``scope/name`` spec may use.
SCOPES = ("settle", "withdraw", "deregister", "clear_stuck", "set_models", "top_up", "reinstate", "register",
          "recover")


class FailpointError(AgentError):
    """Raised by a ``raise`` fault point."""

    code = "failpoint"


@dataclass
class _Term:
    action: str
    arg: str | None = None
    count: int | None = None  # None: forever


class _Point:
    def __init__(self, name: str, terms: list[_Term]):
        self.name = name
        self.terms = terms
        self.hits = 0
        self._lock = threading.Lock()

    def next_term(self) -> _Term | None:
        with self._lock:
            self.hits += 1
            while self.terms:
                t = self.terms[0]
                if t.count is None:
                    return t
                if t.count > 0:
                    t.count -= 1
                    return t
                self.terms.pop(0)
            return None


_TERM_RE = re.compile(r"^(?:(\d+)\*)?([a-z]+)(?:\((.*)\))?$")
_active: dict[str, _Point] = {}
_scope: contextvars.ContextVar[tuple[str, ...]] = contextvars.ContextVar("lcai_failpoint_scope", default=())


def parse(spec: str) -> dict[str, list[_Term]]:
    """``name=term->term;name2=term`` → {name: [terms]}. Raises ValueError on anything malformed."""
    out: dict[str, list[_Term]] = {}
    for part in (spec or "").split(";"):
        part = part.strip()
        if not part:
            continue
        name, sep, rhs = part.partition("=")
        name = name.strip()
        if not sep or not name or not rhs.strip():
            raise ValueError(f"fault point spec {part!r} is not name=action")
        terms = []
        for raw in rhs.split("->"):
            m = _TERM_RE.match(raw.strip())
            if not m or m.group(2) not in ACTIONS:
                raise ValueError(f"fault point {name}: unknown action {raw.strip()!r} (use {', '.join(ACTIONS)})")
            count, action, arg = m.group(1), m.group(2), m.group(3)
            if action == "sleep":
                if arg is None or not arg.strip().isdigit():
                    raise ValueError(f"fault point {name}: sleep needs milliseconds, e.g. sleep(200)")
            elif arg is not None and action != "raise":
                raise ValueError(f"fault point {name}: {action} takes no argument")
            terms.append(_Term(action, arg, int(count) if count is not None else None))
        out[name] = terms
    return out


def check_names(names: list[str] | set[str] | dict) -> None:
    """Raise ValueError for a name that is no placed point (typos would otherwise silently never fire)."""
    for n in names:
        scope, _, point = n.rpartition("/")
        if point not in POINTS or (scope and scope not in SCOPES):
            raise ValueError(f"unknown fault point {n!r}")


def configure(spec: str | None) -> None:
    """Replace the active points (``None`` or "" turns every point off)."""
    global _active
    parsed = parse(spec or "")
    check_names(parsed)
    _active = {n: _Point(n, t) for n, t in parsed.items()}


def active() -> dict[str, int]:
    """Active point names → hits so far (diagnostics and tests)."""
    return {n: p.hits for n, p in _active.items()}


def hit(name: str) -> None:
    """The fault point ``name``: inert unless configured."""
    if not _active:
        return
    _fire(name)
    for s in _scope.get():
        _fire(f"{s}/{name}")


def _fire(full: str) -> None:
    p = _active.get(full)
    if p is None:
        return
    t = p.next_term()
    if t is None or t.action == "off":
        return
    _say(f"failpoint {full}: {t.action}{f'({t.arg})' if t.arg is not None else ''} (hit {p.hits})\n")
    if t.action == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
        time.sleep(10)  # never returns: SIGKILL is delivered at once
    elif t.action == "sleep":
        time.sleep(int(t.arg or 0) / 1000)
    elif t.action == "raise":
        raise FailpointError(t.arg or f"fault point {full} fired", fix="a test set LCAI_FAILPOINTS; unset it")


def _say(text: str) -> None:
    try:
        os.write(2, text.encode())  # unbuffered: the line is out before a kill
    except OSError:
        pass


T = TypeVar("T", bound=Callable)


def scoped(scope: str) -> Callable[[T], T]:
    """Decorator: while the function runs, ``scope/<point>`` specs match too (nested scopes all match)."""
    if scope not in SCOPES:
        raise ValueError(f"unknown fault point scope {scope!r}")

    def deco(fn: T) -> T:
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            token = _scope.set((*_scope.get(), scope))
            try:
                return fn(*args, **kwargs)
            finally:
                _scope.reset(token)

        return wrapper  # type: ignore[return-value]

    return deco


def _from_env() -> None:
    # Taken out of the environment: child processes (the devnet consumer, helpers) never inherit the faults.
    spec = os.environ.pop(ENV, "")
    if not spec:
        return
    configure(spec)  # a malformed spec fails the process start: a fault test must not run without its fault
    _say(f"failpoints active: {', '.join(sorted(_active))}\n")


_from_env()
