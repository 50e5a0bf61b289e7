"""``python -m snnsim.sweep COMMAND EXP ...``: experiment sweeps on SLURM or on this machine.

EXP is an experiment file (``experiments/NAME.toml``) or just its NAME. Commands::

    count  EXP [--pack K]      grid size N (jobs 0..N-1), or the number of packs of K jobs
    show   EXP [INDEX]         the settings of one job (all jobs without INDEX)
    run    EXP [INDEX]         run one job (INDEX defaults to $SLURM_ARRAY_TASK_ID)
    run    EXP [P] --pack K    run pack P of at most K jobs in one process (P: same default)
    submit EXP [--throttle J]  sbatch slurm/array.sh with --array = the jobs (packs) not done
    local  EXP [-j N]          the same jobs (packs) on this machine, N processes at once
    status EXP                 done / running / queued / missing / failed / corrupt / stale jobs
    merge  EXP                 one xarray dataset -> RESULTS/NAME.h5

A pack (``--pack K``) runs up to K jobs in one process: jobs that differ only by seed,
readout or tau train as one batched model, sharing their seeds' data sets
(see :func:`snnsim.sweep.jobs.pack_indices`); each job still writes its own result file, with
the numbers it gets when run alone.

Bad input: one line on stderr, exit code 2.
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
import tomllib
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING

from .. import atomic_write, threads
from .. import config as config_mod
from ..cli import (
    Interrupted,
    OneLineParser,
    command_parser,
    description_of,
    guarded,
    log_line,
    plural,
    sbatch_options,
    seconds_note,
    shell_line,
    signals_held,
    stop_if_signalled,
    stop_on_signals,
    user_path,
)
from ..cli import index as _index
from ..cli import positive_int as _positive
from ..errors import EXIT_NOT_WRITTEN, EXIT_STALE, SnnsimError
from . import experiment as experiment_mod
from . import jobs as jobs_mod
from . import queue as queue_mod

if TYPE_CHECKING:
    from .experiment import Experiment

PROG = "snnsim.sweep"
#: ``COMMAND DIGEST``: the command (``local``, ``submit``) that chose the jobs and the
#: :func:`source_digest` of the experiment file it chose them from, for the `sweep run` processes
#: it starts (SLURM's tasks too): a file edited meanwhile is refused, not run at the old indices.
ENV_EXPERIMENT = "SNNSIM_EXPERIMENT_SHA256"
ARRAY_SCRIPT = Path(__file__).resolve().parents[2] / "slurm" / "array.sh"


def build_parser() -> OneLineParser:
    p, add = command_parser(PROG, description_of(__doc__), "exp", "EXP", "experiments/NAME.toml or NAME")

    s = add("count", "print the number of jobs N (or of packs, with --pack)")
    s.add_argument("--pack", type=_positive, default=None, metavar="K", help="count packs of at most K jobs")
    s = add("show", "print the settings of a job (all jobs without INDEX)")
    s.add_argument("index", metavar="INDEX", type=_index, nargs="?", help="job index (default: every job)")
    s.add_argument("--json", action="store_true", help="the full run config as JSON")
    s = add("run", "run one job, or one pack of jobs (skipped when done)")
    s.add_argument(
        "index",
        metavar="INDEX",
        type=_index,
        nargs="?",
        help="job index, or pack index with --pack (default: $SLURM_ARRAY_TASK_ID)",
    )
    s.add_argument(
        "--pack",
        type=_positive,
        default=None,
        metavar="K",
        help="run pack INDEX of at most K jobs in this process (shared data, batched seeds)",
    )
    s.add_argument(
        "--only",
        default=None,
        metavar="JOBS",
        help="with --pack: only these jobs of the pack (sbatch --array syntax; `local --indices` passes them)",
    )
    s.add_argument("--force", action="store_true", help="rerun even if done, and replace a stale result")
    s.add_argument("--rerun-stale", action="store_true", help="replace a stale result (done jobs are skipped)")
    s.add_argument("--progress", action="store_true", help="show the training progress bar")
    s.add_argument("--keep-checkpoints", action="store_true", help="keep the per-epoch checkpoints after writing")
    s = add("submit", "submit the jobs that are not done as a SLURM array job")
    s.add_argument(
        "--throttle",
        "-K",
        type=_positive,
        default=None,
        metavar="J",
        help="at most J array tasks at once (--array=...%%J)",
    )
    s.add_argument(
        "--pack",
        type=_positive,
        default=None,
        metavar="K",
        help="one array task per pack of at most K jobs (shared data, batched seeds)",
    )
    which = s.add_mutually_exclusive_group()  # each chooses the jobs: --failed --all submitted every job
    which.add_argument("--all", action="store_true", help="every index, even those done (they are skipped when run)")
    s.add_argument("--rerun-stale", action="store_true", help="also submit stale jobs (replacing their files)")
    which.add_argument("--failed", action="store_true", help="submit only the failed jobs")
    s.add_argument(
        "--script",
        type=lambda text: Path(user_path(text)),
        default=ARRAY_SCRIPT,
        help="sbatch script (default %(default)s)",
    )
    s.add_argument("--dry-run", action="store_true", help="print the sbatch command, do not run it")
    s.add_argument(
        "--sbatch-args",
        default="",
        metavar="'OPTIONS'",
        help="further sbatch options in one string, e.g. --sbatch-args='--time=1:00:00 --partition=gpu'",
    )
    s = add("local", "run the jobs that are not done on this machine, in parallel processes")
    s.add_argument("-j", "--processes", type=_positive, default=1, help="processes at once (default 1)")
    s.add_argument(
        "--pack",
        type=_positive,
        default=None,
        metavar="K",
        help="one process per pack of at most K jobs (shared data, batched seeds)",
    )
    s.add_argument("--rerun-stale", action="store_true", help="also rerun stale jobs (replacing their files)")
    s.add_argument("--indices", default=None, help="only these indices (sbatch --array syntax, e.g. 0-3,7)")
    s.add_argument("--quiet", action="store_true", help="no progress bars and no notes (the --pack hint, the lines "
                   "of a data file read or a synthetic data set made to check the jobs); the jobs that failed last "
                   "time are still named")  # fmt: skip
    s = add("status", "count done / running / queued / missing / failed / corrupt / stale jobs")
    s.add_argument("--json", action="store_true", help="machine-readable output")
    s = add("merge", "merge the job files into RESULTS/NAME.h5")
    s.add_argument(
        "--allow-missing",
        action="store_true",
        help="merge a grid with holes: missing, queued, running, failed, corrupt and stale points are NaN and listed",
    )
    return p


def main(argv: list[str] | None = None) -> int:
    from ..cli import quiet

    ns = build_parser().parse_args(argv)
    with quiet(getattr(ns, "quiet", False)):  # local --quiet: no line on a set generated to check its jobs
        return guarded(PROG, lambda: _command(ns))


def _command(ns: argparse.Namespace) -> int:
    jobs_mod.check_results_dir(ns.results_dir)
    exp = experiment_mod.load(ns.exp)
    if ns.command != "run" and (bare := experiment_mod.bare_durations(exp)):  # a job's log needs it not
        print(seconds_note(PROG, exp.path or exp.name, bare), file=sys.stderr)
    if ns.command != "run":
        for note in repeated_trainings(exp):
            print(f"{PROG}: note: {exp.path or exp.name}: {note}", file=sys.stderr)
    folder = jobs_mod.job_dir(exp, ns.results_dir)
    if (folder / "optuna.journal").exists():
        raise SnnsimError(f"{folder} holds the study of a tuning spec named {exp.name!r}; "
                          "give the experiment another name")  # fmt: skip
    return COMMANDS[ns.command](exp, ns)


def source_digest(exp: Experiment) -> str:
    """The SHA-256 of what the experiment's file says but its description: a comment, a description
    or the layout edited while `sweep local` runs it changes no job."""
    doc = {k: v for k, v in tomllib.loads(exp.source).items() if k != "description"}
    return hashlib.sha256(json.dumps(doc, sort_keys=True, default=str).encode()).hexdigest()


def repeated_trainings(exp: Experiment) -> list[str]:
    """One line per BMI decoder (``model = "ann"``, ``"linear"``) whose jobs differ from earlier jobs
    only by swept settings it does not read (:meth:`~snnsim.config.RunConfig.unread`: ridge reads no
    ``hidden``): the same training again, and equal cells in the merge (``snnsim.run`` notes such a
    setting too; a union of ``[[sweep]]`` blocks leaves those jobs out)."""
    models = exp.swept.get("model", (exp.fixed.get("model", "snn"),))
    if not {"ann", "linear"} & set(models):  # only these decoders leave settings unread
        return []
    first: dict[str, int] = {}
    by_model: dict[str, tuple[list[int], list[int], list[str]]] = {}
    for i in range(exp.grid_size):
        cfg = exp.config(i)
        if not (unread := cfg.unread(exp.keys)):
            continue
        same = json.dumps({k: v for k, v in cfg.to_dict().items() if k not in unread}, sort_keys=True)
        if (j := first.setdefault(same, i)) == i:
            continue
        repeats, originals, differ = by_model.setdefault(cfg.model, ([], [], []))
        repeats.append(i)
        originals.append(j)
        at_i, at_j = exp.settings(i), exp.settings(j)
        differ += [k for k in unread if at_i[k] != at_j[k] and k not in differ]
    out = []
    for model, (repeats, originals, differ) in by_model.items():
        one = len(set(originals)) == 1
        differ = sorted(differ, key=exp.keys.index)  # in the file's order
        decoder = f'model = "{model}"'  # as the file gives it, not the run's flag
        out.append(f"jobs {jobs_mod.array_spec(repeats)} ({decoder}) repeat the training of "
                   f"job{'' if one else 's'} {jobs_mod.array_spec(originals)}: they differ from "
                   f"{'it' if one else 'them'} only by {', '.join(differ)}, which {decoder} does not read")  # fmt: skip
    return out


# -- commands ----------------------------------------------------------------------------------
def cmd_count(exp: Experiment, ns: argparse.Namespace) -> int:
    print(jobs_mod.n_packs(exp, ns.pack) if ns.pack else exp.grid_size)
    return 0


def cmd_show(exp: Experiment, ns: argparse.Namespace) -> int:
    indices = [exp.check_index(ns.index)] if ns.index is not None else range(exp.grid_size)
    for i in indices:
        if ns.json:
            print(exp.config(i).to_json())
        else:
            print(f"{i}\t{experiment_mod.format_settings(exp.settings(i))}")
    return 0


def cmd_run(exp: Experiment, ns: argparse.Namespace) -> int:
    index = ns.index
    if index is None:
        env = os.environ.get("SLURM_ARRAY_TASK_ID")
        if env is None:
            raise SnnsimError("run: give INDEX, or run inside a SLURM array job ($SLURM_ARRAY_TASK_ID is not set)")
        try:
            index = _index(env)
        except argparse.ArgumentTypeError:
            raise SnnsimError(f"run: $SLURM_ARRAY_TASK_ID={env!r} is not a job index") from None
    log = functools.partial(log_line, PROG)  # a log on a full disk loses its lines, not the jobs
    command, _, chosen = os.environ.get(ENV_EXPERIMENT, "").rpartition(" ")
    if chosen and chosen != source_digest(exp):
        command = f"sweep {command}" if command in ("local", "submit") else "sweep local or submit"
        raise SnnsimError(f"run: {exp.path or exp.name} changed since `{command}` read it: this job was not run; "
                          f"run `{command}` again for the file as it is now")  # fmt: skip
    if ns.only is not None and not ns.pack:
        raise SnnsimError("run: --only selects jobs of a pack; give --pack K too")
    if ns.pack:
        indices = jobs_mod.pack_indices(exp, ns.pack, index)
        if ns.only is not None:
            only = _parse_indices(exp, "--only", ns.only)
            indices = [i for i in indices if i in only]
            if not indices:
                raise SnnsimError(f"run: --only {ns.only}: none of them is in pack {index}")
        log(
            f"pack {index} of {jobs_mod.n_packs(exp, ns.pack)} ({plural(len(indices), 'job')}): {jobs_mod.array_spec(indices)}"
        )
    else:
        indices = [exp.check_index(index)]
    return jobs_mod.run_jobs(exp, indices, ns.results_dir, force=ns.force, progress=ns.progress, log=log,
                             keep_checkpoints=ns.keep_checkpoints, rerun_stale=ns.rerun_stale)  # fmt: skip


def _todo(exp: Experiment, ns: argparse.Namespace, rerun_stale: bool, st: list | None = None) -> list[int]:
    """The jobs to run of the states ``st`` (else read now): missing, failed, corrupt (and stale);
    not the ones done, running or queued in SLURM."""
    wanted = {"missing", "failed", "corrupt"} | ({"stale"} if rerun_stale else set())
    if getattr(ns, "failed", False):
        wanted = {"failed"}
    return [s.index for s in (jobs_mod.states(exp, ns.results_dir) if st is None else st) if s.state in wanted]


def _note_failures(st: list, todo: list[int], most: int = 5) -> None:
    """A note on stderr per job of ``todo`` that failed last time, with the reason its ``.failed``
    marker records (the first ``most``, then a count): a job that failed for its settings (an
    ``lr`` too small) fails again the same way when run as it is; one that met a full disk may not."""
    chosen = set(todo)
    failed = [s for s in st if s.state == "failed" and s.reason and s.index in chosen]
    for s in failed[:most]:
        print(f"{PROG}: note: job {s.index} failed last time: {s.reason}", file=sys.stderr)
    if len(failed) > most:
        print(f"{PROG}: note: {len(failed) - most} more of these jobs failed last time "
              "(`sweep status` lists why)", file=sys.stderr)  # fmt: skip


def _todo_packs(exp: Experiment, ns: argparse.Namespace, todo: list[int]) -> list[int]:
    """The packs (of ``ns.pack`` jobs) holding at least one of the jobs ``todo``."""
    return sorted({jobs_mod.pack_of(exp, ns.pack, i) for i in todo})


def _checking(exp: Experiment) -> str:
    """The description of the bar of the job files checked (on a terminal only: seconds for
    hundreds of jobs, each file verified) of ``status``, ``local`` and ``submit``, as ``merge``'s."""
    return f"{exp.name}: checking job files"


