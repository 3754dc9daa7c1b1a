"""The report: final-performance table and learning curves of the runs in the database.

Final performance follows the original's eval_episodes.py: per run, the mean of the last
10 training episodes' success (DeepMind Control: return); per task and method, the mean and
standard error across seeds.
"""

from __future__ import annotations

import datetime as dt
import os
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from benchmark.database import MongoTarget
from reports.mongo_runs import load_metrics, load_runs

LAST_EPISODES = 10


def final_performance(runs: pd.DataFrame, metrics: pd.DataFrame) -> pd.DataFrame:
    """Per run: the mean of its last 10 episodes' ``train/success`` and ``train/return``."""
    ordered = metrics.sort_values("step")
    last = ordered.groupby(["run_id", "metric"]).tail(LAST_EPISODES)
    per_run = last.groupby(["run_id", "metric"])["value"].mean().unstack("metric")
    return runs.set_index("run_id").join(per_run, how="left").reset_index()


def summary_table(final: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Mean and standard error across seeds of ``metric`` per task x method."""
    completed = final[final["status"] == "COMPLETED"].dropna(subset=[metric])
    grouped = completed.groupby(["task", "method"])[metric]
    table = grouped.agg(["mean", "count", "std"]).reset_index()
    table["sem"] = table["std"].fillna(0.0) / np.sqrt(table["count"])
    return table


def _write_atomic(path: Path, text: str) -> None:
    handle, temporary = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    with os.fdopen(handle, "w") as stream:
        stream.write(text)
    os.replace(temporary, path)


def _curve_figure(runs: pd.DataFrame, metrics: pd.DataFrame, out: Path) -> Path | None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import seaborn as sns

    data = metrics[metrics["metric"] == "train/success"].merge(runs, on="run_id")
    if data.empty:
        return None
    tasks = sorted(data["task"].unique())
    fig, axes = plt.subplots(1, len(tasks), figsize=(4 * len(tasks), 3.2), squeeze=False)
    for ax, task in zip(axes[0], tasks, strict=True):
        sns.lineplot(data=data[data["task"] == task], x="step", y="value", hue="method", ax=ax, errorbar="sd")
        ax.set_title(task)
        ax.set_xlabel("environment steps")
        ax.set_ylabel("episode success")
        ax.set_ylim(-0.05, 1.05)
    fig.tight_layout()
    path = out / "success_vs_steps.png"
    fig.savefig(path, dpi=120)
    fig.savefig(path.with_suffix(".pdf"))
    plt.close(fig)
    return path


def generate_report(target: MongoTarget, out: Path, suite: str | None = None) -> Path:
    """Write the report into ``out``; return the path of its index (Markdown)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    runs = load_runs(target, suite)
    lines = [
        f"# LatCo Bench report{f': suite {suite}' if suite else ''}",
        "",
        f"Generated {dt.datetime.now().isoformat(timespec='seconds')} from database "
        f"{target.db_name} at {target.masked}; {len(runs)} runs "
        f"({(runs['status'] == 'COMPLETED').sum()} completed).",
        "",
    ]
    if runs.empty:
        lines.append("No runs in the database for this selection: run `python run_suite.py run --suite smoke` first.")
    else:
        metrics = load_metrics(target, runs["run_id"].tolist(), ["train/success", "train/return"])
        final = final_performance(runs, metrics)
        for metric, title in (("train/success", "Final success"), ("train/return", "Final return")):
            if metric not in final:
                continue
            table = summary_table(final, metric)
            lines += [f"## {title} (last {LAST_EPISODES} episodes, mean ± s.e. across seeds)", "",
                      "| task | method | value | seeds |", "|---|---|---|---|"]
            lines += [f"| {r.task} | {r.method} | {r.mean:.3g} ± {r.sem:.2g} | {r.count} |" for r in table.itertuples()]
            lines.append("")
        figure = _curve_figure(runs, metrics, out)
        if figure is not None:
            lines += ["## Success vs environment steps", "", f"![success]({figure.name}) ([PDF]({figure.with_suffix('.pdf').name}))", ""]
        failed = runs[runs["status"] != "COMPLETED"]
        if not failed.empty:
            lines += ["## Runs not completed", ""] + [f"- {r.run_key}: {r.status}" for r in failed.itertuples()] + [""]
    index = out / "index.md"
    _write_atomic(index, "\n".join(lines))
    return index
