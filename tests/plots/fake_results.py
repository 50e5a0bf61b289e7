"""Hand-made result datasets of exactly the schema the figures read (fast: no training).

Single runs as :mod:`snnsim.studies.ipd` / the BMI task write them, and merged grids stacked like
``snnsim.sweep merge`` (one new dim per swept setting, NaN where missing)."""

from __future__ import annotations

import json

import numpy as np
import xarray as xr

N_CLASSES = 12


def cost_variables(rng, repeats, spiking_inputs=True, spiking=True):
    """The cost variables of :mod:`snnsim.costs` over ``repeat``: synaptic operations per sample
    (accumulates for spike inputs and hidden spikes, multiply-accumulates for real inputs)."""
    from snnsim.costs import VARIABLES

    n_params = float(rng.integers(500, 5000))
    acs = rng.uniform(1e3, 1e5, repeats) if spiking else np.zeros(repeats)
    macs = np.zeros(repeats) if spiking_inputs else rng.uniform(1e3, 1e5, repeats)
    values = {
        "n_params": np.full(repeats, n_params),
        "footprint_bytes": np.full(repeats, 4 * n_params),
        "connection_sparsity": np.zeros(repeats),
        "activation_sparsity": rng.uniform(0.8, 1, repeats) if spiking else np.full(repeats, np.nan),
        "synops_dense": np.full(repeats, 100 * n_params),
        "synops_eff_macs": macs,
        "synops_eff_acs": acs,
        "hidden_rate_hz": rng.uniform(1, 50, repeats) if spiking else np.full(repeats, np.nan),
    }
    return {name: ("repeat", values[name], {"units": units, "long_name": long}) for name, units, long in VARIABLES}


def ipd_run(rng, repeats=3, epochs=4, readout="fr", tau=0.002):
    classes = np.arange(N_CLASSES)
    conf = rng.integers(0, 5, size=(repeats, N_CLASSES, N_CLASSES))
    conf[:, classes, classes] += 20
    ds = xr.Dataset(
        {
            "train_acc": ("repeat", rng.uniform(40, 90, repeats), {"units": "%"}),
            "test_acc": ("repeat", rng.uniform(30, 80, repeats), {"units": "%"}),
            "train_err_deg": ("repeat", rng.uniform(3, 20, repeats), {"units": "deg"}),
            "test_err_deg": ("repeat", rng.uniform(3, 30, repeats), {"units": "deg"}),
            "train_seconds": ("repeat", rng.uniform(1, 2, repeats), {"units": "s"}),
            "loss": (
                ("repeat", "epoch"),
                2.5 - np.cumsum(rng.uniform(0, 0.3, (repeats, epochs)), axis=1),
                {"long_name": "mean training loss (NLL)"},
            ),
            "confusion": (("repeat", "true_class", "pred_class"), conf),
            **cost_variables(rng, repeats),
        },
        coords={
            "repeat": np.arange(repeats),
            "epoch": np.arange(1, epochs + 1),
            "true_class": classes,
            "pred_class": classes,
            "class_ipd_deg": ("true_class", -90 + 15 * (classes + 0.5)),
            "seed": ("repeat", np.arange(repeats)),
        },
    )
    cfg = {"study": "ipd", "readout": readout, "tau": tau, "n_classes": N_CLASSES, "dt": 0.001, "anf_per_ear": 100}
    ds.attrs.update(
        {"config": json.dumps(cfg), "study": "ipd", "complete": 1, **{f"config_{k}": v for k, v in cfg.items()}}
    )
    return ds


def ipd_merged(rng, readouts=("mean", "max", "fr"), taus=(0.02, 0.002), seeds=3, epochs=4):
    """Stacked like ``snnsim.sweep merge``: one new dim per swept setting, repeat of length 1."""
    rows = []
    for r in readouts:
        cols = []
        for t in taus:
            runs = [ipd_run(rng, 1, epochs, r, t).drop_vars("seed") for _ in range(seeds)]
            cols.append(xr.concat(runs, dim="seed", combine_attrs="drop").assign_coords(seed=np.arange(seeds)))
        rows.append(xr.concat(cols, dim="tau").assign_coords(tau=list(taus)))
    ds = xr.concat(rows, dim="readout").assign_coords(readout=list(readouts))
    ds.attrs.update({"complete": 1, "study": "ipd", "experiment": "ipd_readouts"})
    return ds


