"""Figures built from the aggregated frames of ``reports.aggregate``; saved as PNG and PDF.

Builders return the matplotlib Figure (one visible axis per panel, so tests can count panels)
and never touch files; ``save_figure`` writes both formats. Every builder uses the same
seaborn theme and the fixed method colours of the registry (``reports.presentation``); legends sit below
the panels, outside the data.
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd

from reports.presentation import Catalogue, method_title, metric_title, task_title

DPI = 120
PANEL_SIZE = (3.4, 2.7)  # inches per panel
MAX_COLUMNS = 4
MIN_WIDTH = 5.2  # inches


@contextmanager
def _style():
    """The seaborn theme for one figure, without changing global matplotlib state."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt
    import seaborn as sns

    with plt.rc_context(), sns.axes_style("whitegrid"), sns.plotting_context("paper", font_scale=1.15):
        yield plt


def figure_width(columns: int) -> float:
    """Inches: one panel width per column, but room for a title and legend even with one panel."""
    return max(PANEL_SIZE[0] * columns, MIN_WIDTH)


def _grid(plt, panels: int, columns: int = MAX_COLUMNS, extra_height: float = 0.9):
    """A constrained-layout figure with exactly ``panels`` axes (extra grid cells removed)."""
    columns = max(1, min(columns, panels))
    rows = math.ceil(panels / columns)
    fig, axes = plt.subplots(rows, columns, squeeze=False, layout="constrained",
                             figsize=(figure_width(columns), PANEL_SIZE[1] * rows + extra_height))
    flat = list(axes.flat)
    for ax in flat[panels:]:
        fig.delaxes(ax)
    return fig, flat[:panels]


def _legend(fig, methods: Sequence[str], colours: dict[str, str], catalogue: Catalogue | None,
            columns: int = 6) -> None:
    from matplotlib.lines import Line2D

    if not methods:
        return
    handles = [Line2D([], [], color=colours[m], lw=2.2) for m in methods]
    # About 1.9 inches per legend entry, so a narrow (one-panel) figure wraps its legend.
    fits = max(1, int(fig.get_figwidth() / 1.9))
    fig.legend(handles, [method_title(m, catalogue) for m in methods], loc="outside lower center",
               ncol=min(len(methods), columns, fits), frameon=False)


def _label_outer(axes: Sequence, columns: int, xlabel: str, ylabels: Sequence[str]) -> None:
    """x label only under the lowest panel of each column, y label only where it changes along a row."""
    for index, ax in enumerate(axes):
        if index + columns >= len(axes):
            ax.set_xlabel(xlabel)
        if index % columns == 0 or ylabels[index] != ylabels[index - 1]:
            ax.set_ylabel(ylabels[index])


def _steps_axis(ax) -> None:
    """Environment steps as 1, 2, 3 x 10^5 rather than 100000, 200000, ..."""
    ax.ticklabel_format(axis="x", style="sci", scilimits=(-3, 4), useMathText=True)
    ax.set_xlim(left=0)


def _band(ax, x, low, high, colour: str) -> None:
    """Shade [low, high] where it is defined (NaN where fewer than 2 seeds)."""
    low, high = np.asarray(low, dtype=float), np.asarray(high, dtype=float)
    defined = ~(np.isnan(low) | np.isnan(high))
    if defined.any():
        ax.fill_between(np.asarray(x, dtype=float), low, high, where=defined, color=colour, alpha=0.18,
                        linewidth=0, interpolate=False)


def _line(ax, x, y, colour: str) -> None:
    x = np.asarray(x, dtype=float)
    # Short curves (tiny runs) get markers so single points stay visible.
    ax.plot(x, y, color=colour, lw=1.9, marker="o" if len(x) < 6 else None, markersize=3.5)


def learning_curves_figure(curves: pd.DataFrame, tasks: Sequence[str], methods: Sequence[str],
                           colours: dict[str, str], title: str, axis: dict[str, tuple[str, float]],
                           catalogue: Catalogue | None = None) -> object:
    """One panel per task, one line per method: binned mean and its band vs environment steps.

    ``curves``: output of ``aggregate.seed_curves``. ``axis[task]`` is the panel's y label and
    the factor its values are shown at (100 turns success fractions into %, with a 0-100 axis).
    """
    with _style() as plt:
        fig, axes = _grid(plt, len(tasks))
        present = []
        for ax, task in zip(axes, tasks, strict=True):
            ylabel, scale = axis[task]
            for method in methods:
                curve = curves[(curves["task"] == task) & (curves["method"] == method)].sort_values("step")
                if curve.empty:
                    continue
                present.append(method)
                _band(ax, curve["step"], curve["low"] * scale, curve["high"] * scale, colours[method])
                _line(ax, curve["step"], curve["mean"] * scale, colours[method])
            ax.set_title(task_title(task))
            _steps_axis(ax)
            if scale == 100.0:
                ax.set_ylim(-3, 103)
        _label_outer(axes, min(MAX_COLUMNS, len(tasks)), "environment steps", [axis[t][0] for t in tasks])
        # Wrapped to the figure's width: a one-panel figure cannot hold a long diagnostic's title.
        fig.suptitle(textwrap.fill(title, width=48 * min(MAX_COLUMNS, len(tasks))))
        _legend(fig, [m for m in methods if m in present], colours, catalogue)
    return fig


