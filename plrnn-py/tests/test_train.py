"""plrnn.train: the library behind `plrnn train`, compared with the command line on the same data;
its bad-input classes, progress and Ctrl-C. Training here is tiny (a few epochs of M = 6)."""
import json
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import plrnn

# A tiny configuration (fractions of a second per run), as keyword arguments and as TOML.
SMALL = dict(latent_dim=6, bases=4, epochs=3, seq_len=200, threads=1)
SMALL_TOML = "latent_dim = 6\nbases = 4\nepochs = 3\nseq_len = 200\nthreads = 1\n"


def train_small(x, **kw):
    args = dict(SMALL, time_budget=None, progress=False)
    args.update(kw)
    return plrnn.train(x, **args)


def cli_error(r):
    """The command line's error line (it exits 2 for bad input)."""
    assert r.returncode == 2, r.stderr
    lines = [l for l in r.stderr.splitlines() if l.startswith("error: ")]
    assert lines, r.stderr
    return lines[0][len("error: "):]


@pytest.mark.parametrize("method,restarts", [("vi", 1), ("bptt", 1), ("vi", 2)])
def test_train_equals_cli_train(lorenz, cli, tmp_path, method, restarts):
    """The same data, settings and seed give the very model file `plrnn train` writes."""
    cfg = tmp_path / "c.toml"
    cfg.write_text(SMALL_TOML)
    out = tmp_path / "cli.plrnn"
    cli("train", "--data", lorenz[0], "--config", cfg, "--method", method, "--seed", 5,
        "--restarts", restarts, "--out", out)
    m = train_small(np.load(lorenz[0]), method=method, seed=5, restarts=restarts)
    assert m.to_bytes() == out.read_bytes()
    t = m.training
    assert t["epochs_done"] == 3 and t["kept"] == "final" and t["stopped"] is False
    assert t["updates"] > 0 and len(t["starts"]) == restarts
    summary = json.loads((tmp_path / "cli.plrnn.metrics.json").read_text())
    assert set(t) == set(summary) - {"data"}
    for k in ("epochs_done", "updates", "kept", "best_epoch", "chosen_start", "stopped",
              "evals_skipped"):
        assert t[k] == summary[k], k


def test_trained_model_in_cli_inspect_and_generate(lorenz, cli, tmp_path):
    m = train_small(np.load(lorenz[0]))
    path = tmp_path / "py.plrnn"
    m.save(path)
    info = json.loads(cli("inspect", path, "--json").stdout)
    assert info == m.inspect() and info["m"] == 6
    assert plrnn.load(path).to_bytes() == m.to_bytes()
    for noise, flag in ((False, "none"), (True, "full")):
        g = tmp_path / f"g-{flag}.npy"
        cli("generate", "--model", path, "--steps", 400, "--seed", 9, "--noise", flag,
            "--out", g)
        assert np.array_equal(m.generate(400, noise=noise, seed=9), np.load(g)), flag


def test_train_dtypes_orders_and_trial_forms(lorenz):
    x = np.load(lorenz[0])
    want = train_small(x).to_bytes()
    assert train_small(np.asfortranarray(x)).to_bytes() == want
    x32 = x.astype(np.float32)
    assert (train_small(x32).to_bytes()
            == train_small(x32.astype(np.float64)).to_bytes())
    assert train_small(np.asfortranarray(x32)).to_bytes() == train_small(x32).to_bytes()
    # a list of trials, a tuple and a 3-D array are the same trials
    a, b = x[:1500], x[1500:]
    two = train_small([a, b]).to_bytes()
    assert train_small((a, b)).to_bytes() == two
    assert train_small(np.stack([a, b])).to_bytes() == two
    assert two != want


def test_train_inputs(lorenz):
    x = np.load(lorenz[0])
    s = np.zeros((len(x), 2))
    s[::50, 0] = 1.0
    m = train_small(x, inputs=s)
    assert m.dims["K"] == 2
    assert m.generate(10, inputs=np.zeros((10, 2))).shape == (10, 3)
    m2 = train_small([x[:1500], x[1500:]], inputs=[s[:1500], s[1500:]])
    assert m2.dims["K"] == 2


