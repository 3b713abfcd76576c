"""The Python package against the command line on the same files, and its error classes."""
import json
import math

import numpy as np
import pytest

import plrnn


def rel_close(a, b, tol=1e-9):
    if isinstance(a, dict):
        assert set(a) == set(b)
        for k in a:
            rel_close(a[k], b[k], tol)
    elif isinstance(a, list):
        assert len(a) == len(b)
        for u, v in zip(a, b):
            rel_close(u, v, tol)
    elif isinstance(a, float) or isinstance(b, float):
        if a is None or b is None:
            assert a == b
        elif math.isnan(a):
            assert math.isnan(b)
        else:
            assert abs(a - b) <= tol * max(abs(a), abs(b), 1e-300), (a, b)
    else:
        assert a == b


def test_simulate_equals_cli(lorenz):
    x = plrnn.simulate("lorenz63", steps=3000, seed=1)
    assert x.shape == (3000, 3) and x.dtype == np.float64
    assert np.array_equal(x, np.load(lorenz[0]))
    assert plrnn.simulate("lorenz96", steps=10, dim=5).shape == (10, 5)


@pytest.mark.parametrize("system, kwargs, flags", [
    # Each system's own default dt and transient (hindmarsh_rose: dt 0.1, not lorenz63's 0.01).
    ("hindmarsh_rose", {}, []),
    ("wilson_cowan", {}, []),
    # A chosen dt changes the default transient (the same time in more samples).
    ("lorenz63", {"dt": 0.005}, ["--dt", "0.005"]),
    ("chua", {"transient": 7, "substeps": 3}, ["--transient", "7", "--substeps", "3"]),
    ("lorenz96", {"dim": 6, "forcing": 5.0, "obs_noise": 0.1, "process_noise": 0.2},
     ["--dim", "6", "--forcing", "5", "--obs-noise", "0.1", "--process-noise", "0.2"]),
])
def test_simulate_defaults_and_options_equal_cli(cli, tmp_path, system, kwargs, flags):
    out = tmp_path / "s.npy"
    cli("simulate", system, "--steps", 500, "--seed", 4, "--out", out, *flags)
    x = plrnn.simulate(system, steps=500, seed=4, **kwargs)
    assert np.array_equal(x, np.load(out)), system


def test_load_save_round_trip(model_path, tmp_path):
    m = plrnn.load(model_path)
    assert m.dims == {"M": 6, "N": 3, "P": 4, "K": 0}
    assert m.variant in ("relu", "dendritic", "clipped")
    p = m.params()
    assert p["W"].shape == (6, 6) and p["B"].shape == (3, 6) and p["theta"].shape == (6, 4)
    assert p["A"].dtype == np.float32
    m.save(tmp_path / "copy.plrnn")
    assert (tmp_path / "copy.plrnn").read_bytes() == model_path.read_bytes()
    assert plrnn.Model.from_bytes(m.to_bytes()).to_bytes() == model_path.read_bytes()
    assert m.inspect()["m"] == 6
    assert "M=6" in repr(m)


def test_generate_equals_cli_bit_for_bit(model_path, cli, tmp_path):
    m = plrnn.load(model_path)
    for noise, flag in ((False, "none"), ("process", "process"), (True, "full")):
        out = tmp_path / f"g-{flag}.npy"
        cli("generate", "--model", model_path, "--steps", 500, "--burn-in", 7, "--seed", 3,
            "--noise", flag, "--out", out)
        y = m.generate(500, noise=noise, seed=3, burn_in=7)
        assert y.shape == (500, 3)
        assert np.array_equal(y, np.load(out)), flag


def test_evaluate_equals_cli_json(model_path, lorenz, cli):
    r = cli("evaluate", "--model", model_path, "--test", lorenz[1], "--json",
            "--trajectories", 5, "--burn-in", 100, "--keep", 500)
    want = json.loads(r.stdout)
    got = plrnn.evaluate(plrnn.load(model_path), np.load(lorenz[1]),
                         trajectories=5, burn_in=100, keep=500)
    assert set(got) == set(want)
    rel_close(got, want)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("order", ["C", "F"])
