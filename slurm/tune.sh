#!/bin/bash
# Workers of an snnsim hyper-parameter search (Optuna), one per SLURM array task.
#
#   sbatch --array=0-3 slurm/tune.sh experiments/ipd_tune.toml     # 4 workers
#   python -m snnsim.tune submit experiments/ipd_tune.toml --workers 4   # the same
#
# Each worker runs `python -m snnsim.tune worker SPEC`: it asks the shared study (the journal
# file results/NAME/optuna.journal, safe on a cluster file system) for trials until the spec's
# budget is used; a task samples with a seed drawn from the spec's seed, its number k and its first
# trial's number (seed + k where that is trial 0), so no two tasks share one. A trial's
# result file is results/NAME/trial-N.h5. USR1 (time limit) and TERM stop the worker; its trial is marked
# stopped and does not count against the budget (submit again to run the rest; nothing requeues).
#SBATCH --job-name=snnsim-tune
#SBATCH --output=logs/%x_%A_%a.out
#SBATCH --error=logs/%x_%A_%a.err
#SBATCH --cpus-per-task=1
#SBATCH --mem=2G
#SBATCH --time=04:00:00
#SBATCH --signal=B:USR1@60

set -u
SPEC=${1:?usage: sbatch --array=0-K slurm/tune.sh SPEC.toml}
PYTHON=${SNNSIM_PYTHON:-python3}
export SNNSIM_THREADS=${SNNSIM_THREADS:-${SLURM_CPUS_PER_TASK:-1}}
echo "snnsim tune worker ${SLURM_ARRAY_JOB_ID:-local}_${SLURM_ARRAY_TASK_ID:-0} on $(hostname) at $(date -Is): $SPEC"

child=""
trapped=0
forward() { trapped=1; [[ -n $child ]] && kill -"$1" "$child" 2>/dev/null; }
trap 'forward USR1' USR1
trap 'forward TERM' TERM INT
"$PYTHON" -m snnsim.tune worker "$SPEC" &
child=$!
# `wait` returns early (128+N) when a trapped signal arrives, also where the child ended and bash
# reaped it meanwhile: wait again until the child has exited; a last wait gives its own exit code
rc=0
while :; do
    trapped=0
    wait "$child"; rc=$?
    (( trapped )) || break  # the child's own exit code
    if ! kill -0 "$child" 2>/dev/null; then wait "$child"; rc=$?; break; fi
done
echo "worker exit code $rc at $(date -Is)"
exit "$rc"
