"""Key numbers as data (vmapsim.numbers) and the reply a notebook sends (vmapsim.reply): the
.eml's headers against the thread's data, quotes byte for byte against the stored message, the
column limit, no local path, and the From: rule."""
from __future__ import annotations

import email
import email.policy
import json
import re
import subprocess

import pytest

from vmapsim import reply, report, thread
from vmapsim.errors import ParameterError
from vmapsim.numbers import CONDITIONS, SOURCES, error_band

URL = "https://example.org/vmapsim/report"


# --------------------------------------------------------------------------- numbers

def test_numbers_validate_source_conditions_and_value():
    n = report.Numbers("99-x")
    with pytest.raises(ParameterError, match="unknown source 'simulation'; valid sources: model"):
        n.add("a", 1, source="simulation")
    with pytest.raises(ParameterError, match="unknown condition 'threads'; valid conditions: design"):
        n.add("a", 1, source="model", threads=4)
    with pytest.raises(ParameterError, match="value must be a number or a string"):
        n.add("a", True, source="model")
    with pytest.raises(ParameterError, match="value must be a number or a string"):
        n.add("a", (72, 48), source="model")
    with pytest.raises(ParameterError, match="must be finite"):
        n.add("a", float("nan"), source="model")
    with pytest.raises(ParameterError, match="steady must be True, False or None"):
        n.add("a", 1, source="model", steady="yes")
    n.add("a", 1, source="model", design="linux-6.18")
    with pytest.raises(ParameterError, match="recorded twice"):
        n.add("a", 2, source="model", design="linux-6.18")
    n.add("a", 2, source="model", design="rfc-v1")     # other conditions: another number
    assert n.get("a", design="rfc-v1").value == 2


def test_numbers_json_follows_the_schema():
    n = report.Numbers("99-x")
    n.add("us/loop", 2.5, "us", source="model", steady=False, design="linux-6.18", cpus=16,
          loops=300, warmup=0, machine="threadripper-3970x")
    n.add("verdict", "violation", source="explorer", scenario="C1")
    n.add("vmap_nodes", 8, source="kernel-source", cpus=8, trace=["a", "b"])
    d = json.loads(json.dumps(n.as_json(run="full")))
    assert d["notebook"] == "99-x" and len(d["numbers"]) == 3
    for e in d["numbers"]:
        assert {"name", "value", "unit", "source", "steady", "conditions"} <= set(e)
        assert e["source"] in SOURCES and set(e["conditions"]) <= set(CONDITIONS)
        assert isinstance(e["value"], (int, float, str)) and e["steady"] in (True, False, None)
    # the model's timings carry the calibration band; other numbers do not
    assert d["numbers"][0]["error_band"] == error_band() > 0   # data/perf/calibration.json
    assert "error_band" not in d["numbers"][1] and "error_band" not in d["numbers"][2]


def test_sim_conditions_names_the_simulate_parameters():
    class R:
        design, lookup, cpus, online_cpus, workload = "linux-6.18", "spinlock", 16, 64, "lookup"
        loops, machine, seed = 200, "threadripper-3970x", 0

    c = report.sim_conditions(R(), warmup=0)
    assert c == dict(design="linux-6.18", lookup="spinlock", cpus=16, online_cpus=64,
                     workload="lookup", loops=200, machine="threadripper-3970x", seed=0, warmup=0)
    assert set(c) <= set(CONDITIONS)


def test_table_by_rows_puts_conditions_in_footnotes():
    n = report.Numbers("99-x")
    for d, us in (("linux-6.18", 2.0), ("rfc-v1", 1.5)):
        n.add("differs", 0.5, "%", source="real-trace", design=d, trace="fork-s71")
        n.add("us/loop", us, "us", source="model", steady=False, fmt=".2f", design=d, cpus=16,
              loops=300, warmup=0)
    text = n.table(rows="design").text(70).splitlines()
    assert text[0].split() == ["design", "differs", "%", "[a]", "us/loop", "[b]"]
    assert text[3].split() == ["rfc-v1", "0.5", "1.50"]
    assert "[a] real kernel trace: trace=fork-s71" in text
    band = f"+-{error_band():.0%} (calibration band)"
    assert any(ln.startswith(f"[b] model, not steady state, {band}: cpus=16")
               for ln in text)
    with pytest.raises(ParameterError, match="numbers without that condition"):
        n.table(rows="scenario")


