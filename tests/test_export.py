"""The exported report: self-contained HTML (no network loads, figures embedded once each, tables as
HTML tables, widgets flattened to a snapshot line plus what they showed), the mailing-list .txt,
the .eml reply and the key numbers as .json."""
import hashlib
import json
import re

import pytest
from conftest import NOTEBOOKS

from vmapsim.export import (
    SNAPSHOT,
    WIDGET_VIEW,
    flatten_widgets,
    remote_resources,
    summary_payload,
    summary_text,
    to_html,
    write_reply_files,
)
from vmapsim.numbers import CONDITIONS, SOURCES

pytestmark = pytest.mark.notebook


@pytest.fixture(scope="module")
def exported(executed_or_fail):
    cache = {}

    def get(name):
        if name not in cache:
            nb = executed_or_fail(name)
            cache[name] = (nb, to_html(nb, title=name), summary_text(nb))
        return cache[name]

    return get


def _images(nb):
    return sum(1 for c in nb["cells"] for o in c.get("outputs", [])
               if any(k.startswith("image/") for k in o.get("data", {})))


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_html_loads_nothing_from_the_network(name, exported):
    _, html, _ = exported(name)
    assert remote_resources(html) == []
    assert "<script" not in html.lower(), "the static page needs no JavaScript"


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_every_figure_is_embedded(name, exported):
    nb, html, _ = exported(name)
    flat = flatten_widgets(nb)
    imgs = re.findall(r"<img\b[^>]*>", html, re.I)
    srcs = [re.search(r"src\s*=\s*\"([^\"]*)\"", t) for t in imgs]
    assert all(s and s.group(1).startswith("data:image/") for s in srcs), imgs
    assert len(imgs) == _images(flat) > 0 or _images(flat) == 0
    assert len(imgs) == _images(flat)


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_widgets_are_flattened_to_what_they_showed(name, exported):
    nb, html, _ = exported(name)
    views = sum(1 for c in nb.cells for o in c.get("outputs", []) if WIDGET_VIEW in o.get("data", {}))
    if not views:
        pytest.skip(f"{name} has no widget")
    assert html.count(SNAPSHOT) == views
    assert WIDGET_VIEW not in html and "widget-state+json" not in html
    flat = flatten_widgets(nb)
    assert _images(flat) > _images(nb), "the widget's plot must be in the page"


def test_overview_snapshot_names_the_control_values(exported):
    _, html, _ = exported("00-overview")
    assert f"{SNAPSHOT} cpus = 8, design = linux-6.18" in html
    assert "controls: cpus=8, design=linux-6.18" in html
    assert "linux-6.18 with 8 CPUs: 8 vmap_node(s)" in html
    assert f"{SNAPSHOT} areas = 1024, freed = 0.3" in html


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_text_summary_fits_a_mail(name, exported):
    _, _, text = exported(name)
    lines = text.splitlines()
    assert lines[0].startswith(f"vmapsim {name}")
    assert any(ln.startswith("In reply to M") for ln in lines[1:3]), "name the message answered"
    assert any(line.startswith("https://lore.kernel.org/all/") for line in lines[1:5])
    assert any(line.endswith(" wrote:") and line.startswith("On ") for line in lines)
    assert any(line.startswith("> ") for line in lines), "the question must be quoted"
    assert all(len(line) <= 72 for line in lines
               if not line.startswith(">") and not re.fullmatch(r"https?://\S+", line))
    assert text.isascii()
    assert not re.search(r"claims (in the notebook )?hold|\d+ of \d+ claims", text)
    assert "build/report" not in text and not re.search(r"(^|\s)/(work|tmp|home|root)/", text)


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_every_figure_appears_once(name, exported):
    """The plotting functions return their figure without displaying it: no page shows an
    image twice (byte-identical)."""
    _, html, _ = exported(name)
    digests = [hashlib.sha256(m.encode()).hexdigest()
               for m in re.findall(r'src="data:image/png;base64,([^"]+)"', html)]
    repeated = len(digests) - len(set(digests))
    assert repeated == 0, f"{repeated} of {len(digests)} images are byte-identical copies"


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_tables_are_html_tables(name, exported):
    """No fixed-width text table (a header rule of dashes) in the page outside the reply."""
    _, html, _ = exported(name)
    outside = re.sub(r"<pre class='vmapsim-summary'.*?</pre>", "", html, flags=re.S)
    pres = re.findall(r"<pre>(.*?)</pre>", outside, flags=re.S)
    rule = re.compile(r"^-{3,}(  -{2,})+\s*$", re.M)
    assert not [p[:200] for p in pres if rule.search(p)]
    assert "<table" in html


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_eml_and_json_written_by_make_report(name, executed_or_fail, tmp_path):
    from test_reply import check_eml

    nb = executed_or_fail(name)
    url, sender = "https://example.org/vmapsim/", "A Reviewer <a@example.org>"
    txt, eml, js = write_reply_files(nb, tmp_path, name, url=url, sender=sender)
    check_eml(eml.read_text(), name, url, sender)
    payload = summary_payload(nb)
    assert txt.read_text().endswith(eml.read_text().split("\n\n", 1)[1])   # same body
    data = json.loads(js.read_text())
    assert data["notebook"] == name and data["numbers"]
    for e in data["numbers"]:
        assert e["source"] in SOURCES and set(e["conditions"]) <= set(CONDITIONS)
        assert isinstance(e["value"], (int, float, str)) and not isinstance(e["value"], bool)
        assert e["steady"] in (True, False, None)
    # the summary table is printed from the numbers
    body = eml.read_text()
    for line in payload["table"]:
        assert ("  " + line).rstrip() in body.splitlines()
    # without a URL or a configured sender: no From:, and no path instead of the link
    _, eml2, _ = write_reply_files(nb, tmp_path, name)
    check_eml(eml2.read_text(), name, None, None)


def test_remote_resource_detector_catches_loads():
    page = ('<script src="https://cdn.example/x.js"></script><link href="//fonts.example/a.css">'
            '<style>@import "http://x/y.css"; .a{background:url(https://x/i.png)}</style>'
            '<img src="data:image/png;base64,AAAA"><a href="https://lore.kernel.org/">link</a>')
    found = remote_resources(page)
    assert len(found) == 4, found
    assert not any("lore.kernel.org" in f for f in found)