def _exp_arg(exp: Experiment) -> str:
    return str(Path(exp.path).resolve()) if exp.path else exp.name


def cmd_submit(exp: Experiment, ns: argparse.Namespace) -> int:
    if not ns.script.is_file():  # sbatch would refuse it only after ./logs is made; a dry run printed it
        what = "is a folder" if ns.script.is_dir() else "no such file"
        raise SnnsimError(f"submit: --script: {ns.script}: {what}; give the sbatch script (default {ARRAY_SCRIPT})")
    if ns.dry_run:  # sends nothing, writes nothing
        return _submit(exp, ns)
    with queue_mod.submitting(exp, ns.results_dir):  # another submit at once waits, then sees these jobs queued
        return _submit(exp, ns)


def _submit(exp: Experiment, ns: argparse.Namespace) -> int:
    st = jobs_mod.states(exp, ns.results_dir, progress=_checking(exp))
    indices = list(range(exp.grid_size)) if ns.all else _todo(exp, ns, ns.rerun_stale, st)
    if not indices:
        print(f"{exp.name}: nothing to submit ({_nothing_to_run(exp, ns, st)})")
        return 0
    _note_failures(st, indices)
    waiting = [s.index for s in st if s.state == "queued"]
    if waiting and not ns.all:
        print(f"{exp.name}: jobs {jobs_mod.array_spec(waiting)} wait in the SLURM queue already "
              f"({_queued_summary(st)}); not submitted again (--all submits every job)")  # fmt: skip
    jobs_mod.check_data(exp, indices)
    entries = _todo_packs(exp, ns, indices) if ns.pack else indices
    extra = sbatch_options(ns.sbatch_args, "it holds the jobs not done (--all, --failed and --throttle choose them)")
    failed: list[str] = []  # scontrol's failure, once: not asked again
    _check_array_size(exp, ns, max(entries), failed)
    _check_node_memory(exp, ns, indices, entries, failed)
    spec = jobs_mod.array_spec(entries)
    if ns.throttle:
        spec += f"%{ns.throttle}"
    cmd = ["sbatch", "--parsable", f"--array={spec}", *extra, str(ns.script), _exp_arg(exp)]
    if ns.rerun_stale:
        cmd.append("--rerun-stale")
    if ns.pack:
        cmd += ["--pack", str(ns.pack)]
    env = dict(os.environ)
    if ns.results_dir is not None:
        env[jobs_mod.ENV_RESULTS] = str(Path(ns.results_dir).resolve())
    env[ENV_EXPERIMENT] = f"submit {source_digest(exp)}"  # a task reads the file as it starts: the one submitted
    if ns.dry_run:
        print(shell_line(cmd, env, jobs_mod.ENV_RESULTS))
        return 0
    if shutil.which("sbatch") is None:
        raise SnnsimError("submit: sbatch not found (no SLURM here?); use `sweep local` to run on this machine")
    Path("logs").mkdir(exist_ok=True)  # slurm does not create the --output folder
    with stop_on_signals():  # SIGTERM too, as Ctrl-C: sbatch is killed on the way out, not left to send alone
        sbatch = None
        try:
            with signals_held():  # a stop while sbatch starts: raised once it has, to kill it
                sbatch = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            out, err = sbatch.communicate()
        except Interrupted as exc:
            if sbatch is not None:
                sbatch.kill()
                sbatch.communicate()
            exc.kept = ("sbatch was stopped too: `squeue` shows whether it had sent the array job "
                        "(not recorded: `sweep status` shows its jobs missing)")  # fmt: skip
            raise
    proc = subprocess.CompletedProcess(cmd, sbatch.returncode, out, err)
    if proc.returncode != 0:
        raise SnnsimError(f"submit: sbatch failed: {proc.stderr.strip() or proc.stdout.strip()}")
    job = proc.stdout.strip().split(";")[0]
    stopped: Interrupted | None = None
    try:
        try:
            queue_mod.record(exp, ns.results_dir, job, ns.pack or 0, ns.rerun_stale)
        except Interrupted as exc:  # while it asked squeue: the array job is taken, record it all the same
            stopped = exc
            with signals_held():
                queue_mod.record(exp, ns.results_dir, job, ns.pack or 0, ns.rerun_stale, ask=False)
    except OSError as exc:  # the jobs are submitted: say what is lost, do not fail
        print(f"{PROG}: note: could not record array job {job} in {queue_mod.record_path(exp, ns.results_dir)} "
              f"({getattr(exc, 'reason', None) or exc.strerror or exc}); `status` shows its jobs missing until they start", file=sys.stderr)  # fmt: skip
    packed = f" in {plural(len(entries), 'pack')} of at most {ns.pack}" if ns.pack else ""
    print(f"{exp.name}: submitted {plural(len(indices), 'job')}{packed} as SLURM array job {job} (--array={spec})")
    if stopped is not None:
        print(f"{PROG}: stopped by {stopped.name} after submitting array job {job} (`scancel {job}` cancels it)",
              file=sys.stderr)  # fmt: skip
        return 128 + stopped.signum
    return 0