def test_bad_data_same_message_as_cli(lorenz, cli, tmp_path):
    x = np.load(lorenz[0])
    np.save(tmp_path / "x.npy", x)
    cfg = tmp_path / "c.toml"
    cfg.write_text(SMALL_TOML)

    def both(py_data, files, replace, extra=(), **kw):
        with pytest.raises(ValueError) as e:
            train_small(py_data, **kw)
        msg = str(e.value)
        for a, b in replace:
            msg = msg.replace(a, b, 1)
        r = cli("train", "--data", *files, *extra, "--config", cfg, "--out", tmp_path / "m.plrnn",
                check=False)
        assert msg == cli_error(r)
        return str(e.value)

    bad = x.copy()
    bad[5, 1] = np.nan
    np.save(tmp_path / "nan.npy", bad)
    m = both(bad, [tmp_path / "nan.npy"], [("x", str(tmp_path / "nan.npy"))])
    assert "NaN" in m and "finite" in m
    bad[5, 1] = np.inf
    np.save(tmp_path / "inf.npy", bad)
    both(bad, [tmp_path / "inf.npy"], [("x", str(tmp_path / "inf.npy"))])
    np.save(tmp_path / "short.npy", x[:100])
    m = both(x[:100], [tmp_path / "short.npy"], [("x", str(tmp_path / "short.npy"))])
    assert "too short" in m
    np.save(tmp_path / "x2.npy", x[:, :2])
    m = both([x, x[:, :2]], [tmp_path / "x.npy", tmp_path / "x2.npy"],
             [("x[1]", str(tmp_path / "x2.npy")), ("x[0]", str(tmp_path / "x.npy"))])
    assert "same width" in m
    np.save(tmp_path / "in10.npy", np.zeros((10, 1)))
    m = both(x, [tmp_path / "x.npy"],
             [("inputs", str(tmp_path / "in10.npy")), ("trial x", f"trial {tmp_path / 'x.npy'}")],
             extra=["--inputs", tmp_path / "in10.npy"], inputs=np.zeros((10, 1)))
    assert "equally long" in m


def test_bad_arguments():
    x = plrnn.simulate("lorenz63", steps=3000, seed=1)
    with pytest.raises(TypeError, match="'bogus'"):
        train_small(x, bogus=1)
    with pytest.raises(TypeError, match="'encoder'.*bptt"):
        train_small(x, method="bptt", encoder="mlp")
    with pytest.raises(TypeError, match="latent_dim"):
        train_small(x, latent_dim="six")
    with pytest.raises(ValueError, match="latent_dim must be"):
        train_small(x, latent_dim=0)
    with pytest.raises(ValueError, match="variant"):
        train_small(x, variant="cubic")
    with pytest.raises(ValueError, match="time_budget"):
        train_small(x, time_budget=-1.0)
    with pytest.raises(ValueError, match="holdout"):
        train_small(x, holdout=1.5)
    with pytest.raises(ValueError, match="restarts"):
        train_small(x, restarts=0)
    with pytest.raises(ValueError, match="method"):
        train_small(x, method="sgd")
    with pytest.raises(ValueError, match="dimensions"):
        train_small(np.zeros((2, 3, 4, 5)))
    with pytest.raises(ValueError, match="at least one trial"):
        train_small([])
    with pytest.raises(ValueError, match="no time step"):
        train_small(np.zeros((0, 3)))
    with pytest.raises(ValueError, match="VI"):
        train_small(x, method="bptt", inputs=np.zeros((len(x), 1)))
    with pytest.raises(ValueError, match="1 trial.*x holds 2"):
        train_small([x, x], inputs=np.zeros((len(x), 1)))
    with pytest.raises(ValueError, match="resume"):
        train_small(x, resume="/nonexistent/ck")


