"""Screenshots of the exported report pages as a reader sees them: headless Chromium, 1280 px wide.

    python tools/page_shots.py [NAME ...] [--pages DIR] [--out DIR] [--width 1280] [--tile 1600]

For each ``<pages>/<name>.html`` (default: every page of build/report) writes
``<out>/<name>-NN.png``: the whole page cut into tiles of ``--tile`` pixels, so each can be
looked at on a screen (default out: build/screenshots).  Uses Debian's chromium
(``apt-get install chromium``) through playwright, which never downloads a browser; the browser
gets a fresh profile directory and no network services.  Prints the page height, the number of
images and tables each page has, and any image shown twice (byte-identical).
"""
from __future__ import annotations

import argparse
import hashlib
import re
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--disable-dev-shm-usage"]


def page_facts(html: str) -> dict:
    """Images (and repeated ones), HTML tables, <pre> blocks and <details> of an exported page."""
    imgs = re.findall(r'src="data:image/png;base64,([^"]+)"', html)
    seen, repeats = set(), 0
    for i in imgs:
        h = hashlib.sha256(i.encode()).hexdigest()
        repeats += h in seen
        seen.add(h)
    return {"images": len(imgs), "repeated images": repeats,
            "tables": len(re.findall(r"<table", html)), "pre": len(re.findall(r"<pre", html)),
            "folded": len(re.findall(r"<details", html))}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("names", nargs="*")
    ap.add_argument("--pages", default=str(ROOT / "build" / "report"))
    ap.add_argument("--out", default=str(ROOT / "build" / "screenshots"))
    ap.add_argument("--width", type=int, default=1280)
    ap.add_argument("--tile", type=int, default=1600)
    args = ap.parse_args(argv)
    pages = Path(args.pages)
    paths = ([pages / f"{n}.html" for n in args.names] if args.names
             else sorted(pages.glob("*.html")))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as profile, sync_playwright() as pw:
        ctx = pw.chromium.launch_persistent_context(
            profile, executable_path=CHROMIUM, headless=True, args=ARGS[1:],
            viewport={"width": args.width, "height": args.tile})
        page = ctx.new_page()
        for path in paths:
            page.goto(path.resolve().as_uri())
            page.wait_for_load_state("load")
            height = page.evaluate("document.documentElement.scrollHeight")
            n = 0
            for n, top in enumerate(range(0, height, args.tile), 1):
                page.screenshot(path=str(out / f"{path.stem}-{n:02d}.png"),
                                clip={"x": 0, "y": top, "width": args.width,
                                      "height": min(args.tile, height - top)},
                                full_page=True)
            facts = page_facts(path.read_text())
            print(f"{path.stem}: {height} px, {n} tiles, " +
                  ", ".join(f"{v} {k}" for k, v in facts.items()))
        ctx.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
