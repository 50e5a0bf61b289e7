"""A trained model of a result file: the checks that it holds the tensors its config's model needs,
in the shapes it gives, and is no predictions file; shared by ``predict`` and ``export``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from .errors import ResultError

if TYPE_CHECKING:  # torch and xarray load where a model is checked: not for --help or a refusal
    import xarray as xr

    from .config import RunConfig


def load_model(path: str | Path) -> tuple[xr.Dataset, RunConfig]:
    """The result file at ``path`` and its config, refused in one line unless it holds the whole
    trained model its config gives (:func:`check_complete`, :func:`check_shapes`; for BMI with its
    predictions, whose units the model's outputs take)."""
    from . import results

    ds = results.load(path)
    cfg = results.config_of(ds, path)
    check_complete(ds, cfg, path, also=("y_pred",) if cfg.study == "bmi" else ())  # y_pred: its units
    check_shapes(ds, cfg, path)
    return ds, cfg


def refuse_predictions(ds: xr.Dataset, path: str | Path) -> None:
    """Refuse a predictions file (python -m snnsim.predict's own output: attributes ``model``,
    ``model_sha256``) given as a trained model, naming its model."""
    if "model" in ds.attrs:
        made_by = ds.attrs["model"] + (f" (SHA-256 {sha[:12]}...)" if (sha := ds.attrs.get("model_sha256")) else "")
        raise ResultError(f"{path}: a predictions file (python -m snnsim.predict) of the model in {made_by}, not a "
                          f"trained model; give {ds.attrs['model']}")  # fmt: skip


def check_complete(ds: xr.Dataset, cfg: RunConfig, path: str | Path, also: tuple[str, ...] = ()) -> None:
    """Refuse a model file that lacks a tensor its config's model needs (w1, w2 and the
    model-space tensors; for BMI also its head and normalisation), and those named in ``also``:
    one line, not a KeyError from xarray (predict) or a graph without them (export). A
    predictions file (its model's config, no weights) is named as one, with its model."""
    refuse_predictions(ds, path)
    if cfg.study == "ipd":
        from .network import Architecture, weight_dims

        needed = list(weight_dims(Architecture.from_config(cfg)))
    else:
        from .studies.bmi import weight_dims

        needed = [*weight_dims(cfg), "x_mean", "x_std", "y_mean", "y_std"]
    missing = [name for name in (*needed, *also) if name not in ds]
    if missing:
        raise ResultError(f"{path}: holds no trained model (no {', '.join(missing)})")


def trained_shapes(cfg: RunConfig) -> dict[str, tuple[int, ...]]:
    """The shapes (per repeat) of the trained tensors, and for BMI of the normalisation, that a
    result file of ``cfg`` holds: those of the model its study builds (``make_model``)."""
    import torch

    from .studies import get_study

    model = get_study(cfg.study).make_model([cfg], [0], torch.device("cpu"))
    if cfg.study == "ipd":
        from .network import weight_values

        return {name: v.shape for name, v in weight_values(model, 0).items()}
    from .datasets.bmi import N_BINS, N_NEURONS
    from .studies.bmi import RidgeRegressor, weights_of

    n_out, n_in = len(cfg.dims), N_BINS * N_NEURONS
    shapes = ({"ridge_w": (n_in + 1, n_out)} if isinstance(model, RidgeRegressor) else
              {name: v.shape for name, v in weights_of(model, 0).items()})  # fmt: skip
    x = N_NEURONS if cfg.model == "snn" else n_in
    return {**shapes, "x_mean": (x,), "x_std": (x,), "y_mean": (n_out,), "y_std": (n_out,)}


def check_shapes(ds: xr.Dataset, cfg: RunConfig, path: str | Path) -> None:
    """Refuse a model file whose stored tensors do not have the shapes its config gives (a file
    edited by hand, or its config changed): one line, not an error from inside torch."""
    for name, shape in trained_shapes(cfg).items():
        if name in ds:
            stored = tuple(n for d, n in ds[name].sizes.items() if d != "repeat")
            if stored != tuple(shape):
                raise ResultError(f"{path}: its {name} has shape {stored} per repeat, but its config gives "
                                  f"{tuple(shape)}; its weights and config do not belong together")  # fmt: skip