def test_listing_groups_shared_conditions():
    n = report.Numbers("99-x")
    n.add("C1", "violation", source="explorer", scenario="C1")
    for p in ("spinlock", "seqcount"):
        n.add(f"find, {p}", 0.1, "us", source="model", steady=False, lookup=p, cpus=4, loops=60)
    text = n.table().text().splitlines()
    assert "[a] explorer: scenario=C1" in text
    assert (f"[b,c] model, not steady state, +-{error_band():.0%} (calibration band): cpus=4 "
            "loops=60") in text
    assert "[b] lookup=spinlock" in text and "[c] lookup=seqcount" in text


# --------------------------------------------------------------------------- reply pieces

def test_attribution_lines():
    assert reply.attribution("M18") == ("On Tue, Jun 16, 2026 at 07:07:57PM +0100, "
                                        "Matthew Wilcox wrote:")
    # M14's header zone is a name (PDT): the same instant in UTC
    assert reply.attribution("M14") == ("On Sat, Jun 13, 2026 at 11:15:28PM +0000, "
                                        "Matthew Wilcox wrote:")
    # M16's time is known to the minute only, and its zone (+0530) is the replier's (M25's
    # mail client), not Rezki's: the same instant in UTC
    assert reply.attribution("M16") == ("On Sun, Jun 14, 2026 at 06:58AM +0000, "
                                        "Uladzislau Rezki wrote:")


def test_references_run_from_the_root_to_the_message():
    ids = reply.references("M23")
    assert ids == [thread.message(x).message_id for x in ("M1", "M14", "M17", "M18", "M23")]
    assert reply.references("M1") == [thread.message("M1").message_id]
    assert reply.references("M19") == [thread.message(x).message_id for x in ("M1", "M19")]


def test_subject_has_one_re():
    assert reply.subject("M18") == ("Re: [PATCH RFC 00/12] mm/vmalloc: migrate vmap_area "
                                    "indexing from rb-tree to maple-tree")
    assert reply.subject("M1") == reply.subject("M18")


def test_quoted_lines_keep_the_posted_line_breaks():
    lines = reply.quoted_lines("M18-rules")
    stored = thread.verbatim_text().splitlines()[21:33]       # M18 at depth 1 in M23's copy
    assert lines == stored
    assert reply.quoted_lines("M14-text")[0] == ("> What I don't understand is why you maintain "
                                                 'a separate "free" tree.')
    assert reply.quoted_lines("M17-text")[4] == ">"          # the empty line inside M17
    assert len(reply.quoted_lines("M19-no-alloc-under-lock-index")) == 1   # index quote: one line
    # M16 as M25 archives it: Rezki's line break after "structure)", the trailing space kept
    assert reply.quoted_lines("M16-not-fragmented") == [
        "> I am not sure we need to switch free-tree(it is not fragmented data structure)",
        "> whereas lazy and busy sounds good to me as those contain more objects. "]
    assert len(reply.quoted_lines("M19-no-alloc-under-lock")) == 6


def test_cc_holds_the_recipients_the_project_has_as_data():
    cc = reply.cc_addresses("M18")
    # the author answered first, then the series' author, the cover letter's To: and the lists
    assert cc[:2] == ["Matthew Wilcox <willy@infradead.org>",
                      "Pranjal Arya <pranjal.arya@oss.qualcomm.com>"]
    assert cc[-4:] == ["linux-mm@kvack.org", "linux-kernel@vger.kernel.org",
                       "linux-arm-msm@vger.kernel.org", "maple-tree@lists.infradead.org"]
    assert "Uladzislau Rezki <urezki@gmail.com>" in cc and len(cc) == len(set(cc)) == 11
    assert reply.cc_addresses("M16")[0] == "Uladzislau Rezki <urezki@gmail.com>"
    assert len(reply.cc_addresses("M16")) == 10      # Rezki is also a To: of the cover letter
    for a in cc:
        assert re.fullmatch(r'("?[\w .-]+"? <)?[\w.+-]+@[\w.-]+\.\w+>?', a), a


