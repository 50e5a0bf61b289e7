"""Live monitoring of trainings with TensorBoard (``torch.utils.tensorboard``).

:class:`TensorBoardHook` is an epoch hook (:class:`~snnsim.training.EpochHook`): after every
epoch it writes, for each model of a batched model, the training loss, the validation score,
the learning rate and the hidden firing rate as scalars, and the weights as histograms, into
its own run folder (``DIR/LABEL``, one per repeat or sweep job). The same numbers stay in the
result file (``loss``, ``val_*_curve``, ``lr_curve``, ``hidden_rate_curve``).

A run resumed from its checkpoint writes the checkpoint's epoch again (a stop may have cut its
events short), and TensorBoard hides the earlier process's events from that epoch on
(``purge_step``), so each epoch is there once. A run that was stopped without ``--tensorboard``
(or into another folder) and resumed with it has events from the checkpoint's epoch on only;
its result file has every epoch. A run that starts from epoch 1 in a folder that holds events
(another run's, or this command's before a start over) hides them the same way, and says so in
one line: two runs are two TensorBoard runs only in folders of their own. So does a resumed run
whose folder shows another run's events (another config or seed in their ``provenance``): it
hides them from epoch 1, not from its checkpoint's epoch on.

Every epoch's events are flushed to disk; the writers (an event file and a writer thread each)
are closed by :meth:`TensorBoardHook.close`, or else when the hook is dropped (the runner holds a
batched model's hooks only while it trains) and at the latest when the process exits.

Each run folder also holds, as the text summary ``provenance`` (JSON), the model's full config,
its seed (``seed + repeat``), the library versions and the numerics version, and for BMI the
SHA-256 of its data (:func:`provenance_text`).

Monitoring never costs the training: when the folder cannot be written (a full disk, a quota),
the hook says so in one line and writes nothing more; the run goes on and writes its result.

    tensorboard --logdir DIR
"""

from __future__ import annotations

import contextlib
import json
import threading
import warnings
import weakref
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from torch import nn
from torch.nn.utils import parametrize

from .training import EpochRecord

if TYPE_CHECKING:
    from .config import RunConfig


class TensorBoardHook:
    """Writes each model's per-epoch scalars and weight histograms under ``folder / label``."""

    def __init__(self, folder: str | Path, labels: Sequence[str], score_name: str = "validation",
                 log: Callable[[str], None] | None = None, provenance: Sequence[str] = ()) -> None:  # fmt: skip
        """``log``: where the one line goes when the folder cannot be written (default: a warning);
        ``provenance``: per label, the text each run folder gets when it opens (:func:`provenance_text`)."""
        self.folder = Path(folder)
        self.folders = [self.folder / label for label in labels]
        self.writers: list = []  # opened by the first record
        self.score_name = score_name
        self.provenance = list(provenance)
        self.log = log or (lambda message: warnings.warn(message, stacklevel=2))
        self.failed = False
        # not a bound method: the finaliser must not keep the hook alive
        self._close = weakref.finalize(self, _close_writers, self.writers)

    def __call__(self, record: EpochRecord) -> None:
        if self.failed:
            return
        try:
            self._write(record)
        except OSError as exc:  # no space, a quota, a folder gone: the training itself goes on
            self.failed = True
            self.log(f"tensorboard: cannot write in {self.folder} ({exc.strerror or exc}); training goes on without it")
            self._close()

    def _write(self, record: EpochRecord) -> None:
        if not self.writers:
            from torch.utils.tensorboard import SummaryWriter

            _quiet_writer_threads()
            purge = [record.epoch] * len(self.folders)
            if record.epoch == 1 and not record.again:  # not a resumed fit's own earlier events
                held = [f for f in self.folders if f.is_dir() and any(f.glob("events.out.tfevents.*"))]
            else:  # resumed: events before its checkpoint's epoch are its stopped process's, or another run's
                held = [f for f, text in zip(self.folders, self.provenance) if _another_run(f, text)]
                purge = [1 if f in held else epoch for f, epoch in zip(self.folders, purge)]
            if held:
                more = f" (and {len(held) - 1} more)" if len(held) > 1 else ""
                self.log(f"tensorboard: {held[0]}{more} held the events of an earlier run, which TensorBoard "
                         f"hides from now on (this run's from epoch {record.epoch}); give each run a TensorBoard "
                         "folder of its own")  # fmt: skip

            # TensorBoard hides the folder's earlier events from this epoch on: those of a run
            # stopped after it (a resumed fit starts with its checkpoint's epoch again), or of an
            # earlier run of the same name (from epoch 1: a resumed fit's too)
            after_earlier_files(self.folders)  # read after them: its purge step is for their events
            for f, step in zip(self.folders, purge):  # one by one: those opened before a failure are closed
                self.writers.append(SummaryWriter(log_dir=str(f), purge_step=step))
            for writer, text in zip(self.writers, self.provenance):
                writer.add_text("provenance", text, record.epoch)
        params = weights_of(record.model)
        for m, writer in enumerate(self.writers):
            if not record.tracked[m]:  # stopped early: the result file has no numbers for it either
                continue
            step = record.epoch
            writer.add_scalar("loss/train", float(record.loss[m]), step)
            if record.score is not None:
                writer.add_scalar(f"score/{self.score_name}", float(record.score[m]), step)
            writer.add_scalar("lr", record.lr, step)
            if record.hidden_rate_hz is not None:
                writer.add_scalar("hidden_rate_hz", float(record.hidden_rate_hz[m]), step)
            for name, p in params.items():
                writer.add_histogram(f"weights/{name}", p[m].cpu(), step)
            writer.flush()

    def close(self) -> None:
        """Flush and close the writers (once; later calls do nothing)."""
        self._close()


