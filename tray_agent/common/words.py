"""Counted nouns for people: "1 job", "3 jobs" — never "job(s)" (UI, CLI, tray and agent messages alike)."""

from __future__ import annotations

import re

_MARKED = re.compile(r"\b(\d[\d,]*) ([A-Za-z]+)\(s\)( (?:are|were|need|have)\b)?")
_SINGULAR_VERB = {" are": " is", " were": " was", " need": " needs", " have": " has", " keep": " keeps"}


def plural(n: int, one: str, many: str | None = None, verb: str = "") -> str:
    """``n`` and the noun in the form that goes with it, thousands separated like the UI's ``plural``; with
    ``verb`` (its plural form: "are", "were", "keep", …) the verb follows, agreeing with ``n``."""
    text = f"{n:,} {one if n == 1 else many or one + 's'}"
    if verb:
        text += _SINGULAR_VERB.get(f" {verb}", f" {verb}") if n == 1 else f" {verb}"
    return text


def plural_forms(text: str) -> str:
    """Rewrite "N noun(s)" in a message (e.g. a decoded revert) to the plural form, with the verb agreeing."""
    def one(m: re.Match[str]) -> str:
        n = int(m.group(1).replace(",", ""))
        verb = m.group(3) or ""
        return plural(n, m.group(2)) + (_SINGULAR_VERB.get(verb, verb) if n == 1 else verb)

    return _MARKED.sub(one, text)