def bmi_run(rng, repeats=2, n_blocks=4, block=60, model="snn", n_train_folds=18, rotation=15, epochs=6):
    """A BMI run: test fold of ``n_blocks`` contiguous blocks (50 ms samples) with gaps."""
    times = []
    clock = 100.0
    for _ in range(n_blocks):
        times.append(clock + 0.05 * np.arange(block))
        clock = times[-1][-1] + rng.uniform(1, 4)
    time = np.concatenate(times)
    n = time.size
    truth = np.stack([np.sin(time), np.cos(0.7 * time)], axis=1)
    pred = truth[None] + rng.normal(0, 0.2, (repeats, n, 2))
    outputs = ["shoulder", "elbow"]
    data = {
        f"{s}_{m}": (("repeat", "output"), rng.uniform(lo, hi, (repeats, 2)))
        for s in ("train", "val", "test")
        for m, lo, hi in (("fvaf", 0.2, 0.9), ("rmse", 0.1, 0.6))
    }
    data.update(
        {
            "train_seconds": ("repeat", rng.uniform(1, 2, repeats)),
            "loss": (("repeat", "epoch"), 1 - np.cumsum(rng.uniform(0, 0.1, (repeats, epochs)), axis=1)),
            "val_loss": (("repeat", "epoch"), 1.1 - np.cumsum(rng.uniform(0, 0.08, (repeats, epochs)), axis=1)),
            "time": ("sample", time, {"units": "s"}),
            "y_true": (("sample", "output"), truth, {"units": "rad/s"}),
            "y_pred": (("repeat", "sample", "output"), pred, {"units": "rad/s"}),
            **cost_variables(rng, repeats, spiking_inputs=False, spiking=model == "snn"),
        }
    )
    ds = xr.Dataset(
        data,
        coords={
            "repeat": np.arange(repeats),
            "epoch": np.arange(1, epochs + 1),
            "sample": np.arange(n),
            "output": outputs,
        },
    )
    cfg = {
        "study": "bmi",
        "model": model,
        "n_train_folds": n_train_folds,
        "rotation": rotation,
        "target": "dtheta",
        "dims": [0, 1],
    }
    ds.attrs.update(
        {
            "config": json.dumps(cfg),
            "study": "bmi",
            "complete": 1,
            **{f"config_{k}": (json.dumps(v) if isinstance(v, list) else v) for k, v in cfg.items()},
        }
    )
    return ds


def bmi_merged(rng, models=("snn", "ann", "linear"), folds=(1, 2, 4, 8), rotations=(15, 16), repeats=2):
    rows = []
    for m in models:
        cols = []
        for f in folds:
            rots = [
                bmi_run(
                    np.random.default_rng(100 + r),
                    repeats,
                    block=60 + (r - rotations[0]) * 7,
                    model=m,
                    n_train_folds=f,
                    rotation=r,
                )
                for r in rotations
            ]
            # same test fold per rotation for every model: rebuild the predictions only
            for ds in rots:
                for name in ("train_fvaf", "val_fvaf", "test_fvaf", "train_rmse", "val_rmse", "test_rmse"):
                    ds[name] = (("repeat", "output"), rng.uniform(0, 1, (repeats, 2)))
                ds["y_pred"] = ds["y_true"].expand_dims(repeat=repeats).transpose(
                    "repeat", "sample", "output"
                ) + rng.normal(0, 0.3, (repeats, ds.sizes["sample"], 2))
            # test folds differ in length: NaN-padded along sample, as a merge leaves them
            cols.append(
                xr.concat(rots, dim="rotation", combine_attrs="drop", data_vars="all", join="outer").assign_coords(
                    rotation=list(rotations)
                )
            )
        rows.append(xr.concat(cols, dim="n_train_folds", data_vars="all").assign_coords(n_train_folds=list(folds)))
    ds = xr.concat(rows, dim="model", data_vars="all").assign_coords(model=list(models))
    ds.attrs.update({"complete": 1, "study": "bmi", "experiment": "bmi_training_size", "config_target": "dtheta"})
    return ds


def dims_merged(rng, dims=("0", "1", "0,1"), **kwargs):
    """``bmi_merged`` swept over ``dims`` as ``sweep merge`` leaves it: the union of the outputs
    in the order of their names (elbow, shoulder), NaN at every point for a joint it does not decode."""
    one = bmi_merged(rng, **kwargs)
    points = []
    for value in dims:
        ds = one.copy(deep=True)
        undecoded = [joint for i, joint in enumerate(("shoulder", "elbow")) if str(i) not in value.split(",")]
        for name, da in ds.data_vars.items():
            if "output" in da.dims and undecoded:
                ds[name].loc[dict(output=undecoded)] = np.nan
        points.append(ds)
    merged = xr.concat(points, dim="dims", data_vars="all").assign_coords(dims=list(dims))
    return merged.sel(output=sorted(merged["output"].values.tolist()))
