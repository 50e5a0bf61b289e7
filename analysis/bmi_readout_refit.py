"""Is the spiking decoder's output layer what keeps it below ridge? Refit a linear readout of
its hidden spikes in closed form and compare (BMI result files of ``--model snn``).

For every repeat of each file, the trained hidden layer is run again (snnTorch backend, the
same equations) on the training, validation and test folds; ridge regression, strength chosen
on the validation fold (the ridge decoder's grid), then maps (a) each hidden neuron's spike
count per sample or (b) its spikes per step to the z-scored targets. Prints validation, test
and training FVAF of the decoder as trained and of both refits.

python analysis/bmi_readout_refit.py weak.h5 fragmented.h5

A run made from a data file reads the file its config names, a path that may be relative to the
folder the run started in; ``--data FILE`` gives it from elsewhere. Either is refused unless it
is the file the run was made from (the SHA-256 its result file records).
"""

import numpy as np
import torch
import xarray as xr
from _common import WrongResultError, describe, instead, is_predictions, parser, run, run_data

from snnsim import results
from snnsim.cli import user_path
from snnsim.config import RunConfig
from snnsim.metrics import fvaf
from snnsim.model_file import load_model
from snnsim.network import load_weights
from snnsim.studies.bmi import SNNRegressor, prepare, ridge, weight_dims

PROG = "bmi_readout_refit"
SPLITS = ("train", "val", "test")


def refit(features: dict[str, np.ndarray], y: dict[str, np.ndarray]) -> dict[str, float]:
    """FVAF per split of ridge from ``features`` to ``y``, its strength chosen on ``val``."""
    w, _, _ = ridge(features["train"], y["train"], features["val"], y["val"])
    return {s: float(fvaf(y[s], np.c_[features[s], np.ones(len(features[s]))] @ w).mean()) for s in SPLITS}


def snn_run(path: str, data: str | None = None) -> tuple[xr.Dataset, RunConfig]:
    """The run file ``path`` and its config, on ``data`` (``--data``) if given; WrongResultError
    unless a BMI ``--model snn`` run, DataError unless its data file is the one it was made from."""
    if is_predictions(ds := results.load(path)):  # else "holds no trained model (...; a predictions file?)"
        raise WrongResultError(f"{path} is {describe(ds)}, not a BMI --model snn run file{instead(ds, False)}")
    ds, cfg = load_model(path)
    if cfg.study != "bmi" or cfg.model != "snn":
        model = f" of --model {cfg.model}" if cfg.study == "bmi" else ""
        raise WrongResultError(f"{path} is {describe(ds)}{model}, not a BMI --model snn run file")
    return ds, cfg.replace(data=run_data(path, ds, data))


def hidden_spikes(ds: xr.Dataset, cfg: RunConfig) -> tuple[np.ndarray, dict, dict]:
    """Hidden spikes (repeat, sample, step, neuron) per split, targets per split, FVAF as trained."""
    data = prepare(cfg)
    w = {name: torch.from_numpy(ds[name].values) for name in weight_dims(cfg)}
    repeats = w["head_scale"].shape[0]
    # the stored w1 is the product the model used; the snnTorch backend keeps every record
    model = SNNRegressor(cfg.replace(input_rank=0, backend="snntorch"), w["head_scale"].shape[-1],
                         [torch.Generator() for _ in range(repeats)])  # fmt: skip
    load_weights(model.decoder, w)
    model.eval()
    spikes = {}
    with torch.no_grad():
        for s in SPLITS:
            x = getattr(data.x, s)
            chunks = [model.decode(c.unsqueeze(0).expand(repeats, *c.shape)).hidden_spikes for c in x.split(2048)]
            spikes[s] = torch.cat(chunks, 1).double().numpy()
    y = {s: getattr(data.y, s).double().numpy() for s in SPLITS}
    trained = {s: ds[f"{s}_fvaf"].mean("output").values for s in SPLITS}
    return spikes, y, trained


def main() -> None:
    p = parser(PROG, __doc__)
    p.add_argument("runs", nargs="+", type=user_path, metavar="RUN.h5", help="result files of BMI --model snn runs")
    p.add_argument("--data", type=user_path, metavar="FILE", help="the data file the runs were made from, in place of "
                   "the path their configs record (relative to the folder each run started in)")  # fmt: skip
    args = p.parse_args()
    paths = args.runs
    runs = [snn_run(path, args.data) for path in paths]  # every file checked before the first is run
    print("| file | repeat | hidden spikes per neuron and sample | as trained val / test / train "
          "| refit on counts | refit per step |")  # fmt: skip
    print("|---|---|---|---|---|---|")
    for path, (ds, cfg) in zip(paths, runs, strict=True):
        spikes, y, trained = hidden_spikes(ds, cfg)
        for r in range(spikes["train"].shape[0]):
            s = {k: v[r] for k, v in spikes.items()}
            counts = refit({k: v.sum(1) for k, v in s.items()}, y)
            steps = refit({k: v.reshape(len(v), -1) for k, v in s.items()}, y)
            cells = [" / ".join(f"{f[k]:.3f}" for k in ("val", "test", "train")) for f in (
                {k: trained[k][r] for k in SPLITS}, counts, steps)]  # fmt: skip
            per_sample = s["train"].sum((1, 2)).mean() / s["train"].shape[-1]
            print(f"| {path} | {r} | {per_sample:.2f} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    run(PROG, main)
