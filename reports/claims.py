"""The paper's claims as verdicts: per claim and task, method vs baseline, from every seed's final score.

A suite may declare claims (``claims:`` in ``benchmark/suites/<suite>.yaml``); each says that
``method`` beats each of ``against`` on each of ``tasks`` by ``score``:

- ``success``: a run's final success, the mean of its last 10 training episodes (the paper's score);
- ``safe_choice``: the lottery's risk claim, a run's share of safe goals among the goal-reaching
  episodes of its last 20 (its goal-reaching rate is shown beside it).

The difference of the two methods' mean scores gets a 95% stratified-bootstrap interval (seeds
resampled within each method, rliable's independent bootstrap), and rliable's probability of
improvement (Mann-Whitney: the chance that a random seed of the method scores above a random
seed of the baseline). The verdict follows from the interval alone, by the rule stated once in
docs/reports.md#claims-and-verdicts, once both sides have the seeds the suite asks for; until then
the cell is pending, its difference and interval so far shown.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd

from benchmark.claims import Claim
from reports import aggregate

SUPPORTED, CONTRADICTED, INCONCLUSIVE, PENDING = "supported", "contradicted", "inconclusive", "pending"


def verdict(low: float, high: float) -> str:
    """docs/reports.md#claims-and-verdicts: the interval of the difference decides."""
    if math.isnan(low) or math.isnan(high):
        return INCONCLUSIVE
    if low > 0:
        return SUPPORTED
    if high < 0:
        return CONTRADICTED
    return INCONCLUSIVE


def compare(method: np.ndarray, baseline: np.ndarray, reps: int = 2000, seed: int = 0) -> dict[str, float]:
    """Mean difference, its 95% stratified-bootstrap interval and P(method > baseline).

    Below two seeds on either side there is nothing to resample: the interval is NaN, and the
    verdict inconclusive.
    """
    from rliable import library, metrics

    x, y = np.asarray(method, float).reshape(-1, 1), np.asarray(baseline, float).reshape(-1, 1)

    def statistics(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return np.array([a.mean() - b.mean(), metrics.probability_of_improvement(a, b)])

    point = statistics(x, y)
    low = high = math.nan
    if len(x) >= 2 and len(y) >= 2:
        # rliable draws from numpy's global generator: seed it (and give it back) so that a
        # report drawn again gives the same intervals.
        global_state = np.random.get_state()
        np.random.seed(seed)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", FutureWarning)
                _, intervals = library.get_interval_estimates(
                    {"pair": [x, y]}, statistics, reps=reps, confidence_interval_size=aggregate.CONFIDENCE,
                    random_state=np.random.RandomState(seed))
        finally:
            np.random.set_state(global_state)
        low, high = (float(v) for v in intervals["pair"][:, 0])
    return {"difference": float(point[0]), "low": low, "high": high, "p_improvement": float(point[1])}


def run_scores(claim: Claim, finals: pd.DataFrame, runs: pd.DataFrame, metrics: pd.DataFrame) -> pd.DataFrame:
    """Per run of the claim's tasks and methods: ``task``, ``method``, ``seed``, ``score`` and, for
    ``safe_choice``, ``reached`` (the goal-reaching rate the score is conditional on)."""
    methods = {claim.method, *claim.against}
    if claim.score == "success":
        rows = finals[(finals["metric"] == "train/success") & finals["task"].isin(claim.tasks)
                      & finals["method"].isin(methods)]
        return rows.rename(columns={"final": "score"})[["task", "method", "seed", "score"]]
    mine = runs[runs["task"].isin(claim.tasks) & runs["method"].isin(methods)]
    rates = aggregate.run_choice_rates(metrics[metrics["run_id"].isin(mine["run_id"])])
    rate = {(r.run_id, r.metric): r.rate for r in rates.itertuples()}
    out = []
    for run in mine.itertuples():
        safe = rate.get((run.run_id, "train/choose_safe"), math.nan)
        reached = safe + rate.get((run.run_id, "train/choose_risky"), math.nan)
        if math.isnan(reached):
            continue
        out.append({"task": run.task, "method": run.method, "seed": run.seed, "reached": reached,
                    "score": safe / reached if reached > 0 else math.nan})
    return pd.DataFrame(out, columns=["task", "method", "seed", "score", "reached"])


def claim_rows(claims: list[Claim], finals: pd.DataFrame, runs: pd.DataFrame, metrics: pd.DataFrame,
               reps: int = 2000, seed: int = 0) -> pd.DataFrame:
    """One row per claim, task and baseline: both methods' mean scores and seeds, the difference,
    its interval, P(improvement) and the verdict (pending while a side has fewer completed runs than
    the claim's ``seeds``). Runs whose score is undefined (a lottery run that reached no goal) are
    left out of the scores and counted."""
    rows = []
    for claim in claims:
        scores = run_scores(claim, finals, runs, metrics)
        for task in claim.tasks:
            mine = scores[scores["task"] == task]
            ours = mine[mine["method"] == claim.method]
            for baseline in claim.against:
                theirs = mine[mine["method"] == baseline]
                x, y = ours["score"].dropna().to_numpy(), theirs["score"].dropna().to_numpy()
                result = compare(x, y, reps, seed) if len(x) and len(y) else \
                    {"difference": math.nan, "low": math.nan, "high": math.nan, "p_improvement": math.nan}
                row = {"claim": claim.name, "text": claim.text, "score": claim.score, "task": task,
                       "method": claim.method, "baseline": baseline, "method_mean": float(np.mean(x)) if len(x)
                       else math.nan, "baseline_mean": float(np.mean(y)) if len(y) else math.nan,
                       "method_seeds": len(x), "baseline_seeds": len(y),
                       "undefined": int(len(ours) - len(x) + len(theirs) - len(y)), **result}
                if claim.score == "safe_choice":
                    row["method_reached"] = float(ours["reached"].mean()) if len(ours) else math.nan
                    row["baseline_reached"] = float(theirs["reached"].mean()) if len(theirs) else math.nan
                # Lottery runs with no safe share count as seeds here: they are final, just undefined.
                complete = len(ours) >= claim.seeds and len(theirs) >= claim.seeds
                row["seeds_asked"] = claim.seeds
                row["verdict"] = verdict(result["low"], result["high"]) if complete else PENDING
                rows.append(row)
    return pd.DataFrame(rows)
