"""Turn an executed notebook into the files a reviewer sends: a static HTML page, a .txt summary,
an .eml reply and the key numbers as .json.

* :func:`flatten_widgets` replaces every widget view by what it showed when the notebook ran:
  a ``[snapshot of interactive controls] name = value, ...`` line, then the outputs stored
  in the widget's Output model (plot and printed text).  The saved widget state is dropped, so
  the page needs no JavaScript at all.
* :func:`to_html` renders with nbconvert's ``lab`` template minus every script it would load
  from the network (require.js, MathJax, mermaid, the widget manager); figures are inline
  ``data:image/png`` already.  Code cells are left out (``exclude_input``): the page reads as
  a report; the code is in the repository.
* :func:`summary_payload` extracts what :func:`vmapsim.report.summary` emitted (mimetype
  :data:`vmapsim.report.SUMMARY_MIME`); :func:`write_reply_files` turns it into the ``.txt``
  summary, the ``.eml`` reply (:mod:`vmapsim.reply`) and the ``.json`` key numbers.
* :func:`remote_resources` lists every ``http(s)://`` or protocol-relative resource an HTML page
  would load (``src``, ``<link href>``, CSS ``url()``/``@import``); plain ``<a href>`` links are
  not loads and are allowed.
"""
from __future__ import annotations

import copy
import re

from .report import SUMMARY_MIME

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
SNAPSHOT = "[snapshot of interactive controls]"

OFFLINE_TEMPLATE = r"""{%- extends 'lab/index.html.j2' -%}
{%- block html_head_js_requirejs -%}{%- endblock html_head_js_requirejs -%}
{% block jupyter_widgets %}{% endblock jupyter_widgets %}
{%- block html_head_js_mathjax -%}{%- endblock html_head_js_mathjax -%}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
"""


class ExportError(RuntimeError):
    """The executed notebook cannot be exported as asked (e.g. it emitted no summary)."""


# --------------------------------------------------------------------------- widgets

def _label(model: dict) -> str | None:
    return model.get("description") or None


def _value(model: dict):
    state = model
    if "_options_labels" in state and state.get("index") is not None:
        idx = state["index"]
        if isinstance(idx, (list, tuple)):
            return ", ".join(state["_options_labels"][i] for i in idx)
        return state["_options_labels"][idx]
    return state.get("value")


def _collect(model_id: str, states: dict, controls: list, outputs: list, seen: set) -> None:
    if model_id in seen or model_id not in states:
        return
    seen.add(model_id)
    st = states[model_id].get("state", {})
    name = states[model_id].get("model_name", "")
    if name == "OutputModel":
        outputs.extend(copy.deepcopy(st.get("outputs", [])))
        return
    for child in st.get("children", []):
        if isinstance(child, str) and child.startswith("IPY_MODEL_"):
            _collect(child[len("IPY_MODEL_"):], states, controls, outputs, seen)
    if "value" in st or "_options_labels" in st:
        label = _label(st)
        if label and name not in ("LabelModel", "HTMLModel", "HTMLMathModel"):
            controls.append((label, _value(st)))


def _fmt_value(v) -> str:
    if isinstance(v, float):
        return f"{v:g}"
    return str(v)


def flatten_widgets(nb):
    """Return a copy of *nb* with every widget view replaced by its snapshot (see module doc)."""
    nb = copy.deepcopy(nb)
    states = nb.get("metadata", {}).get("widgets", {}).get(WIDGET_STATE, {}).get("state", {})
    for cell in nb.get("cells", []):
        if cell.get("cell_type") != "code":
            continue
        new_outputs = []
        for out in cell.get("outputs", []):
            view = out.get("data", {}).get(WIDGET_VIEW) if out.get("output_type") in (
                "display_data", "execute_result") else None
            if view is None:
                new_outputs.append(out)
                continue
            controls, outputs = [], []
            _collect(view.get("model_id", ""), states, controls, outputs, set())
            if controls:
                line = SNAPSHOT + " " + ", ".join(f"{k.rstrip(':')} = {_fmt_value(v)}"
                                                  for k, v in controls)
                new_outputs.append({"output_type": "stream", "name": "stdout", "text": line + "\n"})
            if outputs:
                new_outputs.extend(outputs)
            elif not controls:
                fallback = {k: v for k, v in out.get("data", {}).items() if k != WIDGET_VIEW}
                if fallback:
                    new_outputs.append({"output_type": "display_data", "data": fallback,
                                        "metadata": {}})
        cell["outputs"] = new_outputs
    nb.get("metadata", {}).pop("widgets", None)
    return nb