@pytest.mark.parametrize("sender, bad", [
    (None, "not both set"),
    ("Seed maintainers <maintainers@users.noreply.r-seed-1625d5fc.example>", "reserved"),
    ("A <a@example.org>", "reserved"), ("A <a@host.invalid>", "reserved"),
    ("A <a@x.test>", "reserved"), ("A <a@localhost>", "reserved"),
    ("A Reviewer <a.reviewer@kernel.org>", None), ("A <a@examples.org>", None),
])
def test_sender_problem_names_placeholder_identities(sender, bad):
    problem = reply.sender_problem(sender)
    assert (problem is None) if bad is None else (bad in problem)


def test_git_sender_needs_name_and_email(tmp_path, monkeypatch):
    cfg = tmp_path / "gitconfig"
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(cfg))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    subprocess.run(["git", "init", "-q", str(tmp_path / "r")], check=True)
    assert reply.git_sender(tmp_path / "r") is None
    cfg.write_text("[user]\n\tname = A Reviewer\n")
    assert reply.git_sender(tmp_path / "r") is None
    cfg.write_text("[user]\n\tname = A Reviewer\n\temail = a@example.org\n")
    # a placeholder in a domain reserved for examples: nobody could reply to it
    assert reply.git_identity(tmp_path / "r") == "A Reviewer <a@example.org>"
    assert reply.git_sender(tmp_path / "r") is None
    cfg.write_text("[user]\n\tname = A Reviewer\n\temail = a.reviewer@kernel.org\n")
    assert reply.git_sender(tmp_path / "r") == "A Reviewer <a.reviewer@kernel.org>"


def test_asciify():
    assert reply.asciify("\u00b125 % \u2013 5\u00d72 \u2026 \u201cq\u201d") == '+-25 % - 5x2 ... "q"'


# --------------------------------------------------------------------------- the .eml

def _payload():
    n = report.Numbers("99-x")
    n.add("us/loop", 2.345, "us", source="model", steady=True, fmt=".2f", design="linux-6.18",
          cpus=16, loops=300, warmup=4096, machine="threadripper-3970x")
    s = report.summary("99-x", title="a test reply", answers="M23",
                       parts=[("M23-read-side", "Not for non-owners \u2013 see below. " * 6),
                              ("M23-good-plan", "Not as posted.")],
                       numbers=n, conclusion="Conclusion " * 20)
    return s.payload