def after_earlier_files(folders: Sequence[Path]) -> None:
    """Wait, where needed (at most a second), until an event file opened now sorts after those in
    ``folders``: TensorBoard reads a folder's files in name order, which starts with the second
    each was opened, then host and pid as text. A resumed run's file of the same second as its
    stopped run's could be read first, and the older events after it then hid its epochs."""
    import time

    latest = -1
    for folder in folders:
        for path in folder.glob("events.out.tfevents.*") if folder.is_dir() else ():
            with contextlib.suppress(IndexError, ValueError):
                latest = max(latest, int(path.name.split(".")[3]))
    if (wait := latest + 1 - time.time()) > 0:
        time.sleep(wait)


def provenance_text(cfg: RunConfig, seed: int) -> str:
    """What made a model's run, as JSON: its full config, its seed, the library versions and the
    numerics version, and for BMI the SHA-256 of its data (``data_file_sha256`` of a data file,
    ``synthetic_data_sha256`` of a synthetic set), as its result file has them."""
    from .results import NUMERICS_VERSION, library_versions

    made = {"config": json.loads(cfg.to_json()), "seed": int(seed), "versions": library_versions(),
            "numerics_version": NUMERICS_VERSION}  # fmt: skip
    if cfg.study == "bmi":
        from .datasets import bmi as bmi_data

        if bmi_data.is_file_source(cfg.data):
            made["data_file_sha256"] = bmi_data.loaded_sha256(cfg.data)
        else:
            made["synthetic_data_sha256"] = bmi_data.synthetic_sha256(cfg.data)
    return json.dumps(made, sort_keys=True)


def weights_of(model: nn.Module) -> dict[str, torch.Tensor]:
    """The model's weights by name for the histograms: its parameters, and a tensor
    parametrised with ``torch.nn.utils.parametrize`` (the low-rank ``decoder.w1`` of
    ``--input-rank``) as the value the model uses, beside its trained factors
    (``decoder.w1.factor0``, ``decoder.w1.factor1``)."""
    out = {name.replace("parametrizations.", "").replace(".original", ".factor"): p.detach()
           for name, p in model.named_parameters()}  # fmt: skip
    for prefix, module in model.named_modules():
        if parametrize.is_parametrized(module):
            for name in module.parametrizations:
                out[f"{prefix}.{name}" if prefix else name] = getattr(module, name).detach()
    return out


def _another_run(folder: Path, provenance: str) -> bool:
    """Whether the events TensorBoard shows in ``folder`` are of a run other than the one of
    ``provenance`` (:func:`provenance_text`): another config or seed, or no provenance at all."""
    if not (folder.is_dir() and any(folder.glob("events.out.tfevents.*"))):
        return False
    import logging

    from tensorboard.backend.event_processing import plugin_event_accumulator as accumulator

    logger, level = logging.getLogger("tensorboard"), logging.getLogger("tensorboard").level
    logger.setLevel(logging.ERROR)  # not its note on the steps a resumed run's purge hides (as TensorBoard does)
    try:
        shown = accumulator.EventAccumulator(str(folder), size_guidance={accumulator.TENSORS: 0})
        shown.Reload()
        texts = [e.tensor_proto.string_val[0] for e in shown.Tensors("provenance/text_summary")]
    except (KeyError, IndexError, OSError):  # events of no snnsim run, or not readable
        return True
    finally:
        logger.setLevel(level)
    this = json.loads(provenance)
    try:
        made = [json.loads(text) for text in texts]
        return not made or any((m["config"], m["seed"]) != (this["config"], this["seed"]) for m in made)
    except (TypeError, ValueError, KeyError):
        return True


def _close_writers(writers: Sequence) -> None:
    for writer in writers:
        try:
            writer.close()
        except OSError:  # the events that could not be written: the hook has said so
            pass


def _quiet_writer_threads() -> None:
    """Keep an event writer's thread from printing a traceback when its file cannot be written:
    the writer raises the same error in the thread that writes next, where the hook reports it."""
    previous = threading.excepthook
    if getattr(previous, "snnsim_quiet_writers", False):
        return

    def hook(args: threading.ExceptHookArgs) -> None:
        if type(args.thread).__name__ == "_AsyncWriterThread" and issubclass(args.exc_type, OSError):
            return
        previous(args)

    hook.snnsim_quiet_writers = True  # type: ignore[attr-defined]
    threading.excepthook = hook
