"""The mailing-list thread under review, as data: messages M1..M26, quoted passages, open questions.

The project refers to the RFC thread ("[PATCH RFC 00/12] mm/vmalloc: migrate vmap_area indexing from
rb-tree to maple-tree", June 2026) by message label, M1 (the cover letter) to M26 (the last reply).
This module reads ``data/thread/``: ``messages.json`` (date, author, subject, Message-ID, archive
links, a summary of each message, and the series facts such as the change-id, the base commit and
the cover letter's claimed benchmark table), ``quotes.json`` (the passages notebooks and code quote,
byte for byte, each tied to its message and to where its text comes from: the stored copy of M23,
``rfc-vmalloc-maple-2026-06-26.txt``, which also quotes M18, M17 and M14, or the thread index) and
``questions.json`` (the open questions Q1..Q16 with who raised them and their status).  Use
:func:`cite` for a reference, :func:`quote` for a passage, and :func:`labels_in` to find the labels a
text mentions: a label is the letter ``M`` and a number standing alone as a word (``\\bM\\d+\\b``);
context is not looked at, so a product name such as "Apple M2" would count as M2 (the project writes
none).  An unknown label, quote id or question number raises
:class:`~vmapsim.errors.ParameterError` naming it and the valid values.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

from .errors import ParameterError
from .params import check_int
from .paths import DATA_DIR

THREAD_DIR = DATA_DIR / "thread"
VERBATIM_FILE = "rfc-vmalloc-maple-2026-06-26.txt"
LORE_PREFIX = "https://lore.kernel.org/all/"
FIRST, LAST = 1, 26
LABELS = tuple(f"M{i}" for i in range(FIRST, LAST + 1))

#: what counts as a message label in prose: ``M`` and digits as a whole word (numbers outside 1..26
#: match too, so that :func:`unknown_labels_in` can report them).
LABEL_RE = re.compile(r"\bM\d+\b")

__all__ = ["Message", "Quote", "Question", "LABELS", "LABEL_RE", "message", "messages", "link", "cite",
           "quote", "quotes", "question", "questions", "series", "verbatim_text", "labels_in",
           "unknown_labels_in", "address", "list_addresses", "archives"]


@dataclass(frozen=True)
class Message:
    """One message of the thread (see ``data/thread/messages.json`` for what each field means)."""

    label: str
    date: str                  # as in the mail header (date_note says when it is not the message's own)
    date_utc: str              # ISO 8601, UTC; minutes only where the seconds are not known
    author: str
    subject: str
    subject_source: str        # verbatim-index | verbatim-file | reconstructed
    message_id: str
    links: tuple[str, ...]     # every archive address known; the first is lore
    summary: str
    available: bool = True     # False: the text survives only quoted in `quoted_in`
    in_reply_to: str | None = None
    in_reply_to_source: str | None = None
    in_reply_to_note: str | None = None
    message_id_source: str | None = None
    date_note: str | None = None
    subject_note: str | None = None
    links_note: str | None = None
    quoted_in: str | None = None
    patch: str | None = None   # "07/12" for the patches
    diffstat: str | None = None
    recipients: dict | None = None   # only where the thread index states them (the cover letter)
    zone_is_author: bool = True      # False: the zone of `date` is not the author's own

    @property
    def lore(self) -> str:
        """The lore address, built from the Message-ID."""
        return self.links[0]

    @property
    def when(self) -> datetime:
        """:attr:`date_utc` as an aware datetime."""
        return datetime.fromisoformat(self.date_utc)

    @property
    def day(self) -> str:
        """The day of the mail header's date, e.g. ``16 Jun 2026``."""
        m = re.search(r"\d{1,2} [A-Z][a-z]{2} \d{4}", self.date)
        return m.group(0)


@dataclass(frozen=True)
class Quote:
    """A passage of the thread, byte for byte.

    ``source`` is ``verbatim-file:A-B`` (lines A..B of the stored copy of M23; ``text`` is those lines
    exactly, with the ``>`` prefixes of quoting ``depth``, and ``unquoted`` the same lines without
    them), ``archive:<label>`` (the passage as message <label> shows it in the linux-arm-msm list
    archive, :func:`archives`, with the same ``text``/``depth``/``unquoted`` fields) or
    ``index-quote`` (a passage the thread index shows in double quotes, line wraps joined by
    one space; ``verbatim`` names the quote holding the same words with their line breaks,
    ``shorthand_of`` marks the index's short forms that are not the author's words).
    """

    id: str
    label: str
    text: str
    source: str
    depth: int | None = None
    unquoted: str | None = None
    verbatim: str | None = None
    shorthand_of: str | None = None
    note: str | None = None

    @property
    def plain(self) -> str:
        """The author's words without quoting prefixes (``unquoted`` or ``text``)."""
        return self.unquoted if self.unquoted is not None else self.text

    @property
    def lines(self) -> tuple[int, int] | None:
        """``(first, last)`` line of the stored file for a verbatim-file quote, else None."""
        if not self.source.startswith("verbatim-file:"):
            return None
        a, _, b = self.source.split(":", 1)[1].partition("-")
        return int(a), int(b or a)


