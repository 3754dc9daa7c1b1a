"""Running a grid on Slurm through submitit: one job array, one array task per run.

Each task runs the local workers' entry point (``launch.run_in_worker`` calling
``execute_run``), so a run behaves the same wherever it executes: one Sacred record per
(run key, config hash), continued from ``results/runs/<key>/checkpoint`` when an earlier
attempt was interrupted. What a cluster adds is handled here:

- resources per run (partition, time limit, CPUs, memory, GPUs, account, extra sbatch
  options) from a cluster profile ``benchmark/clusters/<name>.yaml`` and CLI flags;
- the database: jobs reach it by URL, which travels in the job's environment (sbatch exports
  the submitting one), never in the pickles under ``results/``; a loopback URL is refused
  unless every node of the partition is this machine;
- a job book, ``results/slurm/<suite>/jobs.json``, maps run keys to job ids and log files, so
  ``status`` shows Slurm's state and ``cancel`` finds the suite's jobs after the submitting
  command has gone;
- interruptions: ``scancel`` (SIGTERM) records the run INTERRUPTED; a time limit or a
  preemption signal (SIGUSR2, sent ``signal_delay`` before the limit) makes submitit requeue
  the job, which continues from the run's checkpoint; a run killed outright resumes when the
  suite is run again. None of these adds a second record.

The package's modules: ``options`` (cluster profiles and flags), ``scheduler`` (the Slurm
client commands, database reachability), ``book`` (the job book), ``job`` (what each array
task runs) and ``launcher`` (submit and wait).
"""

from benchmark.slurm.book import (
    EVALUATION_BOOK,
    JobBook,
    SubmittedRun,
    cancel_runs,
    live_jobs,
    log_tail,
    slurm_status,
)
from benchmark.slurm.job import URL_VARIABLE, RunFailed, SlurmRun
from benchmark.slurm.launcher import annotate_record, finished_outcome, submit_runs, wait_for_runs
from benchmark.slurm.options import (
    SlurmOptions,
    cluster_profile_names,
    load_cluster_profile,
    parse_sbatch_options,
    parse_time_minutes,
    slurm_options,
)
from benchmark.slurm.scheduler import (
    FINISHED_STATES,
    cancel_jobs,
    check_database_reachable,
    job_states,
    partition_nodes,
    remote_nodes,
    this_host_addresses,
)

__all__ = [
    "EVALUATION_BOOK", "FINISHED_STATES", "URL_VARIABLE", "JobBook", "RunFailed", "SlurmOptions", "SlurmRun",
    "SubmittedRun", "annotate_record", "cancel_jobs", "cancel_runs", "check_database_reachable",
    "cluster_profile_names", "finished_outcome", "job_states", "live_jobs", "load_cluster_profile", "log_tail",
    "parse_sbatch_options", "parse_time_minutes", "partition_nodes", "remote_nodes", "slurm_options",
    "slurm_status", "submit_runs", "this_host_addresses", "wait_for_runs",
]