def check_eml(text: str, notebook: str, url: str | None, sender: str | None):
    """What every .eml must satisfy (used here and on every notebook's export)."""
    msg = email.message_from_string(text, policy=email.policy.default)
    payload_label = None
    # In-Reply-To names a message of the thread, References its chain from M1
    irt = msg["In-Reply-To"].strip()
    assert re.fullmatch(r"<[^<>\s]+>", irt), irt
    ids = {f"<{m.message_id}>": m.label for m in thread.messages()}
    payload_label = ids[irt]
    refs = str(msg["References"]).split()
    assert refs == [f"<{i}>" for i in reply.references(payload_label)]
    assert refs[0] == f"<{thread.message('M1').message_id}>" and refs[-1] == irt
    assert str(msg["Subject"]) == reply.subject(payload_label)
    assert msg["To"] is None
    if sender:
        assert str(msg["From"]) == sender
    else:
        assert msg["From"] is None
    cc = [a.split("<")[-1].rstrip(">") for a in reply.cc_addresses(payload_label)]
    assert [a.addr_spec for a in msg["Cc"].addresses] == cc
    assert msg.get_content_type() == "text/plain"
    body = msg.get_content()
    lines = body.splitlines()
    # the attribution line, then quotes byte for byte against the thread's own text
    assert lines[0] == reply.attribution(payload_label)
    stored = [ln for ln in thread.verbatim_text().splitlines()]
    archived = {q.id: q.text.split("\n") for q in thread.quotes(payload_label)
                if q.source.startswith("archive:")}
    i = 1
    blocks = []
    while i < len(lines):
        if lines[i].startswith(">"):
            j = i
            while j < len(lines) and lines[j].startswith(">"):
                j += 1
            blocks.append(lines[i:j])
            i = j
        i += 1
    assert blocks, "the reply must quote the message it answers"
    for block in blocks:
        unq = "\n".join(ln[2:] if ln.startswith("> ") else ln[1:] for ln in block)
        matches = [q for q in thread.quotes(payload_label) if q.plain == unq]
        assert matches, f"quoted text is not a passage of {payload_label}: {unq!r}"
        q = matches[0]
        if q.lines:   # held verbatim: compare with the stored copy, line by line
            a, b = q.lines
            depth = "".join(">" for _ in range(q.depth))
            for ours, theirs in zip(block, stored[a - 1:b]):
                theirs = theirs[len(depth):]
                theirs = theirs[1:] if theirs.startswith(" ") else theirs
                assert ours == (("> " + theirs) if theirs else ">")
        if q.id in archived:  # the archive's lines, one '>' level added, trailing spaces kept
            theirs = [ln[q.depth:].removeprefix(" ") if q.depth else ln for ln in archived[q.id]]
            assert block == [("> " + t) if t else ">" for t in theirs]
    # our own lines: 72 columns, ASCII; quotes keep their width; a lone URL may be longer
    for ln in lines:
        if not ln.startswith(">") and not re.fullmatch(r"https?://\S+", ln):
            assert len(ln) <= 72, ln
    assert body.isascii()
    assert not re.search(r"(^|\s)/(work|tmp|home|root)/|\.\./|build/report", body), "local path"
    assert not re.search(r"\d+ of \d+ claims|claims hold", body), "no claims count"
    # the evidence line links the page (or says it is not linked, with no instruction)
    if url:
        assert f"{url.rstrip('/')}/{notebook}.html" in body
    else:
        assert reply.NOT_LINKED in " ".join(body.split())
        assert not re.search(r"REPORT_URL|make report|run make", body), "no build instruction"
    # every label of the project's own is explained at the end
    if "Labels used above:" in body:
        tail = body.split("Labels used above:", 1)[1]
        for lab in thread.labels_in(body.split("Labels used above:", 1)[0]) - {payload_label}:
            assert f"- {lab}: " in tail, lab
    assert not body.rstrip().endswith("--") and "\n-- \n" not in body, "no signature"
    return msg


@pytest.mark.parametrize("url, sender", [(URL, "A Reviewer <a@example.org>"), (None, None)])
def test_eml_parses_and_follows_the_list_rules(url, sender):
    text = reply.eml(_payload(), url, sender)
    msg = check_eml(text, "99-x", url, sender)
    body = msg.get_content()
    # interleaved: each quoted part is followed by its answer
    assert body.index("> find_vmap_area() will walk") < body.index("Not for non-owners") < \
        body.index("> Does it sound like a good plan ?") < body.index("Not as posted.")
    assert "us/loop" in body and f"+-{error_band():.0%} (calibration band)" in body
    assert "steady state" in body
    assert "threadripper-3970x" in body
    assert "\u2013" not in body and " - see below." in body


def test_txt_has_title_and_link_to_the_message():
    text = reply.txt(_payload(), URL)
    lines = text.splitlines()
    assert lines[0] == "vmapsim 99-x: a test reply"
    assert lines[1] == "In reply to M23 (Arya, 26 Jun 2026):"
    assert lines[2] == thread.link("M23")
    reply.check_width(text)


