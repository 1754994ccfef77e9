"""The thread as data (``data/thread/``, :mod:`vmapsim.thread`): complete, self-consistent, and the only
source of message labels the repository may use."""
from __future__ import annotations

import hashlib
import json
import re
from datetime import datetime
from pathlib import Path

import pytest

from vmapsim import thread
from vmapsim.errors import ParameterError

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "data" / "thread"
LABELS = [f"M{i}" for i in range(1, 27)]


def raw(name):
    return json.loads((DATA / name).read_text(encoding="utf-8"))


# -- messages ------------------------------------------------------------------------------------------

def test_every_label_present_exactly_once_in_order():
    labels = [m["label"] for m in raw("messages.json")["messages"]]
    assert labels == LABELS
    assert [m.label for m in thread.messages()] == LABELS


def test_message_ids_match_lore_links():
    for m in thread.messages():
        assert m.links[0] == f"https://lore.kernel.org/all/{m.message_id}/", m.label
        assert thread.link(m.label) == m.lore
        assert len(set(m.links)) == len(m.links), m.label
        assert all(u.startswith(("https://", "http://")) for u in m.links), m.label
        assert m.message_id.count("@") == 1 and " " not in m.message_id, m.label


def test_patches_are_the_b4_series():
    s = thread.series()
    for n in range(0, 13):
        m = thread.message(f"M{n + 1}")
        assert m.message_id == f"20260613-vmalloc_maple-v1-{n}-0aa740bb944b@oss.qualcomm.com"
        if n:
            assert m.patch == f"{n:02d}/12" and m.subject.startswith(f"[PATCH RFC {n:02d}/12] mm/vmalloc: ")
            assert s["patches"][m.patch] == m.label
    assert thread.message("M1").subject == s["title"] == raw("messages.json")["title"]
    assert s["change_id"] == "20260613-vmalloc_maple-9c96fee8eace" and s["base_commit"] == "c425609d6ac4"


ZONES = {"PDT": "-0700"}


def _header_time(date: str) -> datetime:
    for name, offset in ZONES.items():
        date = date.replace(name, offset)
    fmt = "%a %d %b %Y %H:%M:%S %z" if date.count(":") == 2 else "%a %d %b %Y %H:%M %z"
    return datetime.strptime(date, fmt)


def test_header_date_and_utc_are_the_same_instant():
    for m in thread.messages():
        local = _header_time(m.date)
        assert local == m.when, m.label
        assert local.strftime("%a") == m.date.split()[0], f"{m.label}: weekday"
        assert m.when.utcoffset().total_seconds() == 0, m.label
        if m.date.count(":") == 1:
            assert m.date_note, f"{m.label}: minute-only time needs a date_note"


def test_replies_and_fields_are_consistent():
    for m in thread.messages():
        assert m.author and m.summary and m.subject, m.label
        assert m.subject_source in ("verbatim-index", "verbatim-file", "reconstructed"), m.label
        if m.in_reply_to:
            assert m.in_reply_to in LABELS and m.in_reply_to_source, m.label
            assert thread.message(m.in_reply_to).when < m.when, m.label
        if m.subject_source == "reconstructed":
            assert m.subject == "Re: " + thread.series()["title"], m.label
    unavailable = [m.label for m in thread.messages() if not m.available]
    assert unavailable == ["M16"]
    assert thread.message("M16").quoted_in == "M25"
    assert [m.label for m in thread.messages() if m.recipients] == ["M1"]
    assert thread.verbatim_text().split("\n")[0] == thread.message("M23").subject


def test_cite_and_link():
    assert thread.cite("M18") == ("M18 (Wilcox, 16 Jun 2026, "
                                  "https://lore.kernel.org/all/ajGQ_WPT3Ra2kPCQ@casper.infradead.org/)")
    assert thread.cite("M16").startswith("M16 (Rezki, 14 Jun 2026, quoted in M25: https://lore.kernel.org/")
    assert thread.link("M1").endswith("20260613-vmalloc_maple-v1-0-0aa740bb944b@oss.qualcomm.com/")


