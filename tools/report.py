"""`make report`: execute every notebook and write build/report/<name>.html, .txt, .eml and .json.

    python tools/report.py [NAME ...] [-p name=value ...] [--out DIR] [--url URL]

Each notebook runs in a fresh kernel with its default parameters (``-p`` overrides, values are
Python literals; ``VMAPSIM_FAST=1`` in the environment gives the quick variant).  A ``-p`` name
that no notebook of the run assigns in its ``parameters`` cell is an error (exit status 2)
naming it and listing the parameters; a name only some notebooks have goes to those.  The executed
notebook is kept in ``build/executed/`` for inspection.  A notebook that fails is reported with
its failing cell, the others still run, and the exit status is 1.  ``--url`` (default: the
environment's ``VMAPSIM_REPORT_URL``, which ``make report REPORT_URL=...`` sets) is where the
pages will be published: the replies' evidence lines link there.  The replies' ``From:`` is
``git config user.name/user.email`` when both are set.
"""
import argparse
import ast
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from vmapsim.export import ExportError, to_html, write_reply_files  # noqa: E402
from vmapsim.notebook import (  # noqa: E402
    REPORT_CELL_TIMEOUT,
    NotebookFailed,
    cell_seconds,
    execute,
    parameter_names,
)
from vmapsim.reply import URL_ENV, git_sender  # noqa: E402


def _param(text: str):
    name, sep, value = text.partition("=")
    if not sep or not name.isidentifier():
        raise argparse.ArgumentTypeError(f"parameter must look like name=value, got {text!r}")
    try:
        return name, ast.literal_eval(value)
    except (ValueError, SyntaxError):
        return name, value  # a bare word is a string: -p design=rfc-v1


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("names", nargs="*", help="notebooks to run (NN-name); default: all")
    ap.add_argument("-p", dest="params", action="append", type=_param, default=[],
                    help="override a parameter, e.g. -p cpus=64")
    ap.add_argument("--out", default=str(ROOT / "build" / "report"))
    ap.add_argument("--timeout", type=int, default=REPORT_CELL_TIMEOUT,
                    help="seconds one cell may run (default %(default)s; env VMAPSIM_CELL_TIMEOUT)")
    ap.add_argument("--url", default=os.environ.get(URL_ENV) or None,
                    help=f"where build/report is published (default: ${URL_ENV})")
    args = ap.parse_args(argv)

    nb_dir = ROOT / "notebooks"
    paths = ([nb_dir / (Path(n).name.removesuffix(".ipynb") + ".ipynb") for n in args.names]
             or sorted(nb_dir.glob("*.ipynb")))
    missing = [str(p.relative_to(ROOT)) for p in paths if not p.exists()]
    if missing:
        print(f"make report: no such notebook: {', '.join(missing)}")
        return 1
    params = dict(args.params)

    import nbformat

    # every -p name must be a parameter of a notebook of the run (a typo is an error, exit 2);
    # a name only some notebooks have is given to those
    declared = {p: parameter_names(nbformat.read(p, as_version=4)) for p in paths}
    for name in params:
        if not any(name in names for names in declared.values()):
            listing = "; ".join(f"{p.stem}: {', '.join(names) or '(none)'}"
                                for p, names in declared.items())
            print(f"make report: unknown parameter {name!r}: no notebook of this run has it "
                  f"(parameters of {listing})", file=sys.stderr)
            return 2
    partial = {n: [p.stem for p in paths if n in declared[p]] for n in params
               if not all(n in declared[p] for p in paths)}
    for n, where in partial.items():
        print(f"note: -p {n} applies to {', '.join(where)} only (the others have no such parameter)")

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    executed_dir = ROOT / "build" / "executed"
    executed_dir.mkdir(parents=True, exist_ok=True)
    failed, written = [], []
    for path in paths:
        name = path.stem
        t0 = time.perf_counter()
        print(f"running {path.relative_to(ROOT)} ...", flush=True)
        try:
            nb = execute(path, params={k: v for k, v in params.items() if k in declared[path]},
                         label=str(path.relative_to(ROOT)),
                         timeout=args.timeout)
        except NotebookFailed as exc:
            failed.append(exc.headline)
            print(f"FAILED {exc}\n", flush=True)
            continue
        nbformat.write(nb, executed_dir / path.name)
        try:
            replies = write_reply_files(nb, out, name, url=args.url, sender=git_sender(ROOT))
        except (ExportError, ValueError) as exc:
            failed.append(f"{path.relative_to(ROOT)}: {exc}")
            print(f"FAILED {path.relative_to(ROOT)}: {exc}", flush=True)
            continue
        html_path = out / f"{name}.html"
        html_path.write_text(to_html(nb, title=f"vmapsim {name}"))
        written += [html_path] + replies
        slowest = max(cell_seconds(nb), key=lambda c: c[1], default=(0, 0.0))
        print(f"  {time.perf_counter() - t0:.1f} s (slowest: cell {slowest[0]}, {slowest[1]:.1f} s), "
              f"{html_path.stat().st_size // 1024} KiB html", flush=True)

    if written:
        print("\nreport written:")
        for p in written:
            print(f"  {p}")
        if not args.url:
            print(f"note: the replies say the pages are not published yet; set REPORT_URL "
                  f"(make report REPORT_URL=https://...) or ${URL_ENV} to link them")
        print("note: the .eml files have no To: (the project holds no author's address); "
              "Cc: holds only the list addresses the project has as data")
    if failed:
        print(f"\nmake report: {len(failed)} of {len(paths)} notebook(s) failed:")
        for line in failed:
            print(f"  {line}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