BAD_CALLS = [
    lambda x, m: plrnn.train(x, epochs=0, progress=False),
    lambda x, m: plrnn.train(x, seq_len=10**9, progress=False),
    lambda x, m: plrnn.train(x, latent_dim=10**30, progress=False),
    lambda x, m: plrnn.train(x, learning_rate=float("nan"), progress=False),
    lambda x, m: plrnn.train(x, threads=-1, progress=False),
    lambda x, m: plrnn.train(x, epochs=1, seed=-1, progress=False),
    lambda x, m: plrnn.train(x, epochs=1, seed=2**64, progress=False),
    lambda x, m: plrnn.train(x, epochs=1, variant=[1], progress=False),
    lambda x, m: plrnn.train("text", progress=False),
    lambda x, m: plrnn.train([x, "text"], progress=False),
    lambda x, m: plrnn.train(x, progress=3),
    lambda x, m: plrnn.train(x[:, :0], progress=False),
    lambda x, m: plrnn.train(x, inputs=np.full((len(x), 1), np.nan), epochs=1, progress=False),
    lambda x, m: m.generate(-1),
    lambda x, m: m.generate(10, z0=np.full(6, np.nan)),
    lambda x, m: plrnn.evaluate(m, x, trajectories=0),
    lambda x, m: plrnn.evaluate(m, x, keep=0),
    lambda x, m: plrnn.metrics.d_stsp(x, x, bins=0),
    lambda x, m: plrnn.metrics.d_h(x, x, sigma=-1.0),
    lambda x, m: plrnn.metrics.psc(x[:1], x[:1]),
    lambda x, m: plrnn.simulate("lorenz63", steps=0),
    lambda x, m: plrnn.simulate("lorenz63", dt=-1.0),
    lambda x, m: plrnn.simulate("lorenz96", dim=0),
    lambda x, m: plrnn.Model.from_bytes(b""),
]


@pytest.mark.parametrize("i", range(len(BAD_CALLS)))
def test_no_panic_reaches_python(model_path, i):
    """Every bad call raises an ordinary exception (a Rust panic would surface as
    pyo3_runtime.PanicException, a BaseException that `except Exception` does not catch)."""
    x = plrnn.simulate("lorenz63", steps=3000, seed=1)
    m = plrnn.load(model_path)
    try:
        BAD_CALLS[i](x, m)
    except (ValueError, TypeError, OverflowError) as e:
        assert "panic" not in str(e).lower()
    except BaseException as e:  # noqa: B036 — what must not happen
        pytest.fail(f"{type(e).__module__}.{type(e).__name__}: {e}")
    else:
        pytest.fail("accepted a bad call")


def test_progress_callback():
    x = plrnn.simulate("lorenz63", steps=3000, seed=1)
    seen = []
    train_small(x, progress=seen.append)
    assert [d["epoch"] for d in seen] == [1, 2, 3]
    assert all(d["epochs"] == 3 and np.isfinite(d["loss"]) for d in seen)

    class Stop(Exception):
        pass

    def stop_at_2(d):
        if d["epoch"] == 2:
            raise Stop()

    with pytest.raises(Stop):
        train_small(x, epochs=1000, progress=stop_at_2)
    # the process goes on
    assert train_small(x).dims["M"] == 6


def test_ctrl_c_raises_keyboard_interrupt_and_process_goes_on(tmp_path):
    script = textwrap.dedent("""
        import faulthandler, sys, time
        # Should the child ever hang, it prints every thread's stack and exits, so the failure
        # says where (the parent waits longer than this).
        faulthandler.dump_traceback_later(90, exit=True)
        import plrnn
        x = plrnn.simulate("lorenz63", steps=3000, seed=1)
        def started(d):
            if d["epoch"] == 1:
                print("training", flush=True)
        try:
            plrnn.train(x, latent_dim=6, bases=4, seq_len=200, threads=1, epochs=10**8,
                        time_budget=None, progress=started)
            print("finished?!", flush=True)
        except KeyboardInterrupt:
            print("interrupted", flush=True)
        m = plrnn.train(x, latent_dim=6, bases=4, seq_len=200, threads=1, epochs=2,
                        time_budget=None, progress=False)
        print("usable", m.training["epochs_done"], m.generate(5).shape, flush=True)
    """)
    p = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    try:
        assert p.stdout.readline().strip() == "training"
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=120)
    finally:
        if p.poll() is None:
            p.kill()
    assert p.returncode == 0, err
    assert out.split("\n")[:2] == ["interrupted", "usable 2 (5, 3)"], out + err
