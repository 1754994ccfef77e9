"""The exported report: self-contained HTML (no network loads, figures embedded, widgets flattened
to a snapshot line plus what they showed) and a mailing-list .txt of at most 80 columns."""
import re

import pytest
from conftest import NOTEBOOKS

from vmapsim.export import (
    SNAPSHOT,
    WIDGET_VIEW,
    flatten_widgets,
    remote_resources,
    summary_text,
    to_html,
)

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
    assert any(line.startswith("> ") for line in lines), "the question must be quoted"
    assert max(len(line) for line in lines) <= 80
    assert "\t" not in text and text.isascii() or all(ord(ch) < 0x2500 for ch in text)


def test_remote_resource_detector_catches_loads():
    page = ('<script src="https://cdn.example/x.js"></script><link href="//fonts.example/a.css">'
            '<style>@import "http://x/y.css"; .a{background:url(https://x/i.png)}</style>'
            '<img src="data:image/png;base64,AAAA"><a href="https://lore.kernel.org/">link</a>')
    found = remote_resources(page)
    assert len(found) == 4, found
    assert not any("lore.kernel.org" in f for f in found)