@pytest.mark.parametrize("bad", ["M27", "M0", "m14", "14", 14, None])
def test_unknown_label_names_it_and_the_range(bad):
    with pytest.raises(ParameterError, match=r"M1\.\.M26") as e:
        thread.message(bad)
    assert repr(bad) in str(e.value)
    if bad is not None:            # quotes(None) means every quote
        with pytest.raises(ParameterError):
            thread.quotes(bad)


# -- quotes --------------------------------------------------------------------------------------------

def test_quotes_are_unique_non_empty_and_attributed():
    qs = raw("quotes.json")["quotes"]
    ids = [q["id"] for q in qs]
    assert len(ids) == len(set(ids))
    for q in thread.quotes():
        assert q.text.strip(), q.id
        assert q.label in LABELS, q.id
        assert q.id.startswith(q.label + "-"), q.id
        assert (q.source == "index-quote" or q.source.startswith("verbatim-file:")
                or re.fullmatch(r"archive:M\d+", q.source)), q.id
        if q.shorthand_of:
            assert thread.quote(q.shorthand_of).id == q.shorthand_of
    assert sum(len(thread.quotes(lab)) for lab in LABELS) == len(thread.quotes())


def test_verbatim_file_is_stored_unchanged():
    info = raw("quotes.json")["verbatim_file"]
    data = (DATA / info["file"]).read_bytes()
    assert hashlib.sha256(data).hexdigest() == info["sha256"]
    assert len(data) == info["bytes"] and data.endswith(b"\n") == info["trailing_newline"]
    assert len(data.decode().split("\n")) == info["lines"]
    assert info["source_url"] == thread.message("M23").links[1]


def test_verbatim_quotes_are_exact_lines_of_the_stored_file():
    text = thread.verbatim_text()
    lines = text.split("\n")
    verbatim = [q for q in thread.quotes() if q.source.startswith("verbatim-file:")]
    assert {q.label for q in verbatim} == {"M14", "M17", "M18", "M23"}
    for q in verbatim:
        a, b = q.lines
        assert q.text in text, q.id
        assert q.text == "\n".join(lines[a - 1:b]), q.id
        prefix = ">" * q.depth
        stripped = [ln[len(prefix):].removeprefix(" ") if q.depth else ln for ln in lines[a - 1:b]]
        assert all(ln.startswith(prefix) and not ln.startswith(prefix + ">") for ln in lines[a - 1:b]), q.id
        assert q.unquoted == "\n".join(stripped) == q.plain, q.id


def test_verbatim_file_ranges_and_attributions():
    info = raw("quotes.json")["verbatim_file"]
    lines = thread.verbatim_text().split("\n")
    for label, d in info["messages"].items():
        a, b = d["lines"]
        whole = thread.quote(f"{label}-text")
        assert whole.lines == (a, b) and whole.depth == d["depth"]
        for q in thread.quotes(label):
            if q.lines:
                assert a <= q.lines[0] <= q.lines[1] <= b, q.id
        att = d["attribution"]
        if att:
            assert lines[att["line"] - 1] == att["text"]
            assert att["text"].startswith(">" * att["depth"] + ("On " if not att["depth"] else " On "))
            assert att["text"].endswith(thread.message(label).author + " wrote:")
            assert att["written_in"] in LABELS


def test_archive_quotes_are_whole_lines_with_their_prefixes():
    """A passage read from the linux-arm-msm archive: whole lines as the archived message shows
    them, '>' prefixes of its quoting depth, 'unquoted' the same lines without them."""
    archived = [q for q in thread.quotes() if q.source.startswith("archive:")]
    assert {q.id for q in archived} >= {"M16-not-fragmented", "M19-no-alloc-under-lock"}
    assert "linux-arm-msm" in thread.archives()
    for q in archived:
        shown_in = q.source.split(":", 1)[1]
        assert shown_in in LABELS and (shown_in == q.label or q.depth >= 1), q.id
        prefix = ">" * q.depth
        lines = q.text.split("\n")
        assert all(ln.startswith(prefix) and not ln.startswith(prefix + ">") for ln in lines), q.id
        assert q.unquoted == "\n".join(ln[len(prefix):].removeprefix(" ") if q.depth else ln
                                       for ln in lines), q.id
    # M16 as M25 quotes it: Rezki's own line break
    assert thread.quote("M16-not-fragmented").plain.split("\n")[0].endswith("data structure)")


