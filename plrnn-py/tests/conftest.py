"""Fixtures: the `plrnn` command line (for comparisons only — the package never calls it) and a
small model trained by it."""
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest


def _cli() -> str:
    exe = os.environ.get("PLRNN_BIN") or shutil.which("plrnn")
    if not exe:
        root = Path(__file__).resolve().parents[2]
        for p in (root / "target" / "release" / "plrnn", root / "target" / "debug" / "plrnn"):
            if p.exists():
                exe = str(p)
                break
    if not exe:
        pytest.skip("the plrnn command line is not built (set PLRNN_BIN)")
    return exe


@pytest.fixture(scope="session")
def cli():
    exe = _cli()

    def run(*args, check=True):
        r = subprocess.run([exe, *map(str, args)], capture_output=True, text=True)
        if check and r.returncode != 0:
            raise AssertionError(f"plrnn {' '.join(map(str, args))}: {r.returncode}\n{r.stderr}")
        return r

    return run


@pytest.fixture(scope="session")
def workdir(tmp_path_factory):
    return tmp_path_factory.mktemp("plrnn")


@pytest.fixture(scope="session")
def lorenz(workdir, cli):
    """Lorenz-63 train and test files written by `plrnn simulate`."""
    train, test = workdir / "train.npy", workdir / "test.npy"
    cli("simulate", "lorenz63", "--steps", 3000, "--seed", 1, "--out", train)
    cli("simulate", "lorenz63", "--steps", 3000, "--seed", 2, "--out", test)
    return train, test


@pytest.fixture(scope="session")
def model_path(workdir, lorenz, cli):
    """A small model trained by the command line."""
    cfg = workdir / "c.toml"
    cfg.write_text("latent_dim = 6\nbases = 4\nepochs = 2\nseq_len = 200\n")
    out = workdir / "m.plrnn"
    cli("train", "--data", lorenz[0], "--config", cfg, "--out", out, "--threads", 1)
    return out