def test_unarchived_message_is_linked_through_the_one_quoting_it():
    n = report.Numbers("99-x")
    n.add("a", 1, source="model")
    s = report.summary("99-x", title="t", answers="M16", parts=[("M16-not-fragmented", "a")],
                       numbers=n, conclusion="c")
    lines = s.text.splitlines()
    assert thread.link("M25") in lines and "quoted in M25" in " ".join(lines[:4])
    # the passage as M25 archives it, with its own line breaks
    assert reply.quoted_lines("M16-not-fragmented") == lines[lines.index(
        reply.attribution("M16")) + 1:][:2]
    # an index quote stays on one line, exactly as the project holds it
    s = report.summary("99-x", title="t", answers="M16", parts=[("M16-not-fragmented-index", "a")],
                       numbers=n, conclusion="c")
    assert "> " + thread.quote("M16-not-fragmented-index").text in s.text.splitlines()


def test_glossary_explains_the_project_labels():
    n = report.Numbers("99-x")
    n.add("differs", 0.5, "%", source="real-trace", design="linux-6.18", trace="mixed-s61")
    n.add("verdict", "violation", source="explorer", scenario="C3")
    n.add("model", "yes", source="model", scenario="my-seq")
    with pytest.raises(ParameterError, match="scenario='my-seq' and nothing describes it"):
        report.summary("99-x", title="t", answers="M18", parts=[("M18-rule1", "See M19, Q4.")],
                       numbers=n, conclusion="c")
    s = report.summary("99-x", title="t", answers="M18", parts=[("M18-rule1", "See M19, Q4.")],
                       numbers=n, conclusion="As rfc-v1 shows.", glossary={"my-seq": "a sequence"})
    g = dict(s.payload["glossary"])
    assert g["my-seq"] == "a sequence" and g["C3"].startswith("explorer scenario: ")
    assert g["mixed-s61"].startswith("a real capture (Linux 6.18.44") and "held out" in g["mixed-s61"]
    assert g["linux-6.18"].startswith("a design modelled") and "rfc-v1" in g
    assert thread.message("M19").message_id in g["M19"] and "M18" not in g
    assert g["Q4"].endswith(thread.question(4).title)
    body = reply.body(s.payload)
    assert "Labels used above:" in body and "- my-seq: a sequence" in body
    reply.check_width(body)


def test_check_width_allows_quotes_and_urls_only():
    reply.check_width("> " + "q" * 100 + "\nhttps://lore.kernel.org/all/" + "x" * 80 + "/\n")
    with pytest.raises(ValueError, match="more than 72"):
        reply.check_width("x" * 73)


def test_git_send_email_accepts_the_eml(tmp_path):
    """``git send-email --dry-run`` reads the headers as they are meant (skipped where the
    git-email package is not installed)."""
    if subprocess.run(["git", "send-email", "--help"], capture_output=True).returncode != 0:
        pytest.skip("git send-email is not installed (Debian: apt-get install git-email)")
    path = tmp_path / "99-x.eml"
    path.write_text(reply.eml(_payload(), URL, "A Reviewer <a@example.org>"))
    r = subprocess.run(["git", "-c", "sendemail.confirm=never", "send-email", "--dry-run",
                        "--to=someone@example.org", "--smtp-server=/bin/true", "--no-validate",
                        "--from=A Reviewer <a@example.org>", str(path)],
                       capture_output=True, text=True, cwd=tmp_path, timeout=60)
    out = r.stdout + r.stderr
    assert r.returncode == 0, out
    assert f"In-Reply-To: <{thread.message('M23').message_id}>" in out
    assert "Subject: " + reply.subject("M23") in out
    assert "maple-tree@lists.infradead.org" in out and "Result: OK" in out


def test_long_conditions_keep_the_column_limit():
    n = report.Numbers("99-x")
    traces = ["fork-s71", "fork-s21", "long-s41", "mixed-s51", "mixed-s61", "mixed-s11", "large-s31"]
    n.add("differs", 0.07, "%", source="real-trace", design="maple-nofree", trace=traces)
    n.add("odd", 1, source="model", scenario="x" * 90)
    text = n.table(rows=None).text(70)
    assert "trace=[fork-s71, fork-s21," in text.replace("\n", " ")
    assert max(map(len, text.splitlines())) <= 70
