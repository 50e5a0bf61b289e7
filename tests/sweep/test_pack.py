"""Packs: several sweep tasks in one process (batched seeds, shared data) give each task exactly
the result file it gets when run alone."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from snnsim import runner
from snnsim.config import RunConfig
from snnsim.errors import SnnsimError
from snnsim.studies import bmi, ipd
from snnsim.sweep import cli
from snnsim.sweep.experiment import loads
from snnsim.sweep.jobs import checkpoint_path, n_packs, pack_indices, result_path, run_job, run_jobs, state

TEXT = """
name = "p"
[fixed]
study = "ipd"
backend = "fused"
epochs = 2
n_train_batches = 2
n_test_batches = 1
batch_size = 8
hidden = 6
n_classes = 4
[sweep]
readout = ["mean", "fr"]
tau = ["20ms", "2ms"]
seed = [0, 1, 2]
"""

NUMBERS = ("loss", "train_acc", "test_acc", "train_err_deg", "test_err_deg", "confusion", "w1", "w2")


def _load(path):
    with xr.open_dataset(path, engine="h5netcdf") as ds:
        return ds.load()


def _configs(ds):
    return {k: v for k, v in ds.attrs.items() if k.startswith("config_")}


def test_pack_indices_are_strided_and_cover_every_task_once():
    exp = loads(TEXT)
    assert exp.grid_size == 12 and n_packs(exp, 5) == 3
    packs = [pack_indices(exp, 5, p) for p in range(3)]
    assert packs[0] == [0, 3, 6, 9]
    assert sorted(i for pack in packs for i in pack) == list(range(12))
    assert all(len(pack) <= 5 for pack in packs)
    with pytest.raises(SnnsimError, match="pack 3 out of range"):
        pack_indices(exp, 5, 3)


def test_pack_equals_tasks_run_alone(tmp_path):
    exp = loads(TEXT)
    alone, packed = tmp_path / "alone", tmp_path / "packed"
    for i in range(exp.grid_size):
        assert run_job(exp, i, alone, log=lambda m: None) == 0
    logs = []
    assert run_jobs(exp, list(range(exp.grid_size)), packed, log=logs.append) == 0
    assert sum("wrote" in line for line in logs) == exp.grid_size
    for i in range(exp.grid_size):
        a, b = _load(result_path(exp, i, alone)), _load(result_path(exp, i, packed))
        for name in NUMBERS:
            np.testing.assert_array_equal(a[name].values, b[name].values, err_msg=f"task {i} {name}")
        assert _configs(a) == _configs(b)
        assert state(exp, i, packed).state == "done"
    # a second run of the pack finds everything done and trains nothing
    logs.clear()
    assert run_jobs(exp, list(range(exp.grid_size)), packed, log=logs.append) == 0
    assert all("already done" in line for line in logs)


def test_run_many_shares_data_across_readouts_and_taus(monkeypatch):
    """Four settings x two seeds: each seed's training and test sets are generated once."""
    calls = []
    real = ipd.make_stimuli

    def counting(cfg, seed, device, split):
        calls.append((seed, split))
        return real(cfg, seed, device, split)

    monkeypatch.setattr(ipd, "make_stimuli", counting)
    base = RunConfig(
        backend="fused", epochs=1, n_train_batches=2, n_test_batches=1, batch_size=8, hidden=6, n_classes=4
    )
    cfgs = [base.replace(readout=r, tau=t, seed=s) for r in ("mean", "fr") for t in (0.02, 0.002) for s in (0, 1)]
    out = runner.run_configs(cfgs, progress=False)
    assert sorted(calls) == [(0, "test"), (0, "train"), (1, "test"), (1, "train")]
    assert [int(ds.seed.item()) for ds in out] == [c.seed for c in cfgs]
    assert [ds.attrs["config_readout"] for ds in out] == [c.readout for c in cfgs]


