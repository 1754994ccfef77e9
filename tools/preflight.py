"""Pre-install checks for `make report` / `make test`: one line per problem, non-zero exit.

Kept compatible with old Pythons on purpose: it must be able to say "too old" itself.
"""
import os
import subprocess
import sys


def main():
    if sys.version_info < (3, 11):
        print("vmapsim needs Python 3.11 or newer; %s is %d.%d (set PYTHON=/path/to/python3.11)"
              % (sys.executable, sys.version_info[0], sys.version_info[1]))
        return 1
    try:
        import ensurepip  # noqa: F401
        import venv  # noqa: F401
    except ImportError:
        print("vmapsim needs the venv module with ensurepip (Debian: apt-get install python3-venv)")
        return 1
    if os.environ.get("VMAPSIM_SKIP_NETCHECK") == "1":
        return 0
    index = os.environ.get("PIP_INDEX_URL")
    if not index:
        try:
            out = subprocess.run([sys.executable, "-m", "pip", "config", "get", "global.index-url"],
                                 capture_output=True, text=True, timeout=30)
            index = out.stdout.strip() if out.returncode == 0 else ""
        except Exception:
            index = ""
    index = index or "https://pypi.org/simple/"
    url = index.rstrip("/") + "/pip/"
    if url.startswith("file:"):
        return 0
    import urllib.request
    try:
        urllib.request.urlopen(url, timeout=15).read(1)
    except Exception as exc:
        print("vmapsim cannot reach the package index %s (%s); connect to the network or set "
              "PIP_INDEX_URL to a reachable mirror" % (index, getattr(exc, "reason", exc)))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
