"""Delay embedding from Python: `plrnn.train(x, embed=...)` is `plrnn train --embed` — the same
model file and `.embed.json` record, the same generated output, evaluation in the recording's own
channels."""
import json

import numpy as np
import pytest

import plrnn

SMALL = dict(latent_dim=6, bases=2, epochs=2, seq_len=100, threads=1)
SMALL_FLAGS = ["--latent-dim", 6, "--bases", 2, "--epochs", 2, "--seq-len", 100, "--threads", 1]


@pytest.fixture(scope="module")
def scalar(tmp_path_factory):
    """One channel (x) of Lorenz-63, as a file for the command line and as an array."""
    x = plrnn.simulate("lorenz63", steps=4000, seed=3)[:, :1].copy()
    path = tmp_path_factory.mktemp("embed") / "x.npy"
    np.save(path, x)
    return path, x


@pytest.mark.parametrize("embed,flag", [("auto", "auto"), ((3, 7), "3,7")])
def test_train_with_embed_equals_cli(scalar, cli, tmp_path, embed, flag):
    path, x = scalar
    out = tmp_path / "cli.plrnn"
    cli("train", "--data", path, "--embed", flag, "--seed", 4, *SMALL_FLAGS, "--out", out)
    m = plrnn.train(x, embed=embed, seed=4, time_budget=None, progress=False, **SMALL)
    mine = tmp_path / "py.plrnn"
    m.save(mine)
    assert mine.read_bytes() == out.read_bytes()
    record = (tmp_path / "cli.plrnn.embed.json").read_bytes()
    assert (tmp_path / "py.plrnn.embed.json").read_bytes() == record
    e = m.embedding
    rec = json.loads(record)["embedding"]
    assert (e["channels"], e["dim"], e["lag"]) == (1, rec["dim"], rec["lag"])
    assert m.dims["N"] == rec["dim"]
    assert ("fnn" in e) == (embed == "auto")

    # generate answers in the recording's own channel, equal to the CLI's bit for bit,
    # from the trained model and from the saved file read back with its record.
    gen = tmp_path / "g.npy"
    cli("generate", "--model", out, "--steps", 300, "--seed", 2, "--noise", "--out", gen)
    for model in (m, plrnn.load(mine)):
        y = model.generate(300, noise=True, seed=2)
        assert y.shape == (300, 1)
        assert np.array_equal(y, np.load(gen))
    assert plrnn.load(mine).embedding == e

    # evaluate takes the recording in its own channel (embedded as the training data were).
    r = cli("evaluate", "--model", out, "--test", path, "--trajectories", 3, "--burn-in", 10,
            "--keep", 200, "--json", "--no-data-lyapunov")
    got = plrnn.evaluate(m, x, trajectories=3, burn_in=10, keep=200, data_lyapunov=False)
    want = json.loads(r.stdout)
    assert got["d_stsp"] == want["d_stsp"] and got["d_h"] == want["d_h"]


def test_saving_a_model_without_embedding_removes_a_stale_record(scalar, tmp_path):
    path, x = scalar
    m = plrnn.train(x, embed=(2, 5), time_budget=None, progress=False, **SMALL)
    f = tmp_path / "m.plrnn"
    m.save(f)
    assert (tmp_path / "m.plrnn.embed.json").exists()
    plain = plrnn.train(x, time_budget=None, progress=False, **SMALL)
    assert plain.embedding is None and plain.dims["N"] == 1
    plain.save(f)
    assert not (tmp_path / "m.plrnn.embed.json").exists()
    assert plrnn.load(f).embedding is None


def test_bad_embed_arguments_carry_the_cli_message(scalar, cli, tmp_path):
    path, x = scalar
    for value, flag in (((0, 3), "0,3"), ("sideways", "sideways"), ((2, 10**6), "2,1000000")):
        with pytest.raises(ValueError) as e:
            plrnn.train(x, embed=value, time_budget=None, progress=False, **SMALL)
        r = cli("train", "--data", path, "--embed", flag, "--out", tmp_path / "m.plrnn",
                check=False)
        assert r.returncode == 2
        line = next(l for l in r.stderr.splitlines() if l.startswith("error:"))
        assert str(e.value) == "embed: " + line.split("': ", 1)[1]
    with pytest.raises(ValueError, match="embed: .*too short"):
        plrnn.train(x[:150], embed="auto", time_budget=None, progress=False, **SMALL)
    with pytest.raises(TypeError):
        plrnn.train(x, embed=3.5, time_budget=None, progress=False, **SMALL)
    # A record that does not fit the model is refused by name on load.
    m = plrnn.train(x, embed=(2, 5), time_budget=None, progress=False, **SMALL)
    f = tmp_path / "e.plrnn"
    m.save(f)
    rec = json.loads((tmp_path / "e.plrnn.embed.json").read_text())
    rec["embedding"]["dim"] = 3
    (tmp_path / "e.plrnn.embed.json").write_text(json.dumps(rec))
    with pytest.raises(plrnn.ModelFileError, match="e.plrnn.embed.json"):
        plrnn.load(f)