def test_dtypes_and_orders(lorenz, dtype, order):
    x = np.load(lorenz[0])
    y = np.load(lorenz[1])
    want = plrnn.metrics.d_h(x, y)
    xa = np.asarray(x, dtype=dtype, order=order)
    ya = np.asarray(y, dtype=dtype, order=order)
    got = plrnn.metrics.d_h(xa, ya)
    if dtype == np.float64:
        assert got == want
    else:
        # float32 rounding of the data, not of the metric
        assert got == plrnn.metrics.d_h(xa.astype(np.float64), ya.astype(np.float64))
    # a strided view
    assert plrnn.metrics.d_h(x[::2], y[::2]) == plrnn.metrics.d_h(
        np.ascontiguousarray(x[::2]), np.ascontiguousarray(y[::2]))


def test_metrics_on_arrays(lorenz):
    x, y = np.load(lorenz[0]), np.load(lorenz[1])
    assert plrnn.metrics.d_stsp(x, x) == 0.0
    assert plrnn.metrics.d_stsp(x, y) > 0.0
    assert plrnn.metrics.d_stsp(x, y, method="gmm") >= 0.0
    assert 0.0 <= plrnn.metrics.d_h(x, y) <= 1.0
    assert abs(plrnn.metrics.psc(x, x) - 1.0) < 1e-12
    from plrnn.metrics import psc  # importable as a module too
    assert psc is plrnn.metrics.psc


def test_bad_inputs_raise_value_error_with_cli_messages(model_path, lorenz, tmp_path, cli):
    m = plrnn.load(model_path)
    x = np.load(lorenz[1])
    bad = x.copy()
    bad[5, 1] = np.nan
    with pytest.raises(ValueError, match="finite"):
        plrnn.evaluate(m, bad)
    with pytest.raises(ValueError, match="finite"):
        plrnn.metrics.d_h(bad, x)
    # the CLI says the same about the same data
    np.save(tmp_path / "nan.npy", bad)
    r = cli("evaluate", "--model", model_path, "--test", tmp_path / "nan.npy", check=False)
    assert r.returncode == 2 and "finite" in r.stderr
    with pytest.raises(ValueError, match="N = 3"):
        plrnn.evaluate(m, x[:, :2])
    with pytest.raises(ValueError, match="channels has 2, expected 3"):
        plrnn.metrics.d_h(x, x[:, :2])
    with pytest.raises(ValueError, match="too short"):
        plrnn.metrics.d_h(x[:3], x[:3])  # too short for the spectra
    with pytest.raises(ValueError, match="dimensions"):
        plrnn.metrics.d_h(np.zeros((4, 4, 4)), x)
    with pytest.raises(ValueError, match="K = 0"):
        m.generate(10, inputs=np.zeros((10, 2)))
    with pytest.raises(ValueError, match="M = 6"):
        m.generate(10, z0=np.zeros(3))
    with pytest.raises(ValueError, match="noise"):
        m.generate(10, noise="loud")
    with pytest.raises(ValueError, match="range"):
        plrnn.metrics.d_stsp(x, x, range="wide")
    with pytest.raises(ValueError, match="lorenz"):
        plrnn.simulate("lorenz64")
    with pytest.raises(TypeError):
        plrnn.simulate("lorenz63", bogus=1)


def test_corrupt_model_file_raises_model_file_error(model_path, tmp_path):
    data = bytearray(model_path.read_bytes())
    with pytest.raises(plrnn.ModelFileError):
        plrnn.Model.from_bytes(bytes(data[:10]))
    bad = bytearray(data)
    bad[0] ^= 0xFF
    p = tmp_path / "bad.plrnn"
    p.write_bytes(bytes(bad))
    with pytest.raises(plrnn.ModelFileError, match="bad.plrnn"):
        plrnn.load(p)
    with pytest.raises(FileNotFoundError, match="nope.plrnn"):
        plrnn.load(tmp_path / "nope.plrnn")
    assert issubclass(plrnn.ModelFileError, ValueError)


def test_docs_read_well():
    for obj in (plrnn, plrnn.load, plrnn.simulate, plrnn.evaluate, plrnn.train, plrnn.Model,
                plrnn.Model.generate, plrnn.metrics.d_stsp, plrnn.metrics.d_h,
                plrnn.metrics.psc, plrnn.ModelFileError):
        assert obj.__doc__ and len(obj.__doc__) > 20, obj