def _scontrol(args: tuple[str, ...], failed: list[str] | None) -> str | None:
    """``scontrol ARGS``'s output; None where there is no ``scontrol``, or where it fails (its
    controller unreachable: some 9 s each time), said once on stderr and added to ``failed``,
    which then stops the next question (one ``submit`` asks twice)."""
    if shutil.which("scontrol") is None or failed:
        return None
    try:
        what = "for this cluster's MaxArraySize and node memory"
        proc = queue_mod.ask_slurm(["scontrol", *args], f"scontrol {' '.join(args)}", what)
        reason = (proc.stderr.strip().splitlines() or [f"exit {proc.returncode}"])[-1] if proc.returncode else ""
    except (OSError, subprocess.TimeoutExpired) as exc:
        reason = f"{exc}"
    if not reason:
        return proc.stdout
    if failed is not None:
        failed.append(reason)
    print(f"{PROG}: note: scontrol {' '.join(args)}: {reason}; this cluster's MaxArraySize and node memory "
          "are not checked", file=sys.stderr, flush=True)  # fmt: skip
    return None


def max_array_size(failed: list[str] | None = None) -> int | None:
    """The cluster's ``MaxArraySize`` (array indices run 0 .. MaxArraySize - 1), None where
    ``scontrol`` does not tell (:func:`_scontrol`)."""
    out = _scontrol(("show", "config"), failed)
    if out is None:
        return None
    match = re.search(r"^MaxArraySize\s*=\s*(\d+)", out, re.MULTILINE)
    return int(match.group(1)) if match else None


