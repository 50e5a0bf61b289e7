"""The synthetic BMI generator family: ``synthetic:NAME:SEED`` sources, one-line errors, the
standard member is the default data set, and each member changes what its name says."""

from __future__ import annotations

import io
import subprocess
import sys

import numpy as np
import pytest

from snnsim.datasets import bmi as bmi_data
from snnsim.datasets import bmi_synthetic as syn
from snnsim.errors import DataError


@pytest.mark.parametrize(
    "text,expected",
    [("synthetic", ("standard", 0)), ("synthetic:noisy", ("noisy", 0)), ("synthetic:weak:3", ("weak", 3)),
     ("data/bmi_dataset.pkl", None), ("synthetic.pkl", None)],
)  # fmt: skip
def test_parse_source(text, expected):
    assert syn.parse_source(text) == expected


@pytest.mark.parametrize("text,message", [("synthetic:nope", "unknown synthetic generator 'nope'"),
                                          ("synthetic:weak:x", "must be an integer"),
                                          ("synthetic:weak:-1", "must be an integer in 0..4294967295"),
                                          ("synthetic:weak: 3", "must be an integer in 0..4294967295"),
                                          ("synthetic:weak:\u0663", "must be an integer in 0..4294967295"),
                                          ("synthetic:weak:" + "9" * 300, "must be an integer in 0..4294967295")])  # fmt: skip
