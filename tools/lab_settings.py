"""Write JupyterLab defaults into the venv: save widget state, start the kernel without asking, no news.

Usage: python tools/lab_settings.py VENV_DIR
"""
import json
import sys
from pathlib import Path

OVERRIDES = {
    "@jupyter-widgets/jupyterlab-manager:plugin": {"saveState": True},
    "@jupyterlab/notebook-extension:tracker": {"autoStartDefaultKernel": True},
    "@jupyterlab/apputils-extension:notification": {"fetchNews": "false", "checkForUpdates": False},
}


def main(venv: str) -> None:
    target = Path(venv) / "share" / "jupyter" / "lab" / "settings"
    target.mkdir(parents=True, exist_ok=True)
    (target / "overrides.json").write_text(json.dumps(OVERRIDES, indent=2) + "\n")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else ".venv")
