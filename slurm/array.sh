#!/bin/bash
# One grid point of an snnsim experiment per SLURM array task.
#
#   sbatch slurm/array.sh                                    # the default experiment (ipd_readouts, 60 tasks)
#   sbatch --array=0-$((N-1)) slurm/array.sh experiments/NAME.toml
#   sbatch --array=0-59%8 slurm/array.sh experiments/ipd_readouts.toml   # at most 8 at once
#   python -m snnsim.sweep submit NAME                       # the same, --array = only the tasks not done
#
# N: python -m snnsim.sweep count NAME. Submit from the repository root (logs/ must exist; it does
# in the repository). Each task runs `python -m snnsim.sweep run EXP` for $SLURM_ARRAY_TASK_ID and
# writes results/NAME/job-INDEX.h5 atomically (or $SNNSIM_RESULTS/NAME/...); a task whose
# result is already complete exits at once.
#
# Pre-emption / time limit: SLURM sends USR1 to this script 60 s before the end
# (--signal=B:USR1@60; by hand: `scancel --signal=USR1 -b JOBID_INDEX`). The script forwards it
# to Python, which stops at once without writing a result; the per-epoch checkpoint of the run
# (results/NAME/.job-INDEX.r*.ckpt, .jobs-... for a pack, with a .ckpt.json sidecar) stays. The script then requeues
# the task (`scontrol requeue JOBID_INDEX`, allowed by --requeue and JobRequeue=1, SLURM's
# default) and the task, started again with the same index, resumes after the last finished
# epoch: its log says "resuming from the checkpoint after epoch E of N", and the result is bit
# for bit that of an uninterrupted run. SLURM starts a requeued task no sooner than about
# 2 minutes later (the credential lifetime, AuthInfo=cred_expire); both attempts write to the
# same log files (--open-mode=append). A task that finished before the signal is not requeued.
# scancel (TERM) stops the task without requeueing it, also after a USR1; `python -m snnsim.sweep status NAME`
# then lists it as missing (resuming from its checkpoint when run or submitted again).
#
# Resources: edit the defaults here, in one place (command-line options override them).
#SBATCH --job-name=snnsim
#SBATCH --output=logs/%x_%A_%a.out
#SBATCH --error=logs/%x_%A_%a.err
#SBATCH --array=0-59
#SBATCH --cpus-per-task=1
#SBATCH --mem=2G
#SBATCH --time=02:00:00
#SBATCH --signal=B:USR1@60
#SBATCH --requeue
#SBATCH --open-mode=append
##SBATCH --gres=gpu:1           # GPU tasks: remove one '#' here and set device = "cuda" in the experiment
##SBATCH --partition=gpu

set -u
EXP=${1:-experiments/ipd_readouts.toml}
shift $(( $# > 0 ? 1 : 0 ))
PYTHON=${SNNSIM_PYTHON:-python3}
TASK="${SLURM_ARRAY_JOB_ID:-${SLURM_JOB_ID:-local}}_${SLURM_ARRAY_TASK_ID:-none}"

# one thread per allocated CPU (torch would otherwise use every core of the node)
export SNNSIM_THREADS=${SNNSIM_THREADS:-${SLURM_CPUS_PER_TASK:-1}}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-$SNNSIM_THREADS}

echo "snnsim task $TASK on $(hostname) at $(date -Is): $PYTHON -m snnsim.sweep run $EXP $*"

child=""
trapped=0    # a trap ran (it cuts a wait short)
requeue=0    # USR1 came: requeue this task once its child has stopped
cancelled=0  # TERM came (scancel): no requeue, even after a USR1
requeued=0   # `scontrol requeue` is under way: SLURM's TERM that ends this attempt follows
on_usr1() {
    trapped=1
    (( cancelled )) && return
    requeue=1
    echo "task $TASK: USR1 (time limit / pre-emption): stopping; the task will be requeued and resume from its checkpoint" >&2
    [[ -n $child ]] && kill -USR1 "$child" 2>/dev/null
}
on_term() {
    trapped=1
    (( requeued )) && return  # the requeue below ends this attempt: the child has stopped already
    cancelled=1 requeue=0
    echo "task $TASK: TERM: stopping without a result; not requeued" >&2
    [[ -n $child ]] && kill -TERM "$child" 2>/dev/null
}
trap on_usr1 USR1
trap on_term TERM INT

"$PYTHON" -m snnsim.sweep run "$EXP" "$@" &
child=$!
(( requeue )) && kill -USR1 "$child" 2>/dev/null  # USR1 came while the child was starting
# `wait` returns early when a trapped signal arrives: wait again until the child has exited
# (it returns 128+N for the trap's signal, also where the child ended and bash reaped it
# meanwhile: then a last wait gives the child's own exit code)
rc=0
while :; do
    trapped=0
    wait "$child"; rc=$?
    (( trapped )) || break  # the child's own exit code
    if ! kill -0 "$child" 2>/dev/null; then wait "$child"; rc=$?; break; fi
done
echo "task $TASK: exit code $rc at $(date -Is)"
(( requeue && rc == 0 )) && echo "task $TASK: not requeued: it ended with exit code 0 (its results are written)" >&2

if (( requeue && rc != 0 )); then  # stopped before its result was written
    if [[ -n ${SLURM_ARRAY_JOB_ID:-} && -n ${SLURM_ARRAY_TASK_ID:-} ]]; then
        target="${SLURM_ARRAY_JOB_ID}_${SLURM_ARRAY_TASK_ID}"
    else
        target=${SLURM_JOB_ID:-}
    fi
    if [[ -n $target ]] && (( ! cancelled )); then  # a TERM after the USR1: cancelled, not requeued
        requeued=1
        echo "task $TASK: requeueing $target (it resumes from its checkpoint)" >&2
        # SLURM ends this attempt (the script too) as soon as the requeue is accepted
        scontrol requeue "$target" || echo "task $TASK: scontrol requeue $target failed" >&2
    fi
fi
exit "$rc"
