"""Where the repository's data lives (the package is used from a checkout: `pip install -e .`)."""
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = REPO_ROOT / "data"
TRACES_DIR = DATA_DIR / "traces"
