"""The runner: how configs of any study become result datasets, in one process.

Used by ``python -m snnsim.run`` (one config) and by sweep jobs and packs (several configs).
It owns what is the same for every study (:mod:`snnsim.studies`):

- **grouping**: every (config, repeat) is one model with seed ``cfg.seed + repeat``; models
  whose configs have equal :meth:`~snnsim.studies.Study.group_key` train as one batched model,
  at most :data:`CPU_MODELS_PER_BATCH` on the CPU (unless a config says
  ``batch_repeats = false``: then each of its repeats trains alone);
- **the data cache**: data with equal :meth:`~snnsim.studies.Study.data_key` are made once and
  shared by every model that uses them;
- **timing** (the ``train_seconds`` of each repeat: training time of its batched model divided
  by its number of models) and **result callbacks**: ``on_result(i, dataset)`` as soon as
  config ``i`` has all its repeats, so that a caller can write results while later groups train;
- **failures**: a repeat whose training diverges (:class:`~snnsim.errors.DivergedError`) fails
  its config; without ``on_failure`` the run stops with that error, with it the config is
  reported (``on_failure(i, error)``) and the other models of its batched model train again
  without it;
- **threads** (:func:`snnsim.threads.deterministic`): the numbers do not depend on them;
- **memory**: freed blocks stay in the process (:func:`snnsim.allocator.keep_freed_memory`).

Every model's numbers equal those of running its config alone: batching is exact
(:mod:`snnsim.network`) and every random draw comes from a stream keyed by the model's seed.
"""

from __future__ import annotations

import json
import resource
import time
from collections.abc import Callable, Hashable, Sequence
from pathlib import Path
from typing import Any

import torch
import xarray as xr

from . import allocator, threads
from .backends import _native
from .cli import stop_if_signalled
from .config import TRAINED, RunConfig
from .device import resolve_device
from .errors import DivergedError, SnnsimError
from .results import mixed_hardware
from .studies import Outcome, Study, get_study
from .training import EpochHook, FitOptions, remove_checkpoint

#: Most models in one batched model on the CPU; a larger group trains as several batched models,
#: one after the other (set when more models' records were page-faulted in anew each batch; with
#: the per-sample kernels 30 are no faster per model: benchmarks/README.md). On CUDA no limit.
CPU_MODELS_PER_BATCH = 10

Member = tuple[int, int]  # (config index, repeat)


def _on_cpu(device: str) -> bool:
    """Whether ``device`` trains on the CPU, without asking this machine for the CUDA device it
    names: ``sweep submit`` plans the jobs of a GPU node on a login node that has none."""
    return device == "cpu" or (device == "auto" and not torch.cuda.is_available())


def plan(cfgs: Sequence[RunConfig]) -> list[list[Member]]:
    """The batched models that train ``cfgs``: lists of (config index, repeat), models with the
    same readout and tau side by side."""
    groups: dict[Hashable, list[Member]] = {}
    for i, cfg in enumerate(cfgs):
        study = get_study(cfg.study)
        for r in range(cfg.repeats):
            key = (cfg.study, study.group_key(cfg)) if cfg.batch_repeats else (i, r)
            groups.setdefault(key, []).append((i, r))
    batches = []
    for members in groups.values():
        members.sort(key=lambda m: (cfgs[m[0]].readout, cfgs[m[0]].tau))
        cpu = _on_cpu(cfgs[members[0][0]].device)
        size = CPU_MODELS_PER_BATCH if cpu else len(members)
        batches += [members[k : k + size] for k in range(0, len(members), size)]
    return batches


class DataCache:
    """Each study's data, made once per data key and device, and dropped once no model still to
    train or report needs it (:meth:`retain`): a pack of jobs on different data holds one
    job's data at a time, not all of them."""

    def __init__(self) -> None:
        # key -> (data, what making them asked of the kernels: a _native.scope record)
        self._data: dict[Hashable, tuple[Any, dict]] = {}

    @staticmethod
    def key(cfg: RunConfig, seed: int) -> Hashable:
        study = get_study(cfg.study)
        return (study.name, study.data_key(cfg, seed), resolve_device(cfg.device))

    def get(self, study: Study, cfg: RunConfig, seed: int, device: torch.device) -> Any:
        key = self.key(cfg, seed)
        if key not in self._data:
            with _native.scope() as asked:
                self._data[key] = study.make_data(cfg, seed, device), asked
        data, asked = self._data[key]
        _native.noted(asked)  # the run that reads them used what made them
        return data

    def retain(self, keys: set[Hashable]) -> None:
        """Drop the data of every key not in ``keys``."""
        for key in [k for k in self._data if k not in keys]:
            del self._data[key]

    def __len__(self) -> int:
        return len(self._data)


