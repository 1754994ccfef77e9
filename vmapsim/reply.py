"""A notebook's answer as a mailing-list reply: the ``.txt`` summary and the ``.eml`` file.

:func:`vmapsim.report.summary` records what a notebook answers (a message label such as
``"M18"``), the passages of that message it answers (quote ids of ``data/thread/quotes.json``),
its answer to each, its key numbers (:mod:`vmapsim.numbers`) and its conclusion.  This module
turns that record into text:

* :func:`body` -- the reply: ``On <date>, <name> wrote:``, each quoted passage exactly as posted
  (its own line breaks, one ``> `` level added; passages the project holds only as the thread
  index's one-line quotations stay on one line) followed by its answer, then the key numbers
  with their conditions and error band, the conclusion and an evidence line.  Our own lines are
  at most :data:`WIDTH` columns and ASCII (a URL that is longer stands alone on its line);
  quoted lines keep their width.  No signature.
* :func:`txt` -- the same body under a title and a link to the message answered.
* :func:`eml` -- the body with the headers ``git send-email``, ``mutt -H`` and ``neomutt`` read:
  ``Subject: Re: <subject of the message answered>``, ``In-Reply-To`` and ``References`` with
  the thread's Message-IDs (References: the thread's root, the cover letter M1, then every known
  ancestor of the message answered, oldest first), ``From`` only when given (``make report``
  passes ``git config user.name/user.email`` when both are set and the address can receive
  mail, :func:`git_sender`), no ``To`` (left to the sender), and ``Cc`` the recipients the
  project holds as data (:func:`cc_addresses`: the author of the message answered, the series'
  author, the cover letter's To: recipients and the four lists, with the addresses the archived
  headers give).

Every label of the project's own that the reply uses (message labels M1..M26, question numbers,
design, trace and scenario names) is explained in a "Labels used above" list at its end
(:func:`glossary`), so that the mail reads on its own.  The evidence line links the page at the
URL the user sets (``VMAPSIM_REPORT_URL`` or ``make report REPORT_URL=...``); without one it says
that the page is not linked (how to publish it is printed on the terminal, never in the mail).
It never names a local path.
"""
from __future__ import annotations

import re
import subprocess
import textwrap
from datetime import datetime, timedelta, timezone

from . import thread
from .errors import ParameterError

__all__ = ["WIDTH", "URL_ENV", "attribution", "quoted_lines", "body", "txt", "eml", "references",
           "subject", "cc_addresses", "git_identity", "git_sender", "sender_problem", "asciify", "check_parts",
           "glossary", "RESERVED_DOMAINS"]

#: the longest line of our own text in a reply (quoted lines keep their width)
WIDTH = 72
#: the environment variable holding the URL where build/report is published
URL_ENV = "VMAPSIM_REPORT_URL"

_ASCII = {"\u00b1": "+-", "\u2013": "-", "\u2014": "--", "\u2026": "...", "\u00d7": "x",
          "\u00b5": "u", "\u03bc": "u", "\u2018": "'", "\u2019": "'", "\u201c": '"',
          "\u201d": '"', "\u2264": "<=", "\u2265": ">=", "\u2192": "->", "\u2248": "~",
          "\u00a0": " ", "\u2212": "-", "\u00b7": "."}


def asciify(text: str) -> str:
    """*text* with the typographic characters that have an ASCII spelling replaced by it."""
    return "".join(_ASCII.get(c, c) for c in text)


# --------------------------------------------------------------------------- the thread's parts

def attribution(label: str) -> str:
    """``On Tue, Jun 16, 2026 at 07:07:57PM +0100, Matthew Wilcox wrote:`` (mutt's form).

    The time is the message header's, in its own zone where that is numeric and the author's
    own; otherwise (a zone name such as PDT, or a zone that is another's, as for M16, known only
    from the attribution line of the reply quoting it) the same instant in UTC.  Seconds are
    left out where they are not known.
    """
    m = thread.message(label)
    when = datetime.fromisoformat(m.date_utc)
    zone = re.search(r"([+-]\d{4})$", m.date) if m.zone_is_author else None
    clock = re.search(r"(\d{1,2}):(\d{2})(?::(\d{2}))?", m.date)
    if zone and clock:
        sign = 1 if zone.group(1)[0] == "+" else -1
        offset = sign * (int(zone.group(1)[1:3]) * 60 + int(zone.group(1)[3:5]))
        when = when.astimezone(timezone(timedelta(minutes=offset)))
        tz = zone.group(1)
    else:
        tz = "+0000"
    seconds = clock is not None and clock.group(3) is not None
    hour = when.strftime("%I:%M" + (":%S" if seconds else "") + "%p")
    return f"On {when.strftime('%a, %b %d, %Y')} at {hour} {tz}, {m.author} wrote:"


