"""Every script under benchmarks/ and experiments/ answers ``--help`` with its usage.

A newcomer's first step with a script is ``--help``; argparse formats help strings with ``%``,
so a help text that says "30%" crashed ``vc.py --help`` with a traceback. Each script runs in
its own process, as a user runs it.
"""

from __future__ import annotations

import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = sorted(
    p for folder in ("benchmarks", "experiments") for p in (ROOT / folder).rglob("*.py")
    if not p.name.startswith("_") and "if __name__ == \"__main__\"" in p.read_text()
)


def _help(script: Path) -> tuple[Path, subprocess.CompletedProcess[str]]:
    return script, subprocess.run([sys.executable, str(script), "--help"], capture_output=True, text=True,
                                  timeout=120, cwd=ROOT)


def test_every_script_answers_help_with_its_usage():
    assert len(SCRIPTS) >= 20, SCRIPTS  # the scripts are found (a moved folder would empty the list)
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(_help, SCRIPTS))
    failed = [f"{s.relative_to(ROOT)}: exit {r.returncode}: {(r.stderr.strip().splitlines() or [''])[-1]}"
              for s, r in results if r.returncode != 0 or "usage:" not in r.stdout]
    assert not failed, "\n".join(failed)