def _synchronise(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _proc_bytes(path: str, key: str) -> int | None:
    """The bytes of the line ``KEY: N kB`` of the /proc file ``path``, or None."""
    try:
        with open(path) as fh:
            for line in fh:
                if line.startswith(f"{key}:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def available_memory() -> int | None:
    """Bytes of memory available to new allocations (Linux ``MemAvailable``), or None."""
    return _proc_bytes("/proc/meminfo", "MemAvailable")


def peak_memory() -> int:
    """This process's peak resident memory, bytes: ``VmHWM`` of /proc/self/status, which starts
    anew at the exec; ``getrusage``'s ``ru_maxrss`` keeps the resident memory of the process that
    started this one (Linux carries it across fork and exec), so a job started from a process of
    2 GB had 2 GB. ``getrusage`` where there is no /proc."""
    peak = _proc_bytes("/proc/self/status", "VmHWM")
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 if peak is None else peak


#: Memory of a process's first training that no study's estimate holds (torch's and the
#: allocator's one-off buffers): about 210 MB of a tiny IPD run's 232 MB (docs/sweeps.md, "Memory").
FIRST_TRAINING_BYTES = 256 * 10**6


def estimate_memory(cfgs: Sequence[RunConfig], batches: Sequence[Sequence[Member]]) -> int:
    """Estimated peak bytes above the libraries of training ``batches`` one after the other, as
    :func:`_run` does, from each study's ``memory_bytes``: while batched model k's data are made
    and it trains, batched model k-1's data and model are still alive, and the data cache keeps
    the earlier data that a later model, or the result of a config not finished yet, needs. The
    largest such total over k, plus :data:`FIRST_TRAINING_BYTES`."""
    data: dict[Hashable, int] = {}
    keys: list[set[Hashable]] = []
    work: list[int] = []
    first = {}  # config -> the data key of its first seed (its result's)
    for members in batches:
        keys.append(set())
        work.append(0)
        for i, r in members:
            study = get_study(cfgs[i].study)
            data_bytes, model_bytes = study.memory_bytes(cfgs[i])
            key = (study.name, study.data_key(cfgs[i], cfgs[i].seed + r))
            data[key] = data_bytes
            keys[-1].add(key)
            work[-1] += model_bytes
            first[i] = (study.name, study.data_key(cfgs[i], cfgs[i].seed))
    largest = 0
    for k in range(len(batches)):
        later = set().union(*keys[k:]) | {first[i] for members in batches[k:] for i, _ in members}
        alive = keys[k].union(*keys[max(k - 1, 0) : k], *(keys[j] & later for j in range(k - 1)))
        largest = max(largest, sum(data[key] for key in alive) + sum(work[max(k - 1, 0) : k + 1]))
    return largest + FIRST_TRAINING_BYTES


def check_memory(cfgs: Sequence[RunConfig], batches: Sequence[Sequence[Member]]) -> None:
    """Refuse (one line) a run whose estimated peak (:func:`estimate_memory`) would not fit in memory."""
    free = available_memory()
    if free is None:
        return
    flags = dict.fromkeys(get_study(cfg.study).memory_flags for cfg in cfgs)
    need = estimate_memory(cfgs, batches)
    if need > 0.8 * free:  # the estimate is rough; leave room for everything else
        fewer = "; or run fewer jobs at once (a smaller --pack)" if len(cfgs) > 1 else ""
        raise SnnsimError(
            f"this run needs about {need / 1e9:.1f} GB of memory, more than 80 % of the {free / 1e9:.1f} GB "
            f"available; use smaller settings ({'; '.join(flags)}){fewer}"
        )


def run_configs(
    cfgs: Sequence[RunConfig],
    progress: bool = True,
    on_result: Callable[[int, xr.Dataset], None] | None = None,
    on_failure: Callable[[int, DivergedError], None] | None = None,
    hooks: Callable[[Sequence[RunConfig], Sequence[Member]], Sequence[EpochHook]] | None = None,
    checkpoints: Callable[[Sequence[RunConfig], Sequence[Member]], Path] | None = None,
    keep_checkpoints: bool = False,
    log: Callable[[str], None] = lambda message: None,
    owned: Callable[[Path], None] = lambda path: None,
    notes: bool = True,
) -> list[xr.Dataset | None]:
    """Run ``cfgs`` in this process and return their result datasets, in order (None for a
    config that failed and was reported to ``on_failure``); see the module docstring.

    ``hooks(cfgs, members)`` gives the hooks that see every epoch of a batched model
    (:class:`~snnsim.training.EpochHook`; members: (config index, repeat) of its models).
    ``checkpoints(cfgs, members)`` names the checkpoint file of a batched model (members:
    (config index, repeat)); each batched model then saves one after every epoch and resumes
    from it, and it is removed once the results of all its configs are written (unless
    ``keep_checkpoints``). ``log`` gets one-line messages (a resumed fit says so), and with
    ``notes`` the studies' notes on settings (a BMI batch size above its training samples);
    ``owned(path)`` is told each checkpoint once it holds its batched model's state
    (:class:`~snnsim.training.FitOptions`)."""
    check_memory(cfgs, plan(cfgs))
    allocator.keep_freed_memory()
    with threads.deterministic():
        return _run(cfgs, progress, on_result, on_failure, hooks, checkpoints, keep_checkpoints, log, owned, notes)


def _import_optimisers(cfgs: Sequence[RunConfig]) -> None:
    """Load what torch's optimisers import at their first use (``torch._dynamo``, seconds on a
    small CPU), so that this one-off cost of the process is not counted as training time; not
    for runs that train no weights by gradient (ridge), which never pay it."""
    if any(cfg.model in TRAINED for cfg in cfgs):
        torch.optim.Adam([torch.zeros(1, requires_grad=True)])


def _run(cfgs, progress, on_result, on_failure, hooks, checkpoints, keep_checkpoints, log, owned, notes) -> list:  # noqa: ANN001
    _import_optimisers(cfgs)
    cache = DataCache()
    outcomes: list[dict[int, Outcome]] = [{} for _ in cfgs]
    results: list[xr.Dataset | None] = [None] * len(cfgs)
    failed: set[int] = set()
    resumed: dict[int, int] = {}  # config -> the latest epoch one of its batched models resumed after
    parts: dict[int, list] = {}  # config -> (repeats, the epochs earlier processes trained) per resumed batched model
    pending: list[tuple[Path, set[int]]] = []  # checkpoints and the configs they wait for
    queue = plan(cfgs)
    while queue:
        stop_if_signalled()  # a stop whose raise was lost (in a finalizer): a ridge decoder has no batch to look
        members = [m for m in queue.pop(0) if m[0] not in failed]
        if not members:
            continue
        with _native.scope():  # its result file names the kernels it used, not this process's (_native.kernels)
            batch = [cfgs[i] for i, _ in members]
            seeds = [cfgs[i].seed + r for i, r in members]
            study = get_study(batch[0].study)
            device = resolve_device(batch[0].device)
            data = [cache.get(study, c, s, device) for c, s in zip(batch, seeds)]
            model = study.make_model(batch, seeds, device)
            checkpoint = checkpoints(cfgs, members) if checkpoints is not None else None
            options = FitOptions(progress, tuple(hooks(cfgs, members)) if hooks else (), checkpoint, log, owned, notes)
            _synchronise(device)
            start, built = time.perf_counter(), _native.build_seconds
            try:
                training = study.fit(model, batch, data, seeds, options)
            except DivergedError as exc:
                i, r = members[exc.model]
                error = DivergedError(
                    f"repeat {r} (seed {seeds[exc.model]}) {exc}; no result written", exc.model, exc.epoch
                )
                if checkpoint is not None:
                    remove_checkpoint(checkpoint)
                if on_failure is None:
                    raise error from None
                failed.add(i)
                on_failure(i, error)
                queue.insert(0, [m for m in members if m[0] != i])  # the others again, without it
                continue
            _synchronise(device)
            # with the time the stopped run spent on the epochs a checkpoint resumed after, without
            # the kernels' build at their first use (a one-off cost of the machine, not the training's)
            spent = time.perf_counter() - start - (_native.build_seconds - built)
            seconds = (spent + training.resumed_seconds) / len(seeds)
            if checkpoint is not None:
                pending.append((checkpoint, {i for i, _ in members}))
            for i, _ in members:
                resumed[i] = max(resumed.get(i, 0), training.resumed_from)
            for i in dict.fromkeys(i for i, _ in members) if training.resumed_from else ():
                parts.setdefault(i, []).append(([r for j, r in members if j == i], training.parts))
            for (i, r), result in zip(members, study.evaluate(model, batch, data, training, progress)):
                outcomes[i][r] = Outcome(result, seconds)
                if len(outcomes[i]) == cfgs[i].repeats:
                    first = cache.get(study, cfgs[i], cfgs[i].seed, device)
                    results[i] = study.to_dataset(cfgs[i], outcomes[i], first, device)
                    if resumed.get(i):
                        results[i].attrs["resumed_from_epoch"] = resumed[i]
                    if mixed := mixed_hardware(results[i].attrs, parts.get(i, [])):  # the file names this process's
                        results[i].attrs["mixed_hardware"] = json.dumps(mixed)
                        log(_mixed_note(results[i].attrs, mixed))
                    if on_result is not None:
                        on_result(i, results[i])
        for path, waits in list(pending):
            if all(results[i] is not None or i in failed for i in waits):
                pending.remove((path, waits))  # once: a leftover is named once
                try:
                    if not keep_checkpoints:
                        remove_checkpoint(path)
                except OSError as exc:  # its results are written (on_result): a leftover fails no run
                    done = "the result is written" if on_result is not None else "the run is done"
                    log(f"warning: {done}, but its checkpoint {exc.filename or path} could not be removed "
                        f"({exc.strerror or exc}): delete it")  # fmt: skip
        # keep the data of the models still to train, and each unfinished config's first seed (its result's)
        needed = {cache.key(cfgs[i], cfgs[i].seed + r) for members in queue for i, r in members if i not in failed}
        needed |= {cache.key(c, c.seed) for i, c in enumerate(cfgs) if results[i] is None and i not in failed}
        cache.retain(needed)
    return results


def _mixed_note(attrs: dict, mixed: list[dict]) -> str:
    """One line: which epochs other hardware trained (:func:`~snnsim.results.mixed_hardware`)."""
    first = mixed[0]
    what = ", ".join(f"{k} {v} (here {attrs.get(k, 'none')})" for k, v in first.items()
                     if k not in ("repeats", "epochs") and v != attrs.get(k))  # fmt: skip
    more = f" (and {len(mixed) - 1} more part(s))" if len(mixed) > 1 else ""
    return (f"note: epochs {first['epochs']} of repeat(s) {first['repeats']} were trained with {what}{more}: its "
            "numbers mix both; the result file names that part in mixed_hardware")  # fmt: skip


def run(cfg: RunConfig, progress: bool = True) -> xr.Dataset:
    """Train ``cfg.repeats`` models of ``cfg`` and return the result dataset."""
    return run_configs([cfg], progress)[0]


def summarise(ds: xr.Dataset) -> str:
    """The table ``python -m snnsim.run`` prints for a result dataset of any study."""
    return get_study(ds.attrs["study"]).summarise(ds)


def unresponsive_note(ds: xr.Dataset) -> str | None:
    """A one-line warning naming the repeats whose test predictions are all alike, as a hidden
    layer without spikes gives (BMI: every output's spread over the test samples is below 1 % of
    the target's; IPD: one class for every sample), with a likely cause: a network silent at test
    that fired in its first epoch of training (``hidden_rate_curve``, Hz) is pointed to ``--lr``.
    None otherwise."""
    import numpy as np

    if "y_pred" in ds:
        # in float64: the spread of float32 predictions in a tiny unit (1e-30) would underflow to 0
        spread = ds["y_pred"].astype(np.float64).std("sample") / ds["y_true"].astype(np.float64).std("sample")
        alike = (spread <= 0.01).all("output").values
        what = "(almost) the same value for every test sample"
    elif "confusion" in ds:
        alike = (ds["confusion"].values.sum(axis=1) > 0).sum(axis=-1) <= 1
        what = "one class for every test sample"
    else:
        return None
    repeats = [int(r) for r in np.flatnonzero(alike)]
    if not repeats:
        return None
    which = f"repeat {repeats[0]}" if len(repeats) == 1 else "repeats " + ", ".join(map(str, repeats))
    head = f"warning: {which} of {ds.sizes['repeat']} predict{'s' * (len(repeats) == 1)} {what}"
    hz = ds["hidden_rate_hz"].values[repeats] if "hidden_rate_hz" in ds else np.array([])
    if not np.isfinite(hz).all():  # a decoder without spiking neurons (BMI ridge, ANN)
        return f"{head}: the decoder does not respond to its input (do the inputs vary between samples?)"
    rates = " (hidden Hz: " + ", ".join(f"{r:.2f}" for r in hz) + ")" if hz.size else ""
    layers = json.loads(ds.attrs.get("config", "{}")).get("hidden")
    if hz.size and (hz > 0).all() and isinstance(layers, int):  # its one hidden layer fires into the output
        return (
            f"{head}{rates}: the hidden neurons fire, but the output does not yet tell the inputs apart, as after "
            "a short training (more --epochs or --n-train-batches, or another --lr, may change that)"
        )
    start = ds["hidden_rate_curve"].values[repeats, 0] if "hidden_rate_curve" in ds and ds.sizes["epoch"] else None
    if hz.size and (hz == 0).all() and start is not None and (start > 0).all():  # fired in epoch 1, silent at test
        fired = ", ".join(f"{r:.2f}" for r in start)
        return (
            f"{head}{rates}: the hidden neurons fired in the first epoch of training ({fired} Hz) and went silent in "
            "training (a smaller --lr may change that)"
        )
    return (
        f"{head}{rates}: the network does not respond to its input, as when no hidden spike reaches the output "
        "(fewer layers, a lower --threshold or another --init may change that)"
    )