def test_run_many_repeats_and_seeds_overlap():
    """A config with repeats and one with a single seed inside its range train as one batched
    model and agree with each other where their seeds coincide."""
    base = RunConfig(
        backend="fused", epochs=1, n_train_batches=2, n_test_batches=1, batch_size=8, hidden=6, n_classes=4
    )
    three, one = runner.run_configs([base.replace(seed=0, repeats=3), base.replace(seed=2)], progress=False)
    assert three.sizes["repeat"] == 3 and one.sizes["repeat"] == 1
    np.testing.assert_array_equal(three.loss.values[2], one.loss.values[0])
    np.testing.assert_array_equal(three.w1.values[2], one.w1.values[0])


def test_cli_count_and_local_with_packs(tmp_path, monkeypatch, capsys):
    path = tmp_path / "p.toml"
    path.write_text(TEXT)
    assert cli.main(["count", str(path), "--pack", "5"]) == 0
    assert capsys.readouterr().out.strip() == "3"
    root = tmp_path / "res"
    assert cli.main(["--results-dir", str(root), "local", str(path), "--pack", "6", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "ran 12 jobs in 2 packs of at most 6" in out and "2 ok, 0 not ok" in out
    exp = loads(TEXT)
    assert all(state(exp, i, root).state == "done" for i in range(exp.grid_size))
    assert cli.main(["run", str(path), "2", "--pack", "6"]) == 2  # pack out of range: one-line error
    assert "pack 2 out of range" in capsys.readouterr().err


def test_submit_with_packs_dry_run(tmp_path, capsys):
    path = tmp_path / "p.toml"
    path.write_text(TEXT)
    assert cli.main(["--results-dir", str(tmp_path / "r"), "submit", str(path), "--pack", "4", "--dry-run"]) == 0
    cmd = capsys.readouterr().out
    assert "--array=0-2" in cmd and cmd.rstrip().endswith("--pack 4")


BMI_NUMBERS = ("loss", "val_fvaf_curve", "train_fvaf", "val_fvaf", "test_fvaf", "test_rmse", "y_pred", "best_epoch")


def test_bmi_pack_equals_jobs_run_alone(tmp_path, monkeypatch, bmi_path):
    """BMI sweeps pack like IPD: the jobs of each model that differ only by seed train as one
    batched model, and every job's file equals the one it gets alone."""
    exp = loads(f"""
name = "b"
[fixed]
study = "bmi"
data = "{bmi_path}"
backend = "fused"
readout = "last"
tau = "2ms"
hidden = 8
epochs = 3
batch_size = 128
lr = 0.003
n_train_folds = 2
patience = 2
[sweep]
model = ["snn", "ann", "linear"]
seed = [0, 1, 2]
""")
    alone, packed = tmp_path / "alone", tmp_path / "packed"
    for i in range(exp.grid_size):
        assert run_job(exp, i, alone, log=lambda m: None) == 0
    trained = []
    real_fit = bmi.STUDY.fit

    def counting(model, cfgs, *args, **kwargs):
        trained.append(len(cfgs))
        return real_fit(model, cfgs, *args, **kwargs)

    monkeypatch.setattr(bmi.STUDY, "fit", counting)
    assert run_jobs(exp, list(range(exp.grid_size)), packed, log=lambda m: None) == 0
    assert trained == [3, 3, 3]  # one batched model of three seeds per model kind
    for i in range(exp.grid_size):
        a, b = _load(result_path(exp, i, alone)), _load(result_path(exp, i, packed))
        for name in BMI_NUMBERS:
            np.testing.assert_array_equal(a[name].values, b[name].values, err_msg=f"job {i} {name}")
        assert _configs(a) == _configs(b)
    # the seeds matter (the comparison is not vacuous), except for the deterministic ridge
    snn0, snn1 = _load(result_path(exp, 0, packed)), _load(result_path(exp, 1, packed))
    assert not np.array_equal(snn0.y_pred.values, snn1.y_pred.values)


def test_a_pack_checkpoint_says_it_resumes_only_in_its_pack(tmp_path):
    """A pack stopped before any of its results: `status` said each job "resumes from its
    checkpoint", and the resubmit it suggests, without --pack, ran each job alone from epoch 1
    (another batched model, another checkpoint). It says that the pack's checkpoint resumes in
    the pack only."""
    exp = loads(TEXT.replace("seed = [0, 1, 2]", "seed = [0]"))
    pack = pack_indices(exp, 2, 0)
    assert run_jobs(exp, pack, tmp_path, log=lambda m: None, keep_checkpoints=True) == 0
    for i in pack:  # as a pack stopped after its last epoch, before its result files
        result_path(exp, i, tmp_path).unlink()
    for i in pack:
        st = state(exp, i, tmp_path)
        assert st.state == "missing"
        assert st.reason == ("resumes from its checkpoint after epoch 2/2 when jobs 0,2 run again in one pack "
                             "(the --pack they ran with); run otherwise, from epoch 1"), st.reason  # fmt: skip
    logs = []
    assert run_jobs(exp, [0], tmp_path, log=logs.append) == 0
    assert not any("resuming" in m for m in logs), logs  # alone: trained from epoch 1, as status said


def test_a_pack_checkpoint_that_cannot_resume_is_named_and_removed(tmp_path):
    """A pack stopped after one of its results was written: its other jobs run in another batched
    model, which does not resume from the pack's checkpoint. `status` says so (not "resumes"),
    and the next run of the pack removes that checkpoint (61 MB for a pack of hidden 3000)."""
    exp = loads(TEXT.replace("seed = [0, 1, 2]", "seed = [0]"))
    pack = pack_indices(exp, 2, 0)
    assert pack == [0, 2]
    assert run_jobs(exp, pack, tmp_path, log=lambda m: None, keep_checkpoints=True) == 0
    ckpt = checkpoint_path(exp, pack, [0], tmp_path)
    assert ckpt.exists() and ckpt.with_name(ckpt.name + ".json").exists()
    result_path(exp, 2, tmp_path).unlink()  # as a pack stopped between its two result files
    st = state(exp, 2, tmp_path)
    assert st.state == "missing"
    assert st.reason == "its checkpoint (epoch 2/2, of jobs 0,2) cannot resume: job 0 is done since", st.reason
    logs = []
    assert run_jobs(exp, pack, tmp_path, log=logs.append) == 0
    assert f"removed the checkpoint {ckpt.name} (epoch 2/2): job 0 of it is done, so it cannot resume" in logs, logs
    assert not ckpt.exists() and not ckpt.with_name(ckpt.name + ".json").exists()
    assert state(exp, 2, tmp_path).state == "done"
    assert not [p.name for p in (tmp_path / exp.name).iterdir() if ".ckpt" in p.name]


def test_each_job_of_a_pack_names_the_kernels_it_used(tmp_path, bmi_path):
    """A pack runs a spiking decoder, then an ANN and ridge in one process: the spiking one asked
    for the compiled kernels, the others asked for none. Each file names what computed its own
    run (``none`` for the ANN and ridge, as alone), not what this process used before it."""
    from snnsim import results

    exp = loads(f"""
name = "k"
[fixed]
study = "bmi"
data = "{bmi_path}"
backend = "fused"
readout = "last"
tau = "2ms"
hidden = 8
epochs = 1
batch_size = 128
n_train_folds = 2
[sweep]
model = ["snn", "ann", "linear"]
""")
    assert run_jobs(exp, [0, 1, 2], tmp_path, log=lambda m: None) == 0
    kernels = {}
    for i in range(exp.grid_size):
        attrs = results.load(result_path(exp, i, tmp_path)).attrs
        kernels[attrs["config_model"]] = attrs["kernels"]
    assert kernels["snn"].startswith(("compiled", "torch loops")), kernels
    assert kernels["ann"] == kernels["linear"] == "none", kernels
