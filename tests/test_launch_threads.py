"""Threads per local run follow the CPUs the launcher may use, not the machine's core count."""

from __future__ import annotations

import os

import pytest

from benchmark.launch import threads_per_worker, usable_cpus


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="no CPU affinity API on this OS")
def test_threads_per_worker_follow_the_cpu_affinity():
    everything = os.sched_getaffinity(0)
    try:
        os.sched_setaffinity(0, {min(everything)})  # as under `taskset -c 0`
        assert usable_cpus() == 1
        assert threads_per_worker(1) == 1 and threads_per_worker(4) == 1
    finally:
        os.sched_setaffinity(0, everything)
    assert usable_cpus() == len(everything)
    assert threads_per_worker(1) == len(everything)
