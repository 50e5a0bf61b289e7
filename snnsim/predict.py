"""``python -m snnsim.predict MODEL --data DATA --out PREDICTIONS.h5``: a trained model's predictions
on new data, with every repeat of the model.

MODEL is a result file (``python -m snnsim.run --out``, or a sweep's job file): it holds the
trained weights of each repeat and the full config, and for BMI the normalisation of the
training folds. The predictions file names it (``model``) with the SHA-256 of its bytes
(``model_sha256``), and what trained it as the model file records it (``model_versions``,
``model_numerics_version``, ``model_cpu``, ``model_kernels``, for BMI ``model_data_file_sha256``
or ``model_synthetic_data_sha256`` ...); ``versions``, ``numerics_version`` and ``cpu`` are those
that predicted.

- IPD: ``--data FILE.npz`` with an array ``spikes`` (samples, steps, 2 x fibres per ear) of 0/1
  values, and optionally ``ipd`` (samples,) in rad; or ``--stimuli N [--seed S]``: N fresh
  stimuli drawn with the model's stimulus settings. The file gets ``predicted_class`` and
  ``predicted_ipd_deg`` (repeat, sample), and with true IPDs ``ipd_deg``, ``accuracy`` and
  ``error_deg`` (repeat); with ``--data``, the file's SHA-256 (``data_file_sha256``).
- BMI: ``--data bmi_dataset.pkl`` (the course format) and ``--fold K`` (repeatable; default
  every fold): the file gets ``y_pred`` (repeat, sample, output), ``y_true``, ``time``, ``fold``
  and ``fvaf`` (repeat, output), and the data file's SHA-256 (``data_file_sha256``) as a run's
  result file has it. On the model's own data set, the printed line says how many of the
  predicted folds trained the model or chose its epoch, and names its test fold.

Bad input gets one line and exit code 2; the predictions are written atomically (never
replacing a file unless ``--overwrite``).
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import io
import json
import math
import sys
import zipfile
import zlib
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .cli import (
    OneLineParser,
    after_writing,
    announcing,
    description_of,
    guarded,
    plural,
    process,
    stop_on_signals,
    user_path,
)
from .cli import index as _index
from .cli import positive_int as _positive
from .config import MAX_SEED, RunConfig
from .errors import DataError
from .model_file import load_model

if TYPE_CHECKING:  # torch and xarray load where a model predicts: not for --help or a refusal
    import torch
    import xarray as xr

PROG = "snnsim.predict"


def _seed(text: str) -> int:
    """argparse type of ``--seed``: an integer in 0..MAX_SEED, as a run's ``--seed`` (one past
    int64 was a traceback from the write of the predictions file, after the predictions)."""
    value = _index(text)
    if value > MAX_SEED:
        raise argparse.ArgumentTypeError(f"expected an integer in 0..{MAX_SEED}, got {text!r}")
    return value


def _no_grad(f: Callable) -> Callable:
    """``torch.no_grad()`` as a decorator that imports torch when called, not when this module is
    imported (``--help`` answers without loading torch)."""

    @functools.wraps(f)
    def without_gradients(*args: Any, **kwargs: Any) -> Any:
        import torch

        with torch.no_grad():
            return f(*args, **kwargs)

    return without_gradients


def _check_stimuli_size(n: int, stim: Any) -> None:
    """``--stimuli n`` whose spikes have more values than torch's sizes (int64) hold: no memory
    holds them, and torch raised a TypeError or a RuntimeError that is no out-of-memory error (a
    traceback); refused as out of memory before torch is asked, as 10^8 of them are when torch
    fails to allocate them (:func:`snnsim.cli.guarded`)."""
    if n * stim.steps * stim.n_inputs >= 2**63:
        raise MemoryError(f"{n} stimuli of {stim.steps} steps x {stim.n_inputs} fibres")


def ipd_stimuli(
    cfg: RunConfig, data: str | None, n: int | None, seed: int
) -> tuple[torch.Tensor, torch.Tensor | None, str | None]:
    """Spikes (N, T, C) bool (made float one batch at a time, as a run keeps its data: a float32
    copy of them all took 4 bytes a spike more), true IPDs (N,) rad or None, and the SHA-256 of the
    bytes of the ``data`` file they were read from (None for drawn stimuli)."""
    import torch

    from .encoders.ipd import IPDStimulus, generate
    from .seeding import generator

    stim = IPDStimulus.from_config(cfg)
    if data is None:
        _check_stimuli_size(n, stim)
        from tqdm.auto import tqdm

        # a bar on a terminal (20,000 stimuli: seconds, more on a loaded machine), as the predicting one
        with tqdm(total=n, desc=f"{PROG}: drawing stimuli", unit="sample", disable=None, leave=False) as bar:
            ipd, spikes = generate(n, stim, generator(seed, "ipd-predict"), bar.update)
        return spikes, ipd, None
    if not Path(data).exists():
        if data == "synthetic" or data.startswith("synthetic:"):  # the BMI study's --data synthetic:NAME:SEED
            raise DataError(f"--data: {data} is a synthetic BMI data set; an IPD model takes --data FILE.npz or "
                            "--stimuli N")  # fmt: skip
        raise DataError(f"--data: no file at {data}")
    if Path(data).is_dir():
        raise DataError(f"--data: {data} is a folder; give the .npz file of stimuli")
    needed = (f"give an .npz with an array 'spikes' (samples, {stim.steps}, {stim.n_inputs}) of 0/1 and optionally "
              "'ipd' (rad)")  # fmt: skip
    from .results import file_kind

    # a file of another format (a torch checkpoint, an .npy, a result file): named as every command names it
    if (kind := file_kind(data)) not in (None, "an .npz file of arrays", "a pipe"):  # a pipe: --data <(...)
        raise DataError(f"--data: {data} is {kind}, not an .npz file of stimuli; {needed}")
    if announcing() and sys.stderr is not None and sys.stderr.isatty():  # 20,000 stimuli: seconds; a log gets no line
        print(f"{PROG}: reading the stimuli in {data}", file=sys.stderr, flush=True)
    try:
        raw = Path(data).read_bytes()  # read once: the digest is of the bytes the arrays came from
    except OSError as exc:
        raise DataError(f"--data: cannot read {data} ({exc.strerror})") from None
    try:
        arrays = np.load(io.BytesIO(raw))
        if "spikes" not in arrays.files:  # an .npz file of other arrays
            raise DataError(f"--data: {data} holds arrays {', '.join(arrays.files)}; {needed}")
        spikes = np.asarray(arrays["spikes"])
        ipd = np.asarray(arrays["ipd"]) if "ipd" in arrays.files else None
        unread = [name for name in arrays.files if name not in ("spikes", "ipd")]
    except DataError:
        raise
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile, zlib.error) as exc:
        # EOFError: a cut file; zlib.error: a damaged member of an np.savez_compressed file
        raise DataError(f"--data: {data} is not an .npz file with an array 'spikes' ({type(exc).__name__})") from None
    if spikes.ndim != 3 or spikes.shape[1:] != (stim.steps, stim.n_inputs) or not len(spikes):
        raise DataError(f"--data: spikes have shape {spikes.shape}; the model takes (samples, {stim.steps}, "
                        f"{stim.n_inputs}) with at least one sample")  # fmt: skip
    if spikes.dtype != np.bool_ and not ((spikes == 0) | (spikes == 1)).all():  # np.isin: 25x slower
        raise DataError("--data: spikes must be 0 or 1")
    if ipd is not None:
        if ipd.shape != spikes.shape[:1] or ipd.dtype.kind not in "iuf" or not np.isfinite(ipd).all():
            raise DataError(f"--data: ipd must hold one finite IPD (rad) per sample, shape ({len(spikes)},); "
                            f"got {ipd.dtype} of shape {ipd.shape}")  # fmt: skip
        if np.abs(ipd).max() > math.pi / 2 + 1e-6:  # the classes cover -90..90 deg; outside, the end classes
            raise DataError(f"--data: ipd must lie in -pi/2..pi/2 rad (-90..90 deg), got {ipd.min():g}..{ipd.max():g}"
                            + (" (degrees?)" if math.pi < np.abs(ipd).max() <= 90 else ""))  # fmt: skip
        # scored as given: float32 as the study's own stimuli, anything else in float64 (not rounded to float32)
        ipd = torch.from_numpy(ipd.astype(np.float32 if ipd.dtype == np.float32 else np.float64))
    if unread:  # true IPDs under another name would go unscored without a word
        print(f"{PROG}: note: --data: {data} has arrays it does not read: {', '.join(unread)} (it reads 'spikes' and "
              "'ipd', the true IPDs in rad" + ("); no true IPDs, so no scores" if ipd is None else ")"),
              file=sys.stderr)  # fmt: skip
    return torch.from_numpy(spikes.astype(bool)), ipd, hashlib.sha256(raw).hexdigest()


@_no_grad
def predict_ipd(ds: xr.Dataset, cfg: RunConfig, spikes: torch.Tensor, ipd: torch.Tensor | None) -> xr.Dataset:
    import torch
    import xarray as xr
    from tqdm.auto import tqdm

    from .backends import make_backend
    from .functional.lif import LIFParameters
    from .metrics import classification_metrics, continuise
    from .network import Architecture, Decoder, load_weights, weight_dims
    from .readouts import get_readout, sum_over_time

    repeats = [int(r) for r in ds["repeat"].values]
    params = LIFParameters(cfg.alpha, cfg.threshold, cfg.surrogate_slope, cfg.neuron)
    arch = Architecture.from_config(cfg)
    model = Decoder(spikes.shape[-1], cfg.hidden_sizes[0], cfg.n_classes, make_backend(cfg.backend),
                    get_readout(cfg.readout), params, cfg.init, [torch.Generator() for _ in repeats], arch)  # fmt: skip
    load_weights(model, {name: torch.from_numpy(ds[name].values) for name in weight_dims(arch)})
    classes = []
    # a bar on a terminal (--stimuli 20000: a minute), cleared at the end or a stop; none in a log, as merge's
    with tqdm(total=spikes.shape[0], desc=PROG, unit="sample", disable=None, leave=False) as bar:
        for start in range(0, spikes.shape[0], cfg.batch_size):
            x = spikes[start : start + cfg.batch_size].float().unsqueeze(0).expand(len(repeats), -1, -1, -1)
            score = model.read(model(x), sum_over_time if cfg.eval == "sum" else None)
            classes.append(score.argmax(-1))
            bar.update(x.shape[1])
    predicted = torch.cat(classes, 1)
    out = xr.Dataset(
        {"predicted_class": (("repeat", "sample"), predicted.numpy()),
         "predicted_ipd_deg": (("repeat", "sample"), np.degrees(continuise(predicted.double().numpy(), cfg.n_classes)),
                               {"units": "deg", "long_name": "IPD of the predicted class (bin midpoint)"})},
        coords={"repeat": repeats, "sample": np.arange(spikes.shape[0])},
    )  # fmt: skip
    if ipd is not None:
        scores = [classification_metrics(ipd, predicted[m], cfg.n_classes) for m in range(len(repeats))]
        out["ipd_deg"] = ("sample", np.degrees(ipd.double().numpy()), {"units": "deg", "long_name": "true IPD"})
        out["accuracy"] = ("repeat", np.array([s.acc for s in scores]), {"units": "%"})
        out["error_deg"] = (
            "repeat",
            np.array([s.err_deg for s in scores]),
            {"units": "deg", "long_name": "mean absolute IPD error"},
        )
    return out


def _seen(ds: xr.Dataset, cfg: RunConfig, out: xr.Dataset) -> str:
    """A BMI model predicting its own data set: which of the predicted folds trained it or
    chose its epoch (or ridge's strength), so that their FVAF is not read as a test score."""
    from .datasets import bmi as bmi_data

    keys = ("data_file_sha256", "synthetic_data_sha256")
    if not any(key in out.attrs and out.attrs[key] == ds.attrs.get(key) for key in keys):
        return ""
    train, val, test = bmi_data.fold_split(cfg.rotation, cfg.n_train_folds)
    folds = set(np.unique(out["fold"].values).tolist())
    trained, validated = len(folds & set(train.tolist())), val in folds
    if not trained and not validated:
        return ""
    chose = "its ridge strength" if cfg.model == "linear" else "its epoch"
    roles = [f"{trained} trained the model" if trained else "", f"1 chose {chose}" if validated else ""]
    return (
        f" over {plural(len(folds), 'fold')}, of which {' and '.join(r for r in roles if r)} "
        f"(its test fold: --fold {test})"
    )


@_no_grad
def predict_bmi(ds: xr.Dataset, cfg: RunConfig, data: str, folds: list[int] | None) -> xr.Dataset:
    import torch
    import xarray as xr

    from .datasets import bmi as bmi_data
    from .metrics import fvaf
    from .studies.bmi import check_target_columns, checked_inputs, weight_dims

    raw = bmi_data.load(data)
    chosen = folds if folds else list(range(bmi_data.N_FOLDS))
    for n, k in enumerate(chosen):
        if not 0 <= k < bmi_data.N_FOLDS:
            raise DataError(f"--fold: {k} is not a fold (0..{bmi_data.N_FOLDS - 1})")
        if k in chosen[:n]:
            raise DataError(f"--fold: fold {k} is given twice (its samples would count twice)")
    counts = bmi_data.mi_to_sequence(np.concatenate([raw["MI"][k] for k in chosen]), cfg.mi_order)
    y_true = np.concatenate([raw[cfg.target][k] for k in chosen])[:, list(cfg.dims)]
    time = np.concatenate([raw["time"][k] for k in chosen])
    fold = np.concatenate([np.full(len(raw["time"][k]), k) for k in chosen])
    check_target_columns(cfg, y_true, "predicted fold(s)", chosen, "--fold or data set")
    x = checked_inputs(cfg, counts, ds["x_mean"].values, ds["x_std"].values, "predicted fold(s)", chosen)
    w = {name: torch.from_numpy(ds[name].values) for name in weight_dims(cfg)}
    z = _bmi_outputs(cfg, w, x)  # (R, N, D) z-scored
    pred = z * ds["y_std"].values + ds["y_mean"].values
    units = ds["y_pred"].attrs.get("units", "")
    return xr.Dataset(
        {"y_pred": (("repeat", "sample", "output"), pred.astype(np.float32), {"units": units}),
         "y_true": (("sample", "output"), y_true, {"units": units}),
         "time": ("sample", time, {"units": "s"}), "fold": ("sample", fold),
         "fvaf": (("repeat", "output"), np.stack([fvaf(y_true, p) for p in pred]))},
        coords={"repeat": ds["repeat"].values, "output": ds["output"].values, "sample": np.arange(len(time))},
    )  # fmt: skip


def _bmi_outputs(cfg: RunConfig, w: dict[str, torch.Tensor], x: torch.Tensor) -> np.ndarray:
    if cfg.model == "linear":
        a = np.c_[x.double().numpy(), np.ones(x.shape[0])]
        return np.stack([a @ wr for wr in w["ridge_w"].double().numpy()])
    # the study's own models and products: the numbers of the result file, bit for bit
    import torch

    from .studies.bmi import ANNRegressor, SNNRegressor
    from .studies.bmi import predict as study_predict

    repeats = next(iter(w.values())).shape[0]
    generators = [torch.Generator() for _ in range(repeats)]
    if cfg.model == "ann":
        _, n_in, n_hidden = w["ann_w1"].shape
        model = ANNRegressor(n_in, n_hidden, w["ann_w2"].shape[-1], generators)
        names = {f"ann_{name}": name for name in ("w1", "b1", "w2", "b2")}
    else:
        from .network import load_weights

        # the stored w1 is the product the model used (a low-rank model's too): a full-rank model holds it
        model = SNNRegressor(cfg.replace(input_rank=0), w["head_scale"].shape[-1], generators)
        load_weights(model.decoder, w)
        names = {"head_scale": "scale", "head_bias": "bias", "readout_weights": "readout_weights"}
    params = dict(model.named_parameters())
    for stored, name in names.items():
        if stored in w:
            params[name].copy_(w[stored].reshape(params[name].shape))
    from tqdm.auto import tqdm

    # a bar on a terminal, as an IPD model's (20 folds of 2,600 samples: seconds), cleared at the end; none in a log
    with tqdm(total=x.shape[0], desc=PROG, unit="sample", disable=None, leave=False) as bar:
        return study_predict(model, x, repeats, bar.update).double().numpy()


def main(argv: list[str] | None = None) -> int:
    p = OneLineParser(prog=PROG, description=description_of(__doc__))
    p.add_argument("model", type=user_path, help="a result file holding the trained model (python -m snnsim.run --out)")
    p.add_argument(
        "--data",
        type=user_path,
        help="IPD: an .npz with 'spikes' (and 'ipd'); BMI: a bmi_dataset.pkl, or synthetic[:NAME[:SEED]]",
    )
    p.add_argument("--stimuli", type=_positive, help="IPD: draw this many fresh stimuli instead of --data")
    p.add_argument("--seed", type=_seed, help="IPD: seed of the fresh stimuli of --stimuli (default 0)")
    p.add_argument("--fold", type=_index, action="append", help="BMI: predict this fold (repeatable; default all)")
    p.add_argument("--out", required=True, type=user_path, help="the predictions file (.h5)")
    p.add_argument("--overwrite", action="store_true", help="replace --out if it exists")
    ns = p.parse_args(argv)

    def body() -> int:
        from . import results
        from .atomic_write import clean_and_report
        from .datasets import bmi as bmi_data
        from .threads import deterministic

        ds, cfg = load_model(ns.model)
        model_sha256 = results.file_sha256(results.resolve(ns.model))  # the model it read
        data_sha256 = None
        made = results.numerics_version(ds.attrs)
        if made != results.NUMERICS_VERSION:
            print(f"{PROG}: note: {ns.model} was trained by an snnsim of numerics version {made}, this one has "
                  f"{results.NUMERICS_VERSION}: its predictions here can differ from the scores it stored (in "
                  "the last bits, or more)", file=sys.stderr)  # fmt: skip
        elif otherwise := results.computed_otherwise(ds.attrs):  # the loops, libraries, CPU, variables
            print(f"{PROG}: note: {ns.model} was computed with {', '.join(otherwise)}: its predictions here can differ "
                  "from the scores it stored (in the last bits, or more)", file=sys.stderr)  # fmt: skip
        target = results.check_writable(
            ns.out,
            ns.overwrite,
            inputs={"the model file": ns.model, "the --data file": ns.data},
            hdf5="a predictions file",
        )
        clean_and_report(target, PROG, "predictions")  # temporaries of predictions killed in their write
        if cfg.study == "ipd":  # a flag of the other study first: it says what is wrong with the command
            if ns.fold:
                raise DataError("--fold is for BMI models; this is an IPD model")
            if (ns.data is None) == (ns.stimuli is None):
                raise DataError("give --data FILE.npz or --stimuli N (one of them) for an IPD model")
            if ns.seed is not None and ns.stimuli is None:
                raise DataError("--seed is the seed of the fresh stimuli of --stimuli; a --data file has its own")
            ns.seed = ns.seed or 0
            with deterministic():  # the run's own thread settings: its numbers, bit for bit
                spikes, ipd, data_sha256 = ipd_stimuli(cfg, ns.data, ns.stimuli, ns.seed)
                out = predict_ipd(ds, cfg, spikes, ipd)
        else:
            if ns.stimuli is not None:
                raise DataError("--stimuli is for IPD models; this is a BMI model")
            if ns.seed is not None:
                raise DataError("--seed is for IPD models (the seed of --stimuli); this is a BMI model")
            if ns.data is None:
                raise DataError("--data: give the data to predict on: a bmi_dataset.pkl, or synthetic[:NAME[:SEED]] "
                                f"(the model trained on {cfg.data or 'synthetic:standard:0'})")  # fmt: skip
            with deterministic():
                out = predict_bmi(ds, cfg, ns.data, ns.fold)
        out.attrs.update({"model": str(Path(ns.model).resolve()), "model_sha256": model_sha256,
                          "config": ds.attrs["config"], "complete": 1,
                          "seed": int(cfg.seed), "data": ns.data or f"{ns.stimuli} fresh stimuli, seed {ns.seed}",
                          "versions": json.dumps(results.library_versions(), sort_keys=True),
                          "snnsim_version": results.library_versions()["snnsim"], "device": "cpu", **results.hardware("cpu"),
                          "numerics_version": results.NUMERICS_VERSION,
                          "created": datetime.now(UTC).isoformat(timespec="seconds")})  # fmt: skip
        # what trained the model, as its file says (``versions`` and the rest above: what predicted)
        out.attrs.update({f"model_{k}": ds.attrs[k] for k in results.PROVENANCE if k in ds.attrs})
        out.attrs["model_numerics_version"] = made
        if ns.stimuli is not None:
            out.attrs["stimuli_seed"] = int(ns.seed)
        if cfg.study == "bmi" and bmi_data.is_file_source(ns.data):  # the bytes it read, as a run's file has it
            out.attrs["data_file_sha256"] = bmi_data.loaded_sha256(ns.data)
        elif cfg.study == "bmi" and (digest := bmi_data.synthetic_sha256(ns.data)):  # the arrays it decoded
            out.attrs["synthetic_data_sha256"] = digest
        elif cfg.study == "ipd" and data_sha256:  # the same for an IPD model's .npz
            out.attrs["data_file_sha256"] = data_sha256
        path = results.write(out, ns.out, overwrite=ns.overwrite)
        with after_writing(path):
            summary = ""
            if "accuracy" in out:
                summary = f"; accuracy {np.median(out.accuracy.values):.1f} % (median over repeats)"
            elif "fvaf" in out:
                summary = f"; FVAF {np.median(out.fvaf.values):.3f} (median over repeats and outputs)" \
                          f"{_seen(ds, cfg, out)}"  # fmt: skip
            print(f"{ns.out}: {plural(out.sizes['sample'], 'sample')} x {plural(out.sizes['repeat'], 'repeat')}"
                  f"{summary}")  # fmt: skip
        return 0

    def tidy() -> int:
        """:func:`body`, leaving no folder that the check of ``--out`` made where nothing was
        written there (bad input found after it, a full disk, a stop)."""
        from .atomic_write import no_empty_folders

        with no_empty_folders(ns.out):
            return body()

    with stop_on_signals():  # scancel in the middle of the write: no temporary left beside --out
        return guarded(PROG, tidy, memory="--stimuli, or a --data file of fewer samples")


if __name__ == "__main__":
    sys.exit(process(main))
