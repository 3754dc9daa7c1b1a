"""The report's statistics, as small pure functions on numpy arrays and pandas frames.

Conventions follow the original release (docs/protocol.md#reporting) so reproduced numbers are
comparable with the paper's:

* final performance of a run: the mean of its last 10 training episodes (``eval_episodes.py``);
* a table cell: the mean across seeds and the standard error ``np.std(x) / sqrt(n)`` with the
  population std (ddof 0), exactly as ``eval_episodes.py`` computes it;
* curves: each run averaged within bins of environment steps (right-closed bins plotted at
  their right edge, as ``utils/plotting.py``), then mean and ±1 population std across seeds;
* aggregates across tasks: rliable's IQM and mean with stratified-bootstrap 95% CIs, and
  performance profiles (fraction of runs scoring above a threshold);
* where the time goes: a run's seconds per phase are the sums of its ``time/<phase>`` points
  (agents/timing.py), a cell's share of a phase the mean of its runs' shares.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd

from agents.timing import METRIC_PREFIX, PHASES

LAST_EPISODES = 10
DEFAULT_BIN_STEPS = 30_000
MIN_BINS = 5
CONFIDENCE = 0.95


# --- final performance -----------------------------------------------------------------------

def final_value(steps: Sequence[float], values: Sequence[float], last: int = LAST_EPISODES) -> float:
    """Mean of the ``last`` values with the largest steps (the run's final performance).

    Points are ordered by step with a stable sort, so episodes logged at the same step keep
    their logging order. Runs with fewer episodes use all they have (as the original does).
    """
    steps, values = np.asarray(steps, dtype=float), np.asarray(values, dtype=float)
    if values.size == 0:
        return math.nan
    order = np.argsort(steps, kind="stable")
    return float(np.nanmean(values[order][-last:]))


def standard_error(values: Sequence[float]) -> float:
    """``std / sqrt(n)`` with the population std, as ``eval_episodes.py``; NaN below 2 seeds.

    With one seed there is no spread to estimate, so the table prints the mean alone rather
    than a misleading ``± 0``.
    """
    values = np.asarray(values, dtype=float)
    values = values[~np.isnan(values)]
    if values.size < 2:
        return math.nan
    return float(np.std(values) / np.sqrt(values.size))


def select_metric(metrics: pd.DataFrame, metric_of_run: dict) -> pd.DataFrame:
    """The points of each run's own metric (``metric_of_run[run_id]``, e.g. its headline metric).

    A per-row comparison rather than a merge, so empty frames of any dtype work alike.
    """
    if metrics.empty or not metric_of_run:
        return metrics.iloc[0:0]
    return metrics[metrics["metric"].to_numpy() == metrics["run_id"].map(metric_of_run).to_numpy()]


def final_per_run(runs: pd.DataFrame, metrics: pd.DataFrame, metric_of_run: dict, last: int = LAST_EPISODES
                  ) -> pd.DataFrame:
    """One row per run: its final value of its headline metric (``metric_of_run[run_id]``).

    ``runs`` needs run_id, run_key, task, method, seed, family, status columns; runs without a
    point of their metric are left out (they have nothing to score).
    """
    columns = ["run_id", "run_key", "task", "method", "seed", "family", "status", "metric", "final", "episodes",
               "wall_minutes"]
    points = select_metric(metrics, metric_of_run)
    if runs.empty or points.empty:
        return pd.DataFrame(columns=columns)
    rows = []
    for (run_id, metric), group in points.groupby(["run_id", "metric"], sort=False):
        rows.append({"run_id": run_id, "metric": metric, "final": final_value(group["step"], group["value"], last),
                     "episodes": int(min(len(group), last))})
    finals = pd.DataFrame(rows, columns=["run_id", "metric", "final", "episodes"])
    meta = runs.reindex(columns=["run_id", "run_key", "task", "method", "seed", "family", "status", "wall_minutes"])
    return meta.merge(finals, on="run_id")[columns]


def cell_summary(finals: pd.DataFrame, incomplete: Sequence[str] = ("RUNNING", "INTERRUPTED", "TIMEOUT")
                 ) -> pd.DataFrame:
    """Per task x method: mean, standard error, number of seeds and of unfinished runs."""
    columns = ["task", "method", "metric", "mean", "sem", "n", "n_incomplete", "wall_minutes"]
    if finals.empty:
        return pd.DataFrame(columns=columns)
    rows = []
    for (task, method, metric), group in finals.groupby(["task", "method", "metric"], sort=False):
        values = group["final"].to_numpy(dtype=float)
        rows.append({
            "task": task, "method": method, "metric": metric,
            "mean": float(np.nanmean(values)), "sem": standard_error(values), "n": int(len(values)),
            "n_incomplete": int(group["status"].isin(incomplete).sum()),
            "wall_minutes": float(group["wall_minutes"].mean()) if group["wall_minutes"].notna().any() else float("nan"),
        })
    return pd.DataFrame(rows, columns=columns)


def phase_seconds(metrics: pd.DataFrame) -> pd.DataFrame:
    """Seconds per run and phase [run_id x phase]: the sum of each run's ``time/<phase>`` points
    (one per training episode, ``setup`` one per attempt), 0 where a run logged none of a phase.

    Columns follow agents/timing.py's order; runs that logged no time at all have no row.
    """
    points = metrics[metrics["metric"].str.startswith(METRIC_PREFIX)] if len(metrics) else metrics
    if points.empty:
        return pd.DataFrame(index=pd.Index([], name="run_id"))
    points = points.assign(phase=points["metric"].str[len(METRIC_PREFIX):])
    table = points.pivot_table(index="run_id", columns="phase", values="value", aggfunc="sum", fill_value=0.0)
    order = [p for p in PHASES if p in table.columns] + sorted(set(table.columns) - set(PHASES))
    return table[order].rename_axis(columns=None)


def cell_time_shares(finals: pd.DataFrame, seconds: pd.DataFrame) -> pd.DataFrame:
    """Per task x method: ``task``, ``method`` and one column per phase, the mean across the
    cell's runs of the phase's share (0-1) of the run's accounted seconds, setup included."""
    phases = list(seconds.columns)
    if finals.empty or seconds.empty:
        return pd.DataFrame(columns=["task", "method", *phases])
    shares = seconds.div(seconds.sum(axis=1), axis=0)
    runs = finals[["run_id", "task", "method"]].drop_duplicates("run_id")
    runs = runs.merge(shares, left_on="run_id", right_index=True)
    return runs.groupby(["task", "method"], sort=False)[phases].mean().reset_index()


CHOICES = ("safe", "risky", "none")
CHOICE_EPISODES = 20  # the learning issue's protocol: choice rates of the last 20 episodes


def run_choice_rates(metrics: pd.DataFrame, last: int = CHOICE_EPISODES) -> pd.DataFrame:
    """Per run and ``train/choose_<choice>`` metric: the indicator's mean over the run's last
    ``last`` training episodes (columns run_id, metric, rate)."""
    wanted = [f"train/choose_{c}" for c in CHOICES]
    points = metrics[metrics["metric"].isin(wanted)] if len(metrics) else metrics
    if points.empty:
        return pd.DataFrame(columns=["run_id", "metric", "rate"])
    return points.groupby(["run_id", "metric"], sort=False).apply(
        lambda g: final_value(g["step"], g["value"], last), include_groups=False).rename("rate").reset_index()


def choice_rates(runs: pd.DataFrame, metrics: pd.DataFrame, last: int = CHOICE_EPISODES) -> pd.DataFrame:
    """Per task x method: mean and standard error across seeds of each run's choice rates.

    A run's rate of a choice is the mean of its ``train/choose_<choice>`` indicator over its
    last ``last`` training episodes (the lottery logs one per episode).
    """
    columns = ["task", "method", "choice", "mean", "sem", "n"]
    per_run = run_choice_rates(metrics, last)
    if per_run.empty:
        return pd.DataFrame(columns=columns)
    per_run = per_run.merge(runs[["run_id", "task", "method"]], on="run_id")
    rows = []
    for (task, method, metric), group in per_run.groupby(["task", "method", "metric"], sort=False):
        values = group["rate"].to_numpy(dtype=float)
        rows.append({"task": task, "method": method, "choice": metric.removeprefix("train/choose_"),
                     "mean": float(np.mean(values)), "sem": standard_error(values), "n": len(values)})
    return pd.DataFrame(rows, columns=columns)


# --- binned learning curves --------------------------------------------------------------------

def nice_width(width: float) -> float:
    """The largest of 1, 2, 2.5, 5 x 10^k not above ``width`` (at least 1 step): readable bin edges."""
    if width <= 1:
        return 1.0
    power = 10.0 ** math.floor(math.log10(width))
    for factor in (5.0, 2.5, 2.0, 1.0):
        if factor * power <= width:
            return factor * power
    return power  # pragma: no cover - factor 1 always fits


def effective_bin_width(requested: float, longest_run: float, min_bins: int = MIN_BINS) -> float:
    """``requested`` steps, shrunk so the longest run spans at least ``min_bins`` bins.

    The paper's 3e4-step bins would put a 300-step smoke run in a single bin (one point, no
    curve); shrinking to a round width keeps a few points per curve at any scale.
    """
    if not longest_run or longest_run <= 0 or not math.isfinite(longest_run):
        return float(requested)
    return float(min(requested, nice_width(longest_run / min_bins)))


def bin_ends(steps: np.ndarray, width: float) -> np.ndarray:
    """The right edge of each step's bin: bins are (k*width, (k+1)*width], step 0 joins the first."""
    steps = np.asarray(steps, dtype=float)
    return np.maximum(np.ceil(steps / width), 1.0) * width


def bootstrap_mean_interval(samples: np.ndarray, reps: int, rng: np.random.Generator,
                            level: float = CONFIDENCE) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of ``samples`` (NaN, NaN below 2 samples)."""
    samples = np.asarray(samples, dtype=float)
    if samples.size < 2:
        return math.nan, math.nan
    draws = samples[rng.integers(0, samples.size, size=(reps, samples.size))].mean(axis=1)
    tail = (1.0 - level) / 2.0
    return float(np.quantile(draws, tail)), float(np.quantile(draws, 1.0 - tail))


def seed_curves(points: pd.DataFrame, width: float, interval: str = "std", reps: int = 1000, seed: int = 0
                ) -> pd.DataFrame:
    """Binned curves across seeds, per (task, method).

    ``points``: columns run_id, task, method, step, value (one metric). Each run is first
    averaged within its bins; then per bin the mean across runs and a band: ``std`` gives
    mean ± population std (the original's), ``bootstrap`` a 95% percentile bootstrap interval
    of the mean. The band is NaN where fewer than 2 runs reach the bin.
    Returns columns task, method, step (bin right edge), mean, low, high, n.
    """
    columns = ["task", "method", "step", "mean", "low", "high", "n"]
    if points.empty:
        return pd.DataFrame(columns=columns)
    if interval not in ("std", "bootstrap"):
        raise ValueError(f"interval must be 'std' or 'bootstrap', not {interval!r}")
    frame = points.assign(step=bin_ends(points["step"].to_numpy(), width))
    per_run = frame.groupby(["task", "method", "step", "run_id"], sort=True)["value"].mean().reset_index()
    grouped = per_run.groupby(["task", "method", "step"], sort=True)["value"]
    summary = grouped.agg(mean="mean", n="count").reset_index()
    summary["std"] = grouped.std(ddof=0).to_numpy()
    if interval == "std":
        spread = summary["std"].where(summary["n"] >= 2)
        summary["low"], summary["high"] = summary["mean"] - spread, summary["mean"] + spread
    else:
        rng = np.random.default_rng(seed)
        bounds = [bootstrap_mean_interval(v.to_numpy(), reps, rng) for _, v in grouped]
        summary["low"] = [b[0] for b in bounds]
        summary["high"] = [b[1] for b in bounds]
    return summary[columns]


# --- optimisation curves of single plans ------------------------------------------------------

def plan_index(iterations: np.ndarray) -> np.ndarray:
    """Which plan each point belongs to: a new plan starts wherever the iteration does not grow.

    A run logs every plan's curve into the same ``opt/<name>`` metric, so iterations read
    0..K, 0..K, ...; the resets separate the plans.
    """
    iterations = np.asarray(iterations, dtype=float)
    if iterations.size == 0:
        return np.zeros(0, dtype=int)
    starts = np.concatenate([[0], (np.diff(iterations) <= 0).astype(int)])
    return np.cumsum(starts)


def optimisation_curves(points: pd.DataFrame) -> pd.DataFrame:
    """Per (task, method, metric, iteration): mean across runs of each run's mean over its plans.

    ``points``: columns run_id, task, method, metric, step (iteration), value, in logging order.
    The band is mean ± population std across runs (NaN with a single run).
    """
    columns = ["task", "method", "metric", "iteration", "mean", "low", "high", "n"]
    if points.empty:
        return pd.DataFrame(columns=columns)
    per_run = (points.groupby(["task", "method", "metric", "run_id", "step"], sort=True)["value"]
               .mean().reset_index().rename(columns={"step": "iteration"}))
    grouped = per_run.groupby(["task", "method", "metric", "iteration"], sort=True)["value"]
    summary = grouped.agg(mean="mean", n="count").reset_index()
    summary["std"] = grouped.std(ddof=0).to_numpy()
    spread = summary["std"].where(summary["n"] >= 2)
    summary["low"], summary["high"] = summary["mean"] - spread, summary["mean"] + spread
    return summary[columns]


# --- aggregates across tasks (rliable) --------------------------------------------------------

def score_matrices(finals: pd.DataFrame, tasks: Sequence[str], methods: Sequence[str], scale: float
                   ) -> tuple[dict[str, np.ndarray], list[str]]:
    """rliable's input: per method a [runs x tasks] matrix of normalised final scores.

    rliable needs the same number of runs on every task; a method with more seeds on some
    tasks is cut to its smallest count (lowest seeds kept), and a method missing a task is
    left out. Returns the matrices and one note per adjustment.
    """
    matrices: dict[str, np.ndarray] = {}
    notes: list[str] = []
    for method in methods:
        columns = []
        for task in tasks:
            cell = finals[(finals["task"] == task) & (finals["method"] == method)].sort_values("seed")
            columns.append(cell["final"].to_numpy(dtype=float) / scale)
        counts = [len(c) for c in columns]
        if min(counts, default=0) == 0:
            notes.append(f"{method}: left out (no runs on {', '.join(t for t, c in zip(tasks, counts, strict=True) if not c)}).")
            continue
        if len(set(counts)) > 1:
            notes.append(f"{method}: {min(counts)} seeds per task used (has {max(counts)} on some tasks).")
        matrices[method] = np.stack([c[: min(counts)] for c in columns], axis=1)
    return matrices, notes


def iqm(scores: np.ndarray) -> float:
    """Interquartile mean over all runs and tasks (rliable): robust to outlier runs, unlike the mean."""
    from rliable import metrics

    return float(metrics.aggregate_iqm(scores))


def score_distribution(scores: np.ndarray, taus: np.ndarray) -> np.ndarray:
    """Fraction of all runs' scores above each threshold (rliable's ``score_distributions``).

    Vectorised over thresholds: rliable's version loops over them in Python, which made the
    bootstrap of a large report take most of its time.
    """
    flat = np.asarray(scores, dtype=float).reshape(-1)
    return (flat[:, None] > np.asarray(taus, dtype=float)[None, :]).mean(axis=0)


def aggregate_with_intervals(matrices: dict[str, np.ndarray], taus: np.ndarray, reps: int = 2000, seed: int = 0
                             ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """IQM and mean with stratified-bootstrap 95% CIs, and performance profiles, per method.

    One rliable bootstrap per method computes all statistics from the same resamples (runs
    resampled within each task). With a single run per task there is nothing to resample:
    the interval collapses to the point estimate.
    Returns (statistics: method, statistic, value, low, high, runs, tasks;
             profiles: method, tau, fraction, low, high).
    """
    from rliable import library, metrics

    def statistics(scores: np.ndarray) -> np.ndarray:
        return np.concatenate([[metrics.aggregate_iqm(scores), metrics.aggregate_mean(scores)],
                               score_distribution(scores, taus)])

    stats_rows, profile_rows = [], []
    for method, scores in matrices.items():
        if scores.shape[0] < 2:
            point = statistics(scores)
            low = high = point
        else:
            # rliable's StratifiedBootstrap draws its resamples from numpy's global generator and
            # ignores random_state: seed that one (and give it back) so a report is reproducible.
            global_state = np.random.get_state()
            np.random.seed(seed)
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", FutureWarning)  # arch's RandomState deprecation
                    points, intervals = library.get_interval_estimates(
                        {method: scores}, statistics, reps=reps, confidence_interval_size=CONFIDENCE,
                        random_state=np.random.RandomState(seed))
            finally:
                np.random.set_state(global_state)
            point, (low, high) = points[method], intervals[method]
        for index, name in enumerate(("IQM", "mean")):
            stats_rows.append({"method": method, "statistic": name, "value": float(point[index]),
                               "low": float(low[index]), "high": float(high[index]),
                               "runs": scores.shape[0], "tasks": scores.shape[1]})
        for index, tau in enumerate(taus):
            profile_rows.append({"method": method, "tau": float(tau), "fraction": float(point[2 + index]),
                                 "low": float(low[2 + index]), "high": float(high[2 + index])})
    return (pd.DataFrame(stats_rows, columns=["method", "statistic", "value", "low", "high", "runs", "tasks"]),
            pd.DataFrame(profile_rows, columns=["method", "tau", "fraction", "low", "high"]))