@dataclass(frozen=True)
class Question:
    """An open question of the review (Q1..Q16)."""

    number: int
    title: str
    raised_by: tuple[str, ...]
    answered_in: tuple[str, ...]
    status: str
    status_text: str
    link: str | None = None


def _load(name: str) -> dict:
    return json.loads((THREAD_DIR / name).read_text(encoding="utf-8"))


@lru_cache(maxsize=None)
def _messages() -> dict[str, Message]:
    out = {}
    for raw in _load("messages.json")["messages"]:
        raw = dict(raw, links=tuple(raw["links"]))
        out[raw["label"]] = Message(**raw)
    return out


@lru_cache(maxsize=None)
def _quotes() -> dict[str, Quote]:
    return {raw["id"]: Quote(**raw) for raw in _load("quotes.json")["quotes"]}


@lru_cache(maxsize=None)
def _questions() -> dict[int, Question]:
    out = {}
    for raw in _load("questions.json")["questions"]:
        raw = dict(raw, raised_by=tuple(raw["raised_by"]), answered_in=tuple(raw["answered_in"]))
        out[raw["number"]] = Question(**raw)
    return out


def _check_label(label) -> str:
    if not isinstance(label, str) or label not in LABELS:
        raise ParameterError(f"unknown message label {label!r}; valid labels are M{FIRST}..M{LAST}")
    return label


def message(label: str) -> Message:
    """The message with *label* (``"M1"`` .. ``"M26"``)."""
    return _messages()[_check_label(label)]


def messages() -> list[Message]:
    """All 26 messages, M1 first."""
    return [_messages()[lab] for lab in LABELS]


def link(label: str) -> str:
    """The lore address of *label* (for M16, whose text is not retrievable, see :func:`cite`)."""
    return message(label).lore


def cite(label: str) -> str:
    """A short reference: ``"M18 (Wilcox, 16 Jun 2026, https://lore.kernel.org/all/...)"``.

    The name is the author's surname; the date is the mail header's day.  A message that survives
    only quoted in another is cited through that one: ``"M16 (Rezki, 14 Jun 2026, quoted in M25:
    <M25's lore address>)"``.
    """
    m = message(label)
    who = m.author if " ci" in m.author else m.author.split()[-1]
    where = m.lore if m.available else f"quoted in {m.quoted_in}: {link(m.quoted_in)}"
    return f"{m.label} ({who}, {m.day}, {where})"


def quote(id: str) -> Quote:
    """The quoted passage *id* (e.g. ``"M18-rule2"``)."""
    q = _quotes().get(id)
    if q is None:
        raise ParameterError(f"unknown quote id {id!r}; valid quote ids: {', '.join(_quotes())}")
    return q


def quotes(label: str | None = None) -> list[Quote]:
    """Every quote, or those of message *label*, in the order of ``quotes.json``."""
    if label is None:
        return list(_quotes().values())
    _check_label(label)
    return [q for q in _quotes().values() if q.label == label]


def question(n: int) -> Question:
    """Open question *n* (1..16) of the review."""
    qs = _questions()
    return qs[check_int("question", n, lo=min(qs), hi=max(qs))]


def questions() -> list[Question]:
    """Q1..Q16 in order."""
    return [q for _, q in sorted(_questions().items())]


def series() -> dict[str, Any]:
    """The series facts (change-id, base commit, diffstat, the cover letter's benchmark claims)."""
    return _load("messages.json")["series"]


def archives() -> dict[str, dict]:
    """The list archives the project read messages from (name -> ``url``, ``what``)."""
    return dict(_load("messages.json").get("archives", {}))


def list_addresses() -> dict[str, str]:
    """The thread's lists by the name the thread index uses -> posting address (read from the
    archived headers of M19 and M25)."""
    return {k: v for k, v in _load("messages.json").get("list_addresses", {}).items()
            if not k.startswith("_")}


def address(name: str) -> str | None:
    """``Name <address>`` of a person the thread index names (the series' author, the cover
    letter's To: recipients, the repliers), as an archived header gives it; None if the project
    holds no address for *name*."""
    entry = _load("messages.json").get("addresses", {}).get(name)
    if not isinstance(entry, dict):
        return None
    shown = f'"{name}"' if "." in name else name
    return f"{shown} <{entry['address']}>"


def verbatim_text() -> str:
    """The stored copy of M23 (with M18, M17 and M14 quoted), exactly as archived."""
    return (THREAD_DIR / VERBATIM_FILE).read_text(encoding="utf-8")


def labels_in(text: str) -> set[str]:
    """The message labels M1..M26 that *text* mentions (see the module docstring for what matches)."""
    return {t for t in LABEL_RE.findall(text) if t in LABELS}


def unknown_labels_in(text: str) -> set[str]:
    """Words of *text* that look like message labels but name no message.

    That is ``M`` with a number of 0, above 26, or written with a leading zero.
    """
    return {t for t in LABEL_RE.findall(text) if t not in LABELS}