def _check_array_size(exp: Experiment, ns: argparse.Namespace, top: int, failed: list[str]) -> None:
    """Refuse an array whose largest index ``top`` this cluster would refuse (sbatch says only
    "Invalid job array specification"), naming the ``--pack`` that fits."""
    limit = max_array_size(failed)
    if limit is None or top < limit:
        return
    k = -(-exp.grid_size // limit)  # packs of k jobs: at most `limit` packs
    what = f"pack {top}" if ns.pack else f"job {top}"
    raise SnnsimError(f"submit: {what} is past this cluster's MaxArraySize ({limit}: array indices 0..{limit - 1}); "
                      f"--pack {k} runs the {exp.grid_size} jobs as {jobs_mod.n_packs(exp, k)} array tasks")  # fmt: skip


def node_memory(failed: list[str] | None = None) -> int | None:
    """Bytes of memory of this cluster's largest node (``RealMemory``, MB), None where
    ``scontrol`` does not tell."""
    out = _scontrol(("-o", "show", "node"), failed)
    if out is None:
        return None
    sizes = [int(mb) * 2**20 for mb in re.findall(r"\bRealMemory=(\d+)", out)]
    return max(sizes) if sizes else None


def _check_node_memory(exp: Experiment, ns: argparse.Namespace, indices: list[int], entries: list[int],
                       failed: list[str]) -> None:  # fmt: skip
    """Refuse an array task (a job, or the jobs ``indices`` of a pack) whose memory estimate
    (:func:`snnsim.runner.estimate_memory`, the runner's check when it starts) is past the memory
    of this cluster's largest node: it would be refused when it starts, after its wait in the queue."""
    node = node_memory(failed)
    if node is None:
        return
    from .. import runner
    from ..studies import get_study

    def need(jobs: list[int]) -> int:
        cfgs = [exp.config(i) for i in jobs]
        return runner.estimate_memory(cfgs, runner.plan(cfgs))

    todo = set(indices)
    for entry in entries:
        jobs = [i for i in jobs_mod.pack_indices(exp, ns.pack, entry) if i in todo] if ns.pack else [entry]
        if (size := need(jobs)) <= node:
            continue
        what = (f"pack {entry} (jobs {jobs_mod.array_spec(jobs)})" if ns.pack
                else f"job {entry} ({experiment_mod.format_settings(exp.settings(entry))})")  # fmt: skip
        flags = "; ".join(dict.fromkeys(get_study(exp.config(i).study).memory_flags for i in jobs))
        flags = config_mod.as_keys(flags)  # named as the file's keys
        fewer = "; or a smaller --pack" if len(jobs) > 1 and all(need([i]) <= node for i in jobs) else ""
        raise SnnsimError(f"submit: {what} needs about {size / 1e9:.1f} GB of memory (estimated), more than the "
                          f"{node / 1e9:.1f} GB of this cluster's largest node: it would be refused when it starts; "
                          f"use smaller settings ({flags}){fewer}; no job submitted")  # fmt: skip


def pack_hint(exp: Experiment, todo: list[int], ns: argparse.Namespace) -> str | None:
    """A one-line note when ``local`` would start one process per job of ``todo`` for at least two
    jobs per process (None otherwise): packs share start-up and data, with the same numbers. Its
    packs are sized from the jobs of ``todo``, not the grid (strided packs of the grid's size can
    hold them all in one): the largest whose packs holding them (`local` runs no other) fill the
    ``-j`` processes, none with more of them than an even share."""
    n_todo = len(todo)
    if ns.pack or n_todo < 2 * ns.processes:
        return None
    share = -(-n_todo // ns.processes)
    for n in range(1, exp.grid_size + 1):  # at n = the grid's size, one job per pack: always found
        size = -(-exp.grid_size // n)
        held = Counter(jobs_mod.pack_of(exp, size, i) for i in todo)
        if len(held) >= ns.processes and max(held.values()) <= share:
            break
    if size < 2:
        return None
    packs = len(held)
    return (
        f"snnsim.sweep: note: each of the {n_todo} jobs starts a process of its own and makes its own data; "
        f"--pack {size} runs them in {packs} process{'es' if packs > 1 else ''}, trained together with the "
        "same numbers (docs/sweeps.md)"
    )


def _parse_indices(exp: Experiment, flag: str, spec: str) -> set[int]:
    """The job indices ``spec`` (sbatch ``--array`` syntax), each checked against the grid. A
    ``%K`` throttle is refused: ``local`` runs ``-j N`` jobs at once, and a pack (``run --only``)
    all of them in one process; each would drop it silently."""
    try:
        indices = set(jobs_mod.parse_array_spec(spec, check=exp.check_index))
    except experiment_mod.ExperimentError as e:  # an index past the grid: named, with the flag
        raise SnnsimError(f"{flag}: {e}") from None
    except ValueError:
        raise SnnsimError(f"{flag}: expected sbatch --array syntax such as 0-3,7, got {spec!r}") from None
    if "%" in spec:
        jobs, _, throttle = spec.partition("%")
        # run --only: a pack, which has no -j (local's)
        why = "a pack runs its jobs in one process" if flag == "--only" else "-j N sets how many jobs run at once"
        raise SnnsimError(
            f"{flag}: %{throttle.strip()}: a throttle, which has no effect here ({why}); give the indices alone: "
            f"{jobs.strip()}"
        )
    return indices


def cmd_local(exp: Experiment, ns: argparse.Namespace) -> int:
    st = jobs_mod.states(exp, ns.results_dir, progress=None if ns.quiet else _checking(exp))
    todo = _todo(exp, ns, ns.rerun_stale, st)
    if ns.indices is not None:
        only = _parse_indices(exp, "local: --indices", ns.indices)
        todo = [i for i in todo if i in only]
    if not todo:
        print(f"{exp.name}: nothing to run{' of --indices ' + ns.indices if ns.indices else ''} "
              f"({_nothing_to_run(exp, ns, st)})")  # fmt: skip
        jobs_mod.remove_done_checkpoints(exp, ns.results_dir, lambda message: print(f"{exp.name}: {message}"))
        return 0
    _note_failures(st, todo)
    jobs_mod.check_data(exp, todo, here=True)
    logdir = jobs_mod.job_dir(exp, ns.results_dir) / "logs"
    logdir.mkdir(parents=True, exist_ok=True)
    record = jobs_mod.LocalRecord(exp, todo, ns.results_dir)  # for `status`: these jobs wait here, not missing
    record.acquire()
    try:
        return _local_jobs(exp, ns, todo, logdir)
    finally:
        record.release()


def _local_jobs(exp: Experiment, ns: argparse.Namespace, todo: list[int], logdir: Path) -> int:
    """Run ``todo`` (the jobs :func:`cmd_local` chose) in processes of their own, logs in ``logdir``."""
    from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait

    from tqdm import tqdm

    env = dict(os.environ)
    if ns.results_dir is not None:
        env[jobs_mod.ENV_RESULTS] = str(Path(ns.results_dir).resolve())
    threads.share(env, ns.processes)  # the cores are shared by the processes (the numbers do not change)
    env.pop("SLURM_ARRAY_TASK_ID", None)
    env[ENV_EXPERIMENT] = f"local {source_digest(exp)}"  # each job reads the file again: the one chosen from

    unit = "pack" if ns.pack else "job"
    entries = _todo_packs(exp, ns, todo) if ns.pack else todo
    if not ns.quiet and (note := pack_hint(exp, todo, ns)):
        print(note, file=sys.stderr)

    running: dict[int, subprocess.Popen] = {}
    unlogged: dict[int, str] = {}  # the jobs (packs) not started: their log could not be written
    elsewhere: dict[int, str] = {}  # the jobs another process (a second sweep, SLURM) was running: who
    chosen = {j: _file_stamp(jobs_mod.found_result(exp, j, ns.results_dir)) for j in todo}  # their files then
    stopping = threading.Event()
    launching = threading.Lock()  # a job starts, or the stop takes the jobs running: not both at once

    def one(i: int) -> tuple[int, int | None]:
        cmd = [sys.executable, "-m", "snnsim.sweep", "run", _exp_arg(exp), str(i)]
        if ns.rerun_stale:
            cmd.append("--rerun-stale")
        if ns.pack:
            cmd += ["--pack", str(ns.pack)]
            if ns.indices is not None:  # only the jobs asked for, not the whole pack
                cmd += ["--only", jobs_mod.array_spec([j for j in todo if jobs_mod.pack_of(exp, ns.pack, j) == i])]
        if stopping.is_set():
            return i, None
        mine = [j for j in todo if (jobs_mod.pack_of(exp, ns.pack, j) if ns.pack else j) == i]
        for j in mine:  # taken by another process (a second `local`, a SLURM task) since the jobs were chosen
            if (held := jobs_mod.job_lock(exp, j, ns.results_dir).holder()) is not None:
                elsewhere[j] = held
            elif (
                _file_stamp(jobs_mod.found_result(exp, j, ns.results_dir)) != chosen[j]  # written since: not a
                and jobs_mod.file_state(exp, j, ns.results_dir, check_data=False).state == "done"  # corrupt one
            ):
                elsewhere[j] = "another process"
        if all(j in elsewhere for j in mine):  # nothing left for a process of its own
            return i, 0
        path = logdir / f"{unit}-{i}.log"

        def not_started(exc: OSError) -> tuple[int, int]:  # a full disk: this job is not started, the others go on
            unlogged[i] = f"not started: cannot write its log {path} ({exc.strerror or exc})"
            return i, EXIT_NOT_WRITTEN

        try:  # unbuffered: a full disk fails the header's write here, not later at close
            log = open(path, "ab", buffering=0)  # appended: a concurrent sweep's log stays
        except OSError as exc:
            return not_started(exc)
        with log:
            with launching:
                if stopping.is_set():
                    return i, None
                try:
                    log.write(f"--- {time.strftime('%Y-%m-%d %H:%M:%S')} {shlex.join(cmd)}\n".encode())
                except OSError as exc:
                    return not_started(exc)
                running[i] = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
            rc = running[i].wait()
            running.pop(i, None)
        if rc == 0:  # its jobs that another process holds now: skipped by this one, not run
            for j in mine:
                if (held := jobs_mod.job_lock(exp, j, ns.results_dir).holder()) is not None:
                    elsewhere[j] = held
        return i, rc

    start = time.perf_counter()
    bad: list[tuple[int, int]] = []
    stopped: Interrupted | None = None
    with (
        ThreadPoolExecutor(max_workers=ns.processes) as pool,
        tqdm(total=len(entries), desc=exp.name, unit=unit, disable=ns.quiet, file=sys.stderr) as bar,
    ):
        futures = []
        try:
            with stop_on_signals():  # open before a job starts: a stop in between would leave it running, orphaned
                with signals_held():  # a stop meanwhile comes once every job is handed over, to be cancelled
                    futures = [pool.submit(one, i) for i in entries]
                pending = set(futures)
                while pending:  # in steps of a second: a stop whose raise was lost (in a finalizer) stops too
                    done, pending = wait(pending, timeout=1.0, return_when=FIRST_COMPLETED)
                    for fut in done:
                        i, rc = fut.result()
                        if rc and rc != EXIT_STALE:  # 3: a pack's stale jobs, left alone as not asked for
                            bad.append((i, rc))
                        bar.update(1)
                    stop_if_signalled()
        except Interrupted as exc:  # pass the signal on to the jobs running, start no more
            stopped = exc
            with launching:
                stopping.set()
                started = list(running.values())
            for fut in futures:
                fut.cancel()
            for proc in started:
                proc.send_signal(exc.signum)
    if stopped is not None:
        print(
            f"{exp.name}: stopped by {stopped.name}; the jobs running were stopped too (rerun to complete them)",
            file=sys.stderr,
        )
        return 128 + stopped.signum
    wall = time.perf_counter() - start
    packed = f" in {plural(len(entries), 'pack')} of at most {ns.pack}" if ns.pack else ""
    unit_of = {j: jobs_mod.pack_of(exp, ns.pack, j) if ns.pack else j for j in todo}
    unstarted = [j for j in todo if unit_of[j] in unlogged]
    # a unit all of whose jobs another process was running: skipped, neither run nor ok here
    skipped = {i for i in entries if all(j in elsewhere for j in todo if unit_of[j] == i)}
    now = {j: jobs_mod.state(exp, j, ns.results_dir, check_data=False) for j in sorted(elsewhere)}
    lost = [j for j, s in now.items() if s.state not in ("done", "running")]  # that process ended without it
    by_other = ""
    if elsewhere:
        counts = {k: sum(s.state == k for s in now.values()) for k in ("done", "running")}
        by_other = (f"; {plural(len(elsewhere), 'job')} ({jobs_mod.array_spec(sorted(elsewhere))}) skipped, being run by "
                    f"another process: {counts['done']} done since, {counts['running']} still running, "
                    f"{len(lost)} not done")  # fmt: skip
    print(
        f"{exp.name}: ran {plural(len(todo) - len(unstarted) - len(elsewhere), 'job')}{packed} in {wall:.1f} s with "
        f"-j {ns.processes}; {len(entries) - len(bad) - len(skipped)} ok, {len(bad)} not ok"
        + (" (packs)" if ns.pack else "")
        + (f"; {plural(len(unstarted), 'job')} not started" if unstarted else "")
        + by_other
    )
    for i, rc in sorted(bad):
        print(f"  {unit} {i}: " + (unlogged.get(i) or f"{_ended(rc)}; log {logdir / f'{unit}-{i}.log'}"))
    for j in sorted(elsewhere):
        print(f"  job {j}: skipped, being run by {elsewhere[j]}; now {now[j].state}"
              + (f": {now[j].reason}" if now[j].reason else ""))  # fmt: skip
    if bad and exp.path is not None and _edited(exp):  # its jobs started since refused it (exit code 2)
        print(f"  {exp.path} changed while the jobs ran: those started after the change were not run; "
              "run `sweep local` again for the file as it is now")  # fmt: skip
    return 1 if bad or lost else 0


def _edited(exp: Experiment) -> bool:
    """Whether the experiment's file says otherwise now than when ``exp`` was read from it (or is gone)."""
    try:
        return source_digest(experiment_mod.load(exp.path)) != source_digest(exp)
    except SnnsimError:
        return True


def _file_stamp(path: Path) -> tuple[int, int, int] | None:
    """(inode, mtime in ns, size) of ``path``, None where there is none: a file written since."""
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_ino, st.st_mtime_ns, st.st_size


def _ended(rc: int) -> str:
    """How a job's (pack's) process ended: ``exit code 4``, or from Popen's -N, a signal it could
    not catch (SIGKILL: the out-of-memory killer, kill -9), ``killed by signal 9 (SIGKILL)``."""
    if rc >= 0:
        return f"exit code {rc}"
    try:
        name = f" ({signal.Signals(-rc).name})"
    except ValueError:
        name = ""
    return f"killed by signal {-rc}{name}"


def _nothing_to_run(exp: Experiment, ns: argparse.Namespace, st: list | None = None) -> str:
    """Why ``local`` or ``submit`` has nothing to run: how many jobs are done, the stale ones it
    leaves, the ones running or queued, and with ``--failed`` the missing ones."""
    by: dict[str, list[int]] = {}
    for s in jobs_mod.states(exp, ns.results_dir) if st is None else st:
        by.setdefault(s.state, []).append(s.index)
    text = f"{len(by.get('done', []))} of {plural(exp.grid_size, 'job')} done"
    if by.get("stale") and not ns.rerun_stale:
        stale = by["stale"]
        text += (f"; {len(stale)} stale ({jobs_mod.array_spec(stale)}: made by another config or snnsim), "
                 "rerun with --rerun-stale")  # fmt: skip
    if by.get("running"):
        text += f"; {len(by['running'])} running"
    if by.get("queued"):
        text += f"; {len(by['queued'])} queued in SLURM"
    if getattr(ns, "failed", False) and (other := len(by.get("missing", [])) + len(by.get("corrupt", []))):
        text += f"; none failed ({other} missing or corrupt: without --failed they run too)"
    return text


def _queued_summary(st: list) -> str:
    """The queued jobs by SLURM array job and task state: ``"SLURM job 472: 5 PENDING (Priority),
    1 PENDING (JobHeldUser)"`` (a job whose task SLURM runs is running: :func:`jobs_mod.states`)."""
    count: dict[str, dict[str, int]] = {}
    for s in st:
        if s.state == "queued":  # reason "SLURM job 472_3 PENDING (Priority)"
            task, state = s.reason.removeprefix("SLURM job ").split(" ", 1)
            by_state = count.setdefault(task.split("_")[0], {})
            by_state[state] = by_state.get(state, 0) + 1
    return "; ".join(f"SLURM job {j}: " + ", ".join(f"{n} {k}" for k, n in c.items()) for j, c in count.items())


def cmd_status(exp: Experiment, ns: argparse.Namespace) -> int:
    listing = jobs_mod.list_folder(exp, ns.results_dir)  # once: not once per job
    st = jobs_mod.states(exp, ns.results_dir, listing=listing, progress=_checking(exp))
    by: dict[str, list[int]] = {k: [] for k in jobs_mod.STATES}
    for s in st:
        by[s.state].append(s.index)
    todo = sorted(by["missing"] + by["failed"] + by["corrupt"])
    local = {i: who for i, who in jobs_mod.waiting_in_local(listing).items() if i in todo}
    temporaries = [
        t for i in range(exp.grid_size) for t in listing.leftovers(jobs_mod.result_path(exp, i, ns.results_dir))
    ] + listing.checkpoint_leftovers()
    writing = jobs_mod.lock_holders(st)  # on any host: their files are being written
    temporaries = [
        t for t in temporaries if not atomic_write.writer_alive(t) and atomic_write.writer_of(t) not in writing
    ]
    leftover = jobs_mod.done_checkpoints(exp, listing, by["done"])
    if ns.json:
        print(
            json.dumps(
                {
                    "experiment": exp.name,
                    "n_jobs": exp.grid_size,
                    **{k: v for k, v in by.items()},
                    "todo_array": jobs_mod.array_spec([i for i in todo if i not in local]),  # to resubmit
                    "waiting_local": local,  # index -> the running `sweep local` that will run it
                    "temporaries": [str(t) for t in temporaries],
                    "checkpoints_of_done_jobs": [str(p) for p in leftover],
                    "reasons": {s.index: s.reason for s in st if s.reason},
                    "wall_seconds": {s.index: s.wall_seconds for s in st if s.wall_seconds is not None},
                    "peak_rss_mb": {s.index: s.peak_rss_mb for s in st if s.peak_rss_mb is not None},
                }
            )
        )
        return 0
    print(f"{exp.name}: {plural(exp.grid_size, 'job')} in {jobs_mod.job_dir(exp, ns.results_dir)}")
    print("  " + "  ".join(f"{k} {len(v)}" for k, v in by.items()))
    for k in ("queued", "missing", "failed", "corrupt", "stale"):
        if by[k]:
            print(f"  {k}: {jobs_mod.array_spec(by[k])}" + (f" ({_queued_summary(st)})" if k == "queued" else ""))
    for s in st:
        if s.state == "running":
            print(f"    job {s.index} running {s.reason}")
        elif s.reason and s.state != "queued":
            print(f"    job {s.index} {s.state}: {s.reason}")
    if temporaries:
        print(
            f"  {len(temporaries)} temporary file(s) of interrupted writes (removed when their job runs again): "
            + ", ".join(t.name for t in temporaries[:5])
            + (" ..." if len(temporaries) > 5 else "")
        )
    if leftover:
        print(
            f"  {len(leftover)} checkpoint(s) of done jobs, left by jobs killed after writing their results "
            "(removed by the next `sweep local` or `sweep run`): "
            + ", ".join(p.name for p in leftover[:5])
            + (" ..." if len(leftover) > 5 else "")
        )
    walls = [s.wall_seconds for s in st if s.wall_seconds is not None]
    peaks = [s.peak_rss_mb for s in st if s.peak_rss_mb is not None]
    if walls:
        print(f"  done jobs: wall time until written {min(walls):.1f}-{max(walls):.1f} s, "
              f"peak memory {min(peaks):.0f}-{max(peaks):.0f} MB")  # fmt: skip
    for who in sorted(set(local.values())):  # not started yet by a `sweep local` that runs: not to resubmit
        waiting = [i for i, w in local.items() if w == who]
        print(f"  waiting in a running `sweep local` ({who}): {jobs_mod.array_spec(waiting)}")
    if todo := [i for i in todo if i not in local]:
        print(f"  to resubmit: --array={jobs_mod.array_spec(todo)}")
    return 0


def cmd_merge(exp: Experiment, ns: argparse.Namespace) -> int:
    from ..atomic_write import clean_and_report
    from .merge import merge

    path = jobs_mod.merged_path(exp, ns.results_dir)
    clean_and_report(path, PROG, "merges")
    with stop_on_signals():  # scancel in the middle: no temporary left beside the merged file
        ds = merge(exp, ns.results_dir, allow_missing=ns.allow_missing)
    dims = ", ".join(f"{k}={v}" for k, v in ds.sizes.items())
    print(f"{exp.name}: merged into {path} ({dims})")
    for key in ("missing", "stale"):
        listed = json.loads(ds.attrs[key])
        if listed:
            print(f"  {key} (NaN): {jobs_mod.array_spec(listed)}")
    return 0


COMMANDS = {
    "count": cmd_count,
    "show": cmd_show,
    "run": cmd_run,
    "submit": cmd_submit,
    "local": cmd_local,
    "status": cmd_status,
    "merge": cmd_merge,
}