# --------------------------------------------------------------------------- html and text

def to_html(nb, title: str | None = None, exclude_input: bool = True) -> str:
    """Static, offline HTML for an executed notebook (widgets flattened first)."""
    import jinja2
    import nbformat
    from nbconvert import HTMLExporter

    flat = nbformat.from_dict(flatten_widgets(nb))
    exporter = HTMLExporter(template_name="lab", exclude_input=exclude_input,
                            exclude_output_prompt=True,
                            extra_loaders=[jinja2.DictLoader({"vmapsim_offline.html.j2":
                                                              OFFLINE_TEMPLATE})])
    exporter.template_file = "vmapsim_offline.html.j2"
    resources = {"metadata": {"name": title or "vmapsim report"}}
    body, _ = exporter.from_notebook_node(flat, resources=resources)
    return body


def summary_payload(nb) -> dict:
    """What :func:`vmapsim.report.summary` recorded in the executed notebook; ExportError if it
    emitted none or two."""
    found = [out["data"][SUMMARY_MIME]
             for cell in nb.get("cells", []) for out in cell.get("outputs", [])
             if SUMMARY_MIME in out.get("data", {})]
    if len(found) != 1:
        raise ExportError(f"the notebook must display exactly one vmapsim.report.summary(...); "
                          f"found {len(found)}")
    if "answers" not in found[0]:
        raise ExportError("the summary was made by an older vmapsim.report.summary(): rebuild "
                          "the notebook (it must name the message it answers)")
    return found[0]


def summary_text(nb, url: str | None = None) -> str:
    """The ``.txt`` summary of an executed notebook (:func:`vmapsim.reply.txt`)."""
    from .reply import txt
    return txt(summary_payload(nb), url)


def write_reply_files(nb, out_dir, name: str, url: str | None = None,
                      sender: str | None = None) -> list:
    """Write ``<name>.txt``, ``<name>.eml`` and ``<name>.json`` (the key numbers) into *out_dir*;
    returns their paths."""
    import json
    from pathlib import Path

    from .reply import eml, txt
    payload = summary_payload(nb)
    out_dir = Path(out_dir)
    paths = [out_dir / f"{name}.{ext}" for ext in ("txt", "eml", "json")]
    paths[0].write_text(txt(payload, url))
    paths[1].write_text(eml(payload, url, sender))
    paths[2].write_text(json.dumps(payload["numbers"], indent=1) + "\n")
    return paths


_TAG = re.compile(r"<(script|img|link|iframe|audio|video|source|embed|object)\b[^>]*>", re.I | re.S)
_ATTR = re.compile(r"\b(src|href|data)\s*=\s*([\"'])(.*?)\2", re.I | re.S)
_CSS_URL = re.compile(r"url\(\s*([\"']?)(.*?)\1\s*\)|@import\s+([\"'])(.*?)\3", re.I | re.S)


def _remote(url: str) -> bool:
    u = url.strip().lower()
    return u.startswith(("http://", "https://", "//"))


def remote_resources(html_text: str) -> list[str]:
    """Every URL the page would fetch from the network (empty for a self-contained page)."""
    found = []
    for tag in _TAG.finditer(html_text):
        for attr in _ATTR.finditer(tag.group(0)):
            if _remote(attr.group(3)):
                found.append(f"<{tag.group(1)} {attr.group(1)}={attr.group(3)}>")
    for m in _CSS_URL.finditer(html_text):
        url = m.group(2) if m.group(2) is not None else m.group(4)
        if url and _remote(url):
            found.append(f"css {url}")
    found += [f"import() {u}" for u in re.findall(r"import\(\s*[\"']((?:https?:)?//[^\"']+)", html_text)]
    return found
