"""Old code against new in one script: the speed-up of short `mini` runs (issue 22's ratios).

    .venv/bin/python -m bench.speedup [--reference cab7633] [--case pm_reach:latco:2400 ...] [--core 0]

Each case runs the same short run (one thread, pinned to one core when ``taskset`` is there)
in a temporary worktree of ``--reference`` and in this checkout, one after the other, and
prints steps/s in the steady part (after the first model update), end-to-end seconds, the
ratio of each, and milliseconds per environment step by phase. Both sides run this checkout's
`mini` config (every key the reference also has), so a profile changed since the reference
does not pass for a speed-up. Only ratios from one run of
this script mean anything: machines of one kind differ by 2x, and other work on the cores
inflates both sides.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from rich.console import Console
from rich.table import Table

from benchmark.registry import Registry

ROOT = Path(__file__).resolve().parents[1]
HARNESS = ROOT / "bench" / "speedup_harness.py"
DEFAULT_CASES = ("pm_reach:latco:2400", "pm_reach:planet:2100", "mw_reach:latco:3600")


def time_checkout(checkout: Path, case: str, settings: Path, core: int) -> dict:
    """One harness run of ``case`` in ``checkout``, with this checkout's config values (``settings``)."""
    task, method, steps = case.split(":")
    pin = ["taskset", "-c", str(core)] if shutil.which("taskset") else []
    done = subprocess.run([*pin, sys.executable, str(HARNESS), task, method, steps, str(settings)], cwd=checkout,
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{case} failed in {checkout}: {done.stderr.strip().splitlines()[-1]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reference", default="cab7633", help="the commit to compare with")
    parser.add_argument("--case", nargs="+", default=list(DEFAULT_CASES), metavar="TASK:METHOD:STEPS")
    parser.add_argument("--core", type=int, default=0, help="the core both sides are pinned to")
    args = parser.parse_args()
    console = Console()
    with tempfile.TemporaryDirectory() as folder:
        old = Path(folder) / "reference"
        subprocess.run(["git", "worktree", "add", "--detach", "-q", str(old), args.reference], cwd=ROOT, check=True)
        try:
            for case in args.case:
                task, method, _ = case.split(":")
                settings = Path(folder) / "settings.json"  # both sides do this checkout's work
                settings.write_text(json.dumps(Registry.load().resolve_config(task, method, "mini")))
                before, after = (time_checkout(old, case, settings, args.core),
                                 time_checkout(ROOT, case, settings, args.core))
                table = Table(title=f"{case} (mini, 1 thread): {args.reference} vs this checkout")
                for column in ("", args.reference, "now", "ratio"):
                    table.add_column(column, justify="right")
                table.add_row("steady steps/s", f"{before['steps_per_second']:.2f}", f"{after['steps_per_second']:.2f}",
                              f"{after['steps_per_second'] / before['steps_per_second']:.2f}x")
                table.add_row("end to end (s)", f"{before['end_to_end_seconds']:.0f}", f"{after['end_to_end_seconds']:.0f}",
                              f"{before['end_to_end_seconds'] / after['end_to_end_seconds']:.2f}x")
                for phase in sorted(set(before["seconds_per_step"]) | set(after["seconds_per_step"])):
                    b, a = before["seconds_per_step"].get(phase, 0.0), after["seconds_per_step"].get(phase, 0.0)
                    table.add_row(f"{phase} (ms/step)", f"{1000 * b:.1f}", f"{1000 * a:.1f}",
                                  f"{b / a:.2f}x" if a > 0 else "")
                console.print(table)
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(old)], cwd=ROOT, check=False)


if __name__ == "__main__":
    main()