def test_bad_sources_are_one_line(text, message, capsys):
    with pytest.raises(DataError, match=message):
        bmi_data.load(text)
    from snnsim.run import main

    assert main(["--study", "bmi", "--data", text, "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("snnsim.run: error: --data:") and message in err[0]


def test_a_file_named_as_a_bad_source_is_pointed_to(tmp_path, monkeypatch, capsys):
    """A data file whose name starts with ``synthetic:`` (``synthetic:heldout.pkl``) is read as a
    synthetic set and refused; the refusal said nothing of the file that is there, nor how to read it."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "synthetic:heldout.pkl").write_bytes(b"")
    hint = "; a file of that name is here: give ./synthetic:heldout.pkl to read it"
    with pytest.raises(DataError, match=f"unknown synthetic generator 'heldout.pkl'.*{hint}$"):
        bmi_data.load("synthetic:heldout.pkl")
    from snnsim.run import main

    assert main(["--study", "bmi", "--model", "linear", "--data", "synthetic:heldout.pkl", "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].endswith(hint)
    assert syn.parse_source("./synthetic:heldout.pkl") is None  # the form the hint gives is a file
    with pytest.raises(ValueError, match="unknown synthetic generator 'other.pkl'.*SEED an integer in 0..4294967295$"):
        syn.parse_source("synthetic:other.pkl")  # no such file: no hint


FAMILY_AND_FORMS = ("standard, sparse, weak, noisy, drifting, lagged, fragmented", "synthetic:NAME:SEED")
#: Not one of the documented forms (synthetic, synthetic:NAME, synthetic:NAME:SEED): each refused.
UNDOCUMENTED = ["synthetic:", "synthetic::3", "synthetic:standard:", "synthetic:Standard:1", "synthetic:standard:-1",
                "synthetic:standard:1.5", "synthetic:standard:1:2"]  # fmt: skip


@pytest.mark.parametrize("text", UNDOCUMENTED)
def test_undocumented_forms_are_refused_by_the_config_naming_the_family(text, tmp_path, capsys):
    """The config refuses them (no run of the standard set instead), so the CLI, experiment files
    and tuning specs do, each in one line that names the family's members and the forms."""
    from snnsim import tune
    from snnsim.config import RunConfig, coerce
    from snnsim.errors import ConfigError
    from snnsim.run import main
    from snnsim.sweep.experiment import ExperimentError, loads

    with pytest.raises(ConfigError, match=r"^--data: ") as info:
        RunConfig(study="bmi", data=text)
    assert all(part in str(info.value) for part in FAMILY_AND_FORMS) and repr(text) in str(info.value)
    with pytest.raises(ConfigError):
        coerce("data", text)
    out = tmp_path / "r.h5"
    assert main(["--study", "bmi", "--model", "linear", "--data", text, "--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("snnsim.run: error: --data:") and FAMILY_AND_FORMS[0] in err[0]
    assert not out.exists()
    with pytest.raises(ExperimentError, match="data: .*" + FAMILY_AND_FORMS[0]):
        loads(f'name = "x"\n[fixed]\nstudy = "bmi"\nmodel = "linear"\n[sweep]\ndata = ["synthetic:weak:1", "{text}"]\n')
    spec = 'name = "t"\ntrials = 2\n[fixed]\nstudy = "bmi"\n{fixed}[search]\n{search}\n'
    lr = "lr = { low = 1e-3, high = 1e-2, log = true }"
    for fixed, search in ((f'data = "{text}"\n', lr), ("", f'data = {{ choices = ["synthetic:weak:1", "{text}"] }}')):
        (tmp_path / "spec.toml").write_text(spec.format(fixed=fixed, search=search))
        with pytest.raises(tune.SpecError, match=r"\.data: .*" + FAMILY_AND_FORMS[0]):
            tune.load(tmp_path / "spec.toml")


def test_synthetic_sources_are_checked_without_torch():
    """A config of a synthetic source is checked where torch is absent (sweep count and show)."""
    code = ("import sys; sys.modules['torch'] = None; from snnsim.config import RunConfig; "
            "print(RunConfig(study='bmi', data='synthetic:weak:1').data)")  # fmt: skip
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and proc.stdout.strip() == "synthetic:weak:1", proc.stderr


def test_cache_names():
    assert syn.cache_path(0).name == f"bmi_synthetic_v{syn.VERSION}_seed0.pkl"  # the default set's old name
    assert syn.cache_path(3, "noisy").name == f"bmi_synthetic_v{syn.VERSION}_noisy_seed3.pkl"


def _blocks(data: dict) -> list[int]:
    """Contiguous blocks per fold (time jumps of more than one bin, plus one)."""
    return [int((np.diff(t[:, 0]) > 1.5 * syn.BIN).sum()) + 1 for t in data["time"]]


def test_members_change_what_they_say():
    standard = syn.generate(0, samples_per_fold=300)
    assert all(4 <= b <= 6 for b in _blocks(standard))
    same = syn.generate(0, samples_per_fold=300, gen=syn.FAMILY["standard"])
    assert all(np.array_equal(a, b) for k in standard for a, b in zip(standard[k], same[k]))
    sparse = syn.generate(0, samples_per_fold=300, gen=syn.FAMILY["sparse"])
    rate = lambda d: np.mean([mi.mean() for mi in d["MI"]]) / syn.BIN  # noqa: E731  (Hz)
    assert rate(sparse) < 0.6 * rate(standard)
    fragmented = syn.generate(0, samples_per_fold=300, gen=syn.FAMILY["fragmented"])
    assert all(8 <= b <= 12 for b in _blocks(fragmented))
    # the arm's movements do not depend on the neurons' settings
    np.testing.assert_array_equal(standard["dtheta"][0][:50], sparse["dtheta"][0][:50])


@pytest.fixture(scope="module")
def standard_300():
    return syn.generate(0, samples_per_fold=300)


@pytest.mark.parametrize("member", [m for m in syn.FAMILY if m != "standard"])
def test_every_member_is_a_data_set_of_its_own(member, standard_300):
    """Each member's spike counts differ from the standard set's of the same seed (a member whose
    setting the generator ignored, reading the module's constant, was the standard set under
    another name; only ``sparse`` and ``fragmented`` had been checked)."""
    other = syn.generate(0, samples_per_fold=300, gen=syn.FAMILY[member])
    assert any(a.shape != b.shape or not np.array_equal(a, b) for a, b in zip(standard_300["MI"], other["MI"]))


def test_each_sample_holds_the_20_bins_before_it_neuron_major_the_newest_last():
    """``MI`` is neuron-major (column = neuron * 20 + bin) with bin 19 the newest 50 ms: within a
    block, the next sample (50 ms later) sees the same counts one bin older, so its bins 0..18 of
    each neuron are this sample's bins 1..19. The layout had not been checked: bin-major columns,
    or the bins in reverse order, passed every test."""
    data = syn.generate(0, samples_per_fold=300)
    shifts = 0
    for mi, t in zip(data["MI"][:3], data["time"][:3]):
        windows = mi.reshape(len(mi), syn.N_NEURONS, syn.N_BINS)
        same_block = np.flatnonzero(np.isclose(np.diff(t[:, 0]), syn.BIN))  # j and j + 1 in one block
        assert len(same_block) >= len(mi) - 6
        np.testing.assert_array_equal(windows[same_block + 1, :, :-1], windows[same_block, :, 1:])
        shifts += int((windows[same_block + 1, :, -1] != windows[same_block, :, -1]).sum())
    assert shifts > 0  # the newest bin is new: not a window of constant counts


def test_the_arms_velocity_and_acceleration_are_the_derivatives_of_its_angles():
    """The minimum-jerk reaches' ``dtheta`` and ``ddtheta`` are exact: the time derivatives of
    ``theta`` and ``dtheta`` (central differences at the 10 ms steps, pauses included; the
    acceleration jumps where a reach starts, within a step)."""
    dt = syn.BIN / syn.SUB
    theta, dtheta, ddtheta = syn._min_jerk(2000, dt, np.random.default_rng(4), np.array([0.45, 1.3]))
    assert np.ptp(theta, axis=0).min() > 0.5  # the arm moves
    for x, dx, within in ((theta, dtheta, 0.01), (dtheta, ddtheta, 0.05)):  # a reach starts at a step's end
        np.testing.assert_allclose(np.gradient(x, dt, axis=0)[1:-1], dx[1:-1], atol=within * np.abs(dx).max())


def test_the_torque_is_that_of_the_arms_energy_balance():
    """``torque`` follows two-link rigid-body dynamics without gravity: the power the torques put
    in, less that of the viscous damping, is the rate of change of the arm's kinetic energy
    ``q'ᵀ H(q) q' / 2`` (H of the module's arm), along a smooth movement of both joints. A
    Coriolis or centripetal term of the wrong sign or size, or no damping, breaks the balance."""
    m1, m2, l1, r1, r2, i1, i2, b = 1.9, 1.7, 0.3, 0.16, 0.19, 0.017, 0.026, 0.05  # the module's arm
    t = np.linspace(0.0, 2.0, 20001)
    dt = t[1] - t[0]
    q = np.stack([0.4 + 0.6 * np.sin(2.1 * t), 1.2 + 0.7 * np.sin(3.3 * t + 0.5)], axis=1)
    dq = np.stack([0.6 * 2.1 * np.cos(2.1 * t), 0.7 * 3.3 * np.cos(3.3 * t + 0.5)], axis=1)
    ddq = np.stack([-0.6 * 2.1**2 * np.sin(2.1 * t), -0.7 * 3.3**2 * np.sin(3.3 * t + 0.5)], axis=1)
    c2 = np.cos(q[:, 1])
    h11 = i1 + i2 + m1 * r1**2 + m2 * (l1**2 + r2**2 + 2 * l1 * r2 * c2)
    h12 = i2 + m2 * (r2**2 + l1 * r2 * c2)
    h22 = i2 + m2 * r2**2
    kinetic = 0.5 * (h11 * dq[:, 0] ** 2 + 2 * h12 * dq[:, 0] * dq[:, 1] + h22 * dq[:, 1] ** 2)
    torque = syn._torque(q, dq, ddq)
    power = (torque * dq).sum(1) - b * (dq**2).sum(1)
    np.testing.assert_allclose(np.gradient(kinetic, dt)[1:-1], power[1:-1], atol=1e-5 * np.abs(power).max())


def test_folds_too_small_for_the_blocks_are_refused_by_name():
    """A fold holds up to ``blocks`` blocks, the first and last at least EDGE samples long."""
    frag = syn.FAMILY["fragmented"]
    least = 2 * syn.EDGE + frag.blocks[1] - 1
    with pytest.raises(ValueError, match=rf"^samples_per_fold must be an integer >= {least} .* got {least - 1}$"):
        syn.generate(samples_per_fold=least - 1, gen=frag)
    data = syn.generate(samples_per_fold=np.int64(least), gen=frag)  # the least is enough, a numpy int too
    assert all(len(mi) == least for mi in data["MI"])
    with pytest.raises(ValueError, match="got 300.0"):
        syn.generate(samples_per_fold=300.0)


def test_a_run_never_writes_over_a_synthetic_sets_cache(monkeypatch, tmp_path, capsys):
    """``--out`` naming the cache file that ``--data synthetic:...`` (or the default) reads is the
    --data file, refused as a data file given by its path is."""
    from snnsim.run import main

    monkeypatch.setenv("SNNSIM_CACHE", str(tmp_path))
    for data in (["--data", "synthetic:standard:0"], []):
        cache = syn.cache_path(0)
        assert main(["--study", "bmi", "--model", "linear", *data, "--out", str(cache), "--overwrite", "--quiet"]) == 2
        assert (
            capsys.readouterr().err.strip()
            == f"snnsim.run: error: --out: {cache} is the --data file; write to another file"
        )


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_generating_the_synthetic_set_says_so_on_a_terminal(monkeypatch, tmp_path):
    """The first use of a synthetic set generates it for seconds: a line on a terminal says why it
    waits; a log (stderr not a terminal, as the progress bar paces itself) and the cached set get none."""
    monkeypatch.setenv("SNNSIM_CACHE", str(tmp_path))
    small = syn.generate
    monkeypatch.setattr(syn, "generate", lambda seed, gen: small(seed, samples_per_fold=300, gen=gen))
    for tty, seed in ((False, 1), (True, 2)):
        err = _Terminal() if tty else io.StringIO()
        monkeypatch.setattr(sys, "stderr", err)
        syn.load_or_generate(seed, "sparse")
        syn.load_or_generate(seed, "sparse")  # cached: silent
        expected = (
            f"snnsim: generating the synthetic BMI data set sparse (seed {seed}), once: it is cached in "
            f"{syn.cache_path(seed, 'sparse')}\n"
        )
        assert err.getvalue() == (expected if tty else "")


def test_a_quiet_run_does_not_say_it_generates_the_synthetic_set(monkeypatch, tmp_path):
    """``snnsim.run --quiet`` prints no notes: the line on the set it generates neither, on a
    terminal too; without ``--quiet`` the same run says it."""
    from snnsim.run import main

    monkeypatch.setenv("SNNSIM_CACHE", str(tmp_path))
    monkeypatch.setattr(bmi_data, "SYNTHETIC", {})
    small = syn.generate
    monkeypatch.setattr(syn, "generate", lambda seed, gen: small(seed, samples_per_fold=300, gen=gen))
    for quiet, seed in ((True, 3), (False, 4)):
        err = _Terminal()
        monkeypatch.setattr(sys, "stderr", err)
        assert main(["--study", "bmi", "--model", "linear", "--data", f"synthetic:sparse:{seed}",
                     *["--quiet"] * quiet]) == 0  # fmt: skip
        assert syn.cache_path(seed, "sparse").exists()
        assert ("snnsim: generating the synthetic BMI data set" in err.getvalue()) is not quiet


def test_the_blocks_per_fold_take_both_ends_of_a_members_range():
    """``blocks = (4, 6)``: 4 to 6 blocks, both ends included (20 folds of seed 0 draw each count)."""
    assert sorted(set(_blocks(syn.generate(0, samples_per_fold=300)))) == [4, 5, 6]
    fragmented = syn.generate(0, samples_per_fold=300, gen=syn.FAMILY["fragmented"])
    assert sorted(set(_blocks(fragmented))) == [8, 9, 10, 11, 12]


def test_a_generators_rate_ceiling_bounds_its_firing_rates():
    """The soft saturation ``r / (1 + r / max_rate_hz)`` keeps every rate below ``max_rate_hz``: a
    generator of a 2 Hz ceiling fires below 2 Hz on average (the standard one well above)."""
    rate = lambda d: np.mean([mi.mean() for mi in d["MI"]]) / syn.BIN  # noqa: E731  (Hz)
    low = syn.generate(0, samples_per_fold=300, gen=syn.Generator(max_rate_hz=2.0))
    assert rate(low) < 2.0 < rate(syn.generate(0, samples_per_fold=300))


def test_the_largest_seed_is_a_synthetic_source():
    assert syn.parse_source(f"synthetic:noisy:{syn.MAX_SEED}") == ("noisy", syn.MAX_SEED)


#: SHA-256 (first 16 hex digits) of the spike counts of each member, seed 0, 211 samples per fold,
#: as generator VERSION 2 makes them. The cache file names the version only: a change to the
#: generator that does not bump VERSION would have runs read another generator's cached data.
COUNTS_SHA256 = {
    "standard": "5ec18aed87e32a56",
    "sparse": "64816747e3897419",
    "weak": "e9cc9c3c95368796",
    "noisy": "8a9c351473b2578c",
    "drifting": "37b90b3c3550383a",
    "lagged": "0f27873f594911cc",
    "fragmented": "ad198a5cf77966fc",
}


@pytest.mark.parametrize("member", list(syn.FAMILY))
def test_a_member_makes_the_counts_of_its_version(member):
    import hashlib

    assert syn.VERSION == 2, "the generator changed: record its members' digests below anew"
    data = syn.generate(0, samples_per_fold=211, gen=syn.FAMILY[member])
    digest = hashlib.sha256(np.concatenate(data["MI"]).astype(np.int64).tobytes()).hexdigest()[:16]
    assert digest == COUNTS_SHA256[member], "the generator changed: bump VERSION (and these digests)"