def check_parts(answers: str, quote_ids) -> list:
    """The quotes *quote_ids* (``thread.Quote``), checked to be passages of message *answers* in
    the author's own words (not the thread index's shorthand)."""
    thread.message(answers)
    out = []
    for qid in quote_ids:
        q = thread.quote(qid)
        if q.label != answers:
            raise ParameterError(f"quote {qid!r} is from {q.label}, not from {answers}, the "
                                 "message this reply answers")
        if q.shorthand_of is not None:
            raise ParameterError(f"quote {qid!r} is the thread index's shorthand, not "
                                 f"{q.label}'s words; quote {q.shorthand_of!r} instead")
        out.append(q)
    return out


def quoted_lines(quote_id: str) -> list[str]:
    """The passage *quote_id* as a reply quotes it: each of its lines with one ``>`` level added
    (``"> text"``; an empty line becomes ``">"``).  A passage held verbatim keeps its own line
    breaks (and any trailing space the archive shows); one the project holds only as the thread
    index's quotation is one line."""
    q = thread.quote(quote_id)
    return [("> " + ln) if ln else ">" for ln in q.plain.split("\n")]


# --------------------------------------------------------------------------- our own text

def _wrap(text: str, width: int = WIDTH) -> list[str]:
    """Paragraphs (blank-line separated) wrapped to *width*; a paragraph whose lines start with
    ``- `` or ``* `` is a list, one item per such line, with a hanging indent.  Words longer than
    the width (URLs) are not broken."""
    out: list[str] = []
    for para in asciify(text).strip().split("\n\n"):
        lines = [ln.strip() for ln in para.strip().splitlines()]
        if lines and lines[0][:2] in ("- ", "* "):
            items, cur = [], []
            for ln in lines:
                if ln[:2] in ("- ", "* ") and cur:
                    items.append(" ".join(cur))
                    cur = []
                cur.append(ln)
            items.append(" ".join(cur))
            for it in items:
                out += textwrap.wrap(" ".join(it.split()), width, subsequent_indent="  ",
                                     break_on_hyphens=False, break_long_words=False)
        else:
            out += textwrap.wrap(" ".join(" ".join(lines).split()), width,
                                 break_on_hyphens=False, break_long_words=False)
        out.append("")
    return out[:-1]


def _link_line(prefix: str, url: str, width: int = WIDTH) -> list[str]:
    return [prefix + " " + url] if len(prefix) + 1 + len(url) <= width else [prefix, url]


#: what the evidence line says when no URL is set (the terminal says how to set one)
NOT_LINKED = "is not linked here: it has not been published"


def evidence(notebook: str, url: str | None, run: str, version: str) -> list[str]:
    """The evidence paragraph: the page's URL under *url*, or that the page is not linked (no
    instruction: how to publish it is for the sender's terminal, not for the list)."""
    if url:
        base = url.rstrip("/")
        lines = _link_line("Evidence:", f"{base}/{notebook}.html")
        tail = (f"(vmapsim {version}, {run} run; the numbers as data: {notebook}.json "
                "next to the page)")
    else:
        lines = []
        tail = (f"The page with the tables, plots and checks behind these numbers (vmapsim "
                f"{version}, {run} run) {NOT_LINKED}.")
    return lines + _wrap(tail)


def body(payload: dict, url: str | None = None) -> str:
    """The reply's text (see the module docstring) from a summary payload."""
    answers = payload["answers"]
    parts = payload["parts"]
    check_parts(answers, [p["quote"] for p in parts])
    lines = [attribution(answers)]
    for i, part in enumerate(parts):
        lines += quoted_lines(part["quote"])
        lines.append("")
        lines += _wrap(part["answer"])
        lines.append("")
    if payload.get("table"):
        lines += _wrap(f"Key numbers ({payload['notebook']}.json; under the table: where each "
                       "comes from, and the conditions that rerun it):")
        lines.append("")
        lines += ["  " + asciify(ln) if ln else "" for ln in payload["table"]]
        lines.append("")
    if payload.get("conclusion"):
        lines += _wrap(payload["conclusion"])
        lines.append("")
    if payload.get("glossary"):
        lines += _wrap("Labels used above:")
        lines += _wrap("\n".join(f"- {k}: {v}" for k, v in payload["glossary"]))
        lines.append("")
    if payload.get("run") == "fast":
        lines += _wrap("These numbers come from a fast run with reduced parameters "
                       "(VMAPSIM_FAST=1): they are not the numbers to send.")
        lines.append("")
    lines += evidence(payload["notebook"], url, payload.get("run", "full"),
                      payload.get("version", "?"))
    # trailing spaces go, except in quoted lines, which are the archive's bytes
    text = "\n".join(ln if ln.startswith(">") else ln.rstrip() for ln in lines) + "\n"
    check_width(text)
    return text


