"""Build notebooks from their py:percent sources, check they are in sync, or pull Lab edits back.

    python tools/nb.py build [NAME ...]   # notebooks/src/NN-name.py -> notebooks/NN-name.ipynb (stripped)
    python tools/nb.py check              # exit 1 if any .ipynb is stale, unstripped or has no source
    python tools/nb.py pull NAME          # notebooks/NN-name.ipynb (edited in Lab) -> notebooks/src/NN-name.py

NAME is ``NN-name`` (with or without an extension).  The format is described in
``vmapsim/notebook.py``.  Run it with the venv's Python (``.venv/bin/python tools/nb.py build``).
"""
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from vmapsim.notebook import SourceError, build_notebook, stripped_problems, to_source  # noqa: E402

NB_DIR = ROOT / "notebooks"
SRC_DIR = NB_DIR / "src"


def _stem(name: str) -> str:
    return Path(name).name.removesuffix(".py").removesuffix(".ipynb")


def build(names) -> int:
    sources = [SRC_DIR / f"{_stem(n)}.py" for n in names] if names else sorted(SRC_DIR.glob("*.py"))
    for src in sources:
        if not src.exists():
            print(f"nb.py: no source {src.relative_to(ROOT)}")
            return 1
        target = NB_DIR / (src.stem + ".ipynb")
        text = build_notebook(src.read_text(), str(src.relative_to(ROOT)))
        if not target.exists() or target.read_text() != text:
            target.write_text(text)
            print(f"built {target.relative_to(ROOT)}")
    return 0


def check() -> int:
    import json

    bad = []
    for src in sorted(SRC_DIR.glob("*.py")):
        target = NB_DIR / (src.stem + ".ipynb")
        if not target.exists():
            bad.append(f"{target.relative_to(ROOT)} missing: run tools/nb.py build")
        elif target.read_text() != build_notebook(src.read_text(), str(src.relative_to(ROOT))):
            bad.append(f"{target.relative_to(ROOT)} out of date with {src.relative_to(ROOT)}: "
                       "run tools/nb.py build (or tools/nb.py pull if you edited the .ipynb)")
    for nb in sorted(NB_DIR.glob("*.ipynb")):
        if not (SRC_DIR / (nb.stem + ".py")).exists():
            bad.append(f"{nb.relative_to(ROOT)} has no source notebooks/src/{nb.stem}.py")
        for p in stripped_problems(json.loads(nb.read_text())):
            bad.append(f"{nb.relative_to(ROOT)}: {p}")
    for line in bad:
        print(line)
    return 1 if bad else 0


def pull(name: str) -> int:
    import nbformat

    nb_path = NB_DIR / f"{_stem(name)}.ipynb"
    src = SRC_DIR / f"{_stem(name)}.py"
    src.parent.mkdir(exist_ok=True)
    src.write_text(to_source(nbformat.read(nb_path, as_version=4)))
    print(f"wrote {src.relative_to(ROOT)}; now run tools/nb.py build to restrip the .ipynb")
    return 0


def main(argv) -> int:
    if not argv or argv[0] not in ("build", "check", "pull") or (argv[0] == "pull" and len(argv) != 2):
        print(__doc__.strip())
        return 2
    try:
        if argv[0] == "build":
            return build(argv[1:])
        if argv[0] == "check":
            return check()
        return pull(argv[1])
    except SourceError as exc:
        print(f"nb.py: {exc}")
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