def test_addresses_come_from_archived_headers():
    lists = thread.list_addresses()
    assert lists["linux-mm"] == "linux-mm@kvack.org"
    assert set(lists) == set(thread.message("M1").recipients["lists"])
    for name in thread.message("M1").recipients["to"] + [thread.series()["author"],
                                                       "Matthew Wilcox"]:
        assert re.fullmatch(r'"?[\w .-]+"? <[\w.+-]+@[\w.-]+>', thread.address(name)), name
    assert thread.address("syzbot ci") is None
    doc = raw("messages.json")["addresses"]
    assert all("archive" in v["source"] for k, v in doc.items() if not k.startswith("_"))


def test_index_quotes_agree_with_the_verbatim_text():
    for q in thread.quotes():
        if q.verbatim:
            v = thread.quote(q.verbatim)
            assert q.source == "index-quote" and v.label == q.label, q.id
            assert q.text in re.sub(r"\s+", " ", v.unquoted), q.id


# -- questions -----------------------------------------------------------------------------------------

def test_questions():
    doc = raw("questions.json")
    qs = thread.questions()
    assert [q.number for q in qs] == list(range(1, 17))
    for q in qs:
        assert q.title and q.status in doc["statuses"], q.number
        assert q.raised_by and set(q.raised_by + q.answered_in) <= set(LABELS), q.number
    assert thread.question(3).raised_by == ("M18",)
    for bad in (0, 17, "x"):
        with pytest.raises(ParameterError, match="question"):
            thread.question(bad)


def test_benchmark_claims_are_consistent():
    b = thread.series()["benchmark_claims"]
    assert len(b["cases_x86_64"]) == 16 and len(b["cases_arm64"]) == 20
    arch = {"x86_64": b["cases_x86_64"], "arm64": b["cases_arm64"]}
    for sweep in b["sweeps"]:
        if sweep["smp"] is None:
            continue
        cases = [c["gain_pct"] for c in arch[sweep["sweep"].split()[0]]
                 if c["smp"] == sweep["smp"] and not c["functional"]]
        assert cases and all(sweep["gain_pct_min"] <= g <= sweep["gain_pct_max"] for g in cases), sweep
        assert max(cases) == sweep["gain_pct_max"], sweep


# -- labels in the repository --------------------------------------------------------------------------

def test_labels_in():
    assert thread.labels_in("M14 and M2-M13, not M27, M0, M07, XM5 or M5x") == {"M14", "M2", "M13"}
    assert thread.unknown_labels_in("M14 and M2-M13, not M27, M0, M07, XM5 or M5x") == {"M27", "M0", "M07"}
    assert thread.labels_in("") == set()


SCANNED = ("notebooks/src/*.py", "vmapsim/**/*.py", "docs/**/*.md", "README.md", "ARCHITECTURE.md")


def unknown_labels(root: Path) -> dict[str, list[str]]:
    """``{path:line: [label, ...]}`` for every label-like word in the scanned files that names no message."""
    bad = {}
    for pattern in SCANNED:
        for path in sorted(root.glob(pattern)):
            for n, line in enumerate(path.read_text(encoding="utf-8").split("\n"), 1):
                found = thread.unknown_labels_in(line)
                if found:
                    bad[f"{path.relative_to(root)}:{n}"] = sorted(found)
    return bad


def test_repository_names_only_existing_messages():
    assert unknown_labels(ROOT) == {}
    used = set()
    for pattern in SCANNED:
        for path in ROOT.glob(pattern):
            used |= thread.labels_in(path.read_text(encoding="utf-8"))
    assert used and used <= set(LABELS)


def test_scan_catches_a_label_beyond_the_thread(tmp_path):
    (tmp_path / "notebooks" / "src").mkdir(parents=True)
    (tmp_path / "docs" / "sub").mkdir(parents=True)
    (tmp_path / "notebooks" / "src" / "99-x.py").write_text("# as M26 said\n# and M27 replied\n")
    (tmp_path / "docs" / "sub" / "note.md").write_text("See M18.\n")
    (tmp_path / "README.md").write_text("M0 is not a message either\n")
    assert unknown_labels(tmp_path) == {"notebooks/src/99-x.py:2": ["M27"], "README.md:1": ["M0"]}