def check_width(text: str, width: int = WIDTH) -> None:
    """ValueError naming the first of our own lines (not quoted, not a lone URL) over *width*."""
    for n, ln in enumerate(text.splitlines(), 1):
        if len(ln) > width and not ln.startswith(">") and not re.fullmatch(r"https?://\S+", ln):
            raise ValueError(f"reply line {n} is {len(ln)} columns, more than {width}: {ln!r}")


def txt(payload: dict, url: str | None = None) -> str:
    """The ``.txt`` summary: a title, the message answered with its link, then :func:`body`."""
    m = thread.message(payload["answers"])
    head = _wrap(f"vmapsim {payload['notebook']}: {payload.get('title') or ''}".rstrip(": "))
    who = m.author if " ci" in m.author else m.author.split()[-1]
    if m.available:
        link = _link_line(f"In reply to {m.label} ({who}, {m.day}):", m.lore)
    else:
        link = _wrap(f"In reply to {m.label} ({who}, {m.day}; the message is not archived, "
                     f"its text is quoted in {m.quoted_in}):") + [thread.link(m.quoted_in)]
    text = "\n".join(head + link + [""]) + "\n" + body(payload, url)
    check_width(text)
    return text


# --------------------------------------------------------------------------- headers

def subject(label: str) -> str:
    """``Re: <subject of message label>`` (one ``Re:``, however many the subject has)."""
    s = thread.message(label).subject
    while s.lower().startswith("re: "):
        s = s[4:]
    return "Re: " + s


def references(label: str) -> list[str]:
    """Message-IDs from the thread's root (M1) to *label*, oldest first, as far as the project
    knows each message's parent (``in_reply_to`` of ``data/thread/messages.json``)."""
    chain, seen, cur = [], set(), label
    while cur is not None and cur not in seen:
        seen.add(cur)
        chain.append(thread.message(cur).message_id)
        cur = thread.message(cur).in_reply_to
    root = thread.message("M1").message_id
    if root not in chain:
        chain.append(root)
    return list(reversed(chain))


def cc_addresses(label: str) -> list[str]:
    """The recipients of a reply to message *label* that the project holds as data, as
    ``Name <address>``: the author of *label*, the series' author, the cover letter's To:
    recipients (the thread index names them), then the thread's lists.  Addresses are those the
    archived headers of M19 and M25 give (``data/thread/messages.json``); a person with no address
    there is left out.  The cover letter's "about 20 individual Cc" are not named by the thread
    index and are not held: the sender adds them (the archive's headers list them)."""
    m1 = thread.message("M1")
    people = [thread.message(label).author, thread.series()["author"]]
    people += (m1.recipients or {}).get("to", [])
    found = [a for a in (thread.address(p) for p in people) if a]
    lists = thread.list_addresses()
    for name in (m1.recipients or {}).get("lists", []):
        if name in lists:
            found.append(lists[name])
    return list(dict.fromkeys(found))


def _fold(name: str, items: list[str], width: int = 78) -> str:
    lines, cur = [], f"{name}:"
    for it in items:
        if len(cur) + 1 + len(it) > width and cur != f"{name}:":
            lines.append(cur)
            cur = " " + it
        else:
            cur += " " + it
    lines.append(cur)
    return "\n".join(lines)


#: domains that can receive no mail by definition: RFC 2606 section 2 and 3 and RFC 6761
#: section 6 reserve them for documentation, tests and invalid names
RESERVED_DOMAINS = ("example", "invalid", "test", "localhost", "example.com", "example.net",
                    "example.org")


def sender_problem(sender: str | None) -> str | None:
    """Why *sender* (``Name <email>``) cannot be a mail's From:, or None if it can.  An address
    in a domain reserved by RFC 2606/6761 (:data:`RESERVED_DOMAINS`, e.g. ``*.example``) is an
    identity nobody can reply to: git was given a placeholder, not the sender's address."""
    if not sender:
        return "git config user.name and user.email are not both set"
    m = re.search(r"<([^<>@\s]+)@([^<>@\s]+)>$", sender)
    if not m:
        return f"{sender!r} is not of the form Name <address>"
    domain = m.group(2).lower().rstrip(".")
    for r in RESERVED_DOMAINS:
        if domain == r or domain.endswith("." + r):
            return (f"the address {m.group(1)}@{m.group(2)} is in {r}, a domain reserved for "
                    "examples (RFC 2606/6761): no one can reply to it")
    return None