def optimisation_figure(curves: pd.DataFrame, tasks: Sequence[str], metrics: Sequence[str],
                        methods: Sequence[str], colours: dict[str, str], title: str,
                        catalogue: Catalogue | None = None) -> object:
    """Rows of tasks, columns of ``opt/`` metrics: each plan's value per optimisation iteration.

    Positive quantities spanning more than two decades (dynamics violation, multipliers)
    get a log axis, where their geometric growth or decay reads as a straight line.
    """
    with _style() as plt:
        fig, axes = _grid(plt, len(tasks) * len(metrics), columns=len(metrics))
        present = []
        for row, task in enumerate(tasks):
            for column, metric in enumerate(metrics):
                ax = axes[row * len(metrics) + column]
                mine = curves[(curves["task"] == task) & (curves["metric"] == metric)]
                for method in methods:
                    curve = mine[mine["method"] == method].sort_values("iteration")
                    if curve.empty:
                        continue
                    present.append(method)
                    _band(ax, curve["iteration"], curve["low"], curve["high"], colours[method])
                    _line(ax, curve["iteration"], curve["mean"], colours[method])
                values = mine["mean"].to_numpy(dtype=float)
                if values.size and np.nanmin(values) > 0 and np.nanmax(values) / np.nanmin(values) > 100:
                    ax.set_yscale("log")
                ax.set_title(f"{task_title(task)}: {metric_title(metric)}")
        _label_outer(axes, len(metrics), "optimisation iteration", [metric_title(m) for m in metrics] * len(tasks))
        fig.suptitle(title)
        _legend(fig, [m for m in methods if m in present], colours, catalogue)
    return fig


def aggregate_figure(stats: pd.DataFrame, colours: dict[str, str], title: str, xlabel: str,
                     scale: float = 1.0, catalogue: Catalogue | None = None) -> object:
    """Two panels (IQM, mean): each method's point estimate and 95% CI as a horizontal bar."""
    methods = list(dict.fromkeys(stats["method"]))
    with _style() as plt:
        fig, axes = _grid(plt, 2, extra_height=0.3 + 0.28 * len(methods))
        for ax, statistic in zip(axes, ("IQM", "mean"), strict=True):
            for position, method in enumerate(methods):
                row = stats[(stats["method"] == method) & (stats["statistic"] == statistic)].iloc[0]
                ax.hlines(position, row.low * scale, row.high * scale, color=colours[method], lw=7, alpha=0.45)
                ax.plot([row.value * scale], [position], marker="|", markersize=16, color=colours[method], mew=2.5)
            ax.set_yticks(range(len(methods)), [method_title(m, catalogue) for m in methods])
            ax.set_ylim(len(methods) - 0.5, -0.5)
            ax.set_title("IQM" if statistic == "IQM" else "Mean")
            ax.set_xlabel(xlabel)
        fig.suptitle(title)
    return fig


def profile_figure(profiles: pd.DataFrame, colours: dict[str, str], title: str, xlabel: str,
                   scale: float = 1.0, catalogue: Catalogue | None = None) -> object:
    """Performance profiles: fraction of runs scoring above each threshold, with 95% CIs."""
    methods = list(dict.fromkeys(profiles["method"]))
    with _style() as plt:
        fig, [ax] = _grid(plt, 1, extra_height=0.35 + 0.25 * math.ceil(len(methods) / 3))
        fig.set_size_inches(6.0, 4.0 + 0.25 * math.ceil(len(methods) / 3))
        for method in methods:
            curve = profiles[profiles["method"] == method].sort_values("tau")
            _band(ax, curve["tau"] * scale, curve["low"], curve["high"], colours[method])
            ax.plot(curve["tau"] * scale, curve["fraction"], color=colours[method], lw=1.9)
        ax.set_xlabel(xlabel)
        ax.set_ylabel("fraction of runs with score > τ")
        ax.set_ylim(-0.02, 1.02)
        ax.set_title(title)
        _legend(fig, methods, colours, catalogue, columns=3)
    return fig


def save_figure(fig, stem: Path) -> list[Path]:
    """Write ``<stem>.png`` and ``<stem>.pdf`` and close the figure; return both paths."""
    import matplotlib.pyplot as plt

    paths = [stem.parent / f"{stem.name}.png", stem.parent / f"{stem.name}.pdf"]
    try:
        fig.savefig(paths[0], dpi=DPI)
        fig.savefig(paths[1], metadata={"CreationDate": None})
    finally:
        plt.close(fig)
    return paths