def git_identity(cwd=None) -> str | None:
    """``Name <email>`` from ``git config user.name`` / ``user.email`` when both are set."""
    def get(key):
        try:
            r = subprocess.run(["git", "config", "--get", key], cwd=cwd, capture_output=True,
                               text=True, timeout=10)
        except (OSError, subprocess.SubprocessError):
            return None
        return r.stdout.strip() or None if r.returncode == 0 else None

    name, email = get("user.name"), get("user.email")
    return f"{name} <{email}>" if name and email else None


def git_sender(cwd=None) -> str | None:
    """:func:`git_identity` when the address can receive mail (:func:`sender_problem`); None
    otherwise (the mail client then fills in From:)."""
    sender = git_identity(cwd)
    return sender if sender_problem(sender) is None else None


# --------------------------------------------------------------------------- labels

def _describe_message(label: str) -> str:
    m = thread.message(label)
    return f"{m.author}, {m.day}, <{m.message_id}>"


def _describe_question(n: int) -> str:
    q = thread.question(n)
    return f"an open question of the thread, as this project numbers them: {q.title}"


def _token(label: str) -> re.Pattern:
    return re.compile(r"(?<![\w.-])" + re.escape(label) + r"(?![\w-])")


def glossary(text: str, conditions=(), extra: dict | None = None,
             answers: str | None = None) -> list[tuple[str, str]]:
    """``(label, one-line description)`` for every label of the project's own that *text* (the
    reply's own words and table) or the key numbers' *conditions* use: message labels (author,
    day, Message-ID; not *answers*, which the attribution names), question numbers (``Q8``),
    design names, shipped trace names and explorer scenario ids.  *extra* gives descriptions
    for labels only a notebook knows (a model scenario, a builder call); a design, trace or
    scenario condition with no description raises :class:`ParameterError` naming it."""
    from .designs.registry import DESCRIPTIONS
    from .explore import scenarios
    from .traces import captures

    extra = dict(extra or {})
    found: dict[str, str] = {}
    used = {(k, str(v)) for c in conditions for k, v in c.items()
            if k in ("design", "trace", "scenario")
            for v in (v if isinstance(v, list) else [v])}
    cat = {i: summ for i, summ, _ in scenarios.catalogue()}
    traces = set(captures.trace_names()) | {n for _, _, n, _ in captures.kind_captures()}
    for key, value in sorted(used, key=lambda kv: kv[1]):
        if value in extra:
            found[value] = extra[value]
        elif key == "design" and value in DESCRIPTIONS:
            found[value] = "a design modelled by this project: " + DESCRIPTIONS[value]
        elif key == "trace" and value in traces:
            found[value] = captures.describe(value)
        elif key == "scenario" and value in cat:
            found[value] = "explorer scenario: " + cat[value]
        else:
            raise ParameterError(f"the reply uses {key}={value!r} and nothing describes it: pass "
                                 f"glossary={{{value!r}: 'one line saying what it is'}} to "
                                 "report.summary")
    for name, desc in [*((k, "a design modelled by this project: " + v)
                         for k, v in DESCRIPTIONS.items()),
                       *((t, None) for t in sorted(traces)),
                       *((i, "explorer scenario: " + cat[i]) for i in cat if len(i) > 1),
                       *extra.items()]:
        if name not in found and _token(name).search(text):
            found[name] = desc if desc is not None else captures.describe(name)
    # the descriptions may name messages and questions too
    seen = text + "\n" + "\n".join(found.values())
    for n in sorted({int(x) for x in re.findall(r"(?<![\w-])Q(\d{1,2})(?![\w-])", seen)}):
        if 1 <= n <= len(thread.questions()):
            found[f"Q{n}"] = _describe_question(n)
    seen = text + "\n" + "\n".join(found.values())
    for lab in sorted(thread.labels_in(seen), key=lambda x: int(x[1:])):
        if lab != answers:
            found[lab] = _describe_message(lab)
    return list(found.items())


def eml(payload: dict, url: str | None = None, sender: str | None = None) -> str:
    """The ``.eml`` file (headers, a blank line, :func:`body`)."""
    label = payload["answers"]
    text = body(payload, url)
    ascii_only = all(ord(c) < 128 for c in text)
    heads = []
    if sender:
        heads.append(f"From: {sender}")
    cc = cc_addresses(label)
    if cc:
        heads.append(_fold("Cc", [a + "," for a in cc[:-1]] + cc[-1:]))
    heads.append(_fold("Subject", subject(label).split(" ")))
    heads.append(f"In-Reply-To: <{thread.message(label).message_id}>")
    heads.append(_fold("References", [f"<{i}>" for i in references(label)]))
    heads += ["MIME-Version: 1.0",
              f"Content-Type: text/plain; charset={'us-ascii' if ascii_only else 'utf-8'}",
              f"Content-Transfer-Encoding: {'7bit' if ascii_only else '8bit'}"]
    return "\n".join(heads) + "\n\n" + text
