"""Every numeric argument is checked against the command line's range (one definition in
`plrnn_train::ranges`), before any work, with the command line's message text."""
import math

import numpy as np
import pytest

import plrnn


def cli_message(cli, *args):
    """The reason the command line gives for refusing a flag value: the text after
    `invalid value 'V' for '--flag <FLAG>': `."""
    r = cli(*args, check=False)
    assert r.returncode == 2, r.stderr
    line = next(l for l in r.stderr.splitlines() if l.startswith("error:"))
    assert "invalid value" in line, line
    return line.split("': ", 1)[1]


def python_message(name, call):
    with pytest.raises(ValueError) as e:
        call()
    msg = str(e.value)
    assert msg.startswith(name + ": "), msg
    return msg[len(name) + 2:]


# (class of range, Python argument, call, command line arguments for the same value)
CASES = [
    ("int above its range (would run for days)", "burn_in",
     lambda m, x: m.generate(10, burn_in=10**18),
     ["generate", "--model", "{model}", "--steps", "10", "--burn-in", "1000000000000000000",
      "--out", "{tmp}/g.npy"]),
    ("int beyond 128 bits", "burn_in",
     lambda m, x: m.generate(10, burn_in=10**40),
     ["generate", "--model", "{model}", "--steps", "10", "--burn-in", str(10**40),
      "--out", "{tmp}/g.npy"]),
    ("negative int", "burn_in",
     lambda m, x: m.generate(10, burn_in=np.int64(-1)),
     ["generate", "--model", "{model}", "--steps", "10", "--burn-in", "-1",
      "--out", "{tmp}/g.npy"]),
    ("int below its lower bound", "steps",
     lambda m, x: m.generate(0),
     ["generate", "--model", "{model}", "--steps", "0", "--out", "{tmp}/g.npy"]),
    ("real at or below an open lower bound", "clamp",
     lambda m, x: m.generate(10, clamp=-1),
     ["generate", "--model", "{model}", "--steps", "10", "--clamp", "-1",
      "--out", "{tmp}/g.npy"]),
    ("real zero where it must be positive", "sigma",
     lambda m, x: plrnn.evaluate(m, x, sigma=0.0),
     ["evaluate", "--model", "{model}", "--test", "{test}", "--sigma", "0"]),
    ("int below a lower bound of 2", "bins",
     lambda m, x: plrnn.evaluate(m, x, bins=0),
     ["evaluate", "--model", "{model}", "--test", "{test}", "--bins", "0"]),
    ("an element of a list", "pe",
     lambda m, x: plrnn.evaluate(m, x, pe=[1, 0]),
     ["evaluate", "--model", "{model}", "--test", "{test}", "--pe", "1,0"]),
    ("negative count", "trajectories",
     lambda m, x: plrnn.evaluate(m, x, trajectories=-3),
     ["evaluate", "--model", "{model}", "--test", "{test}", "--trajectories", "-3"]),
    ("real below a closed lower bound", "process_noise",
     lambda m, x: plrnn.simulate("lorenz63", steps=10, process_noise=-1.0),
     ["simulate", "lorenz63", "--steps", "10", "--process-noise", "-1", "--out", "{tmp}/s.npy"]),
    ("NaN", "dt",
     lambda m, x: plrnn.simulate("lorenz63", steps=10, dt=math.nan),
     ["simulate", "lorenz63", "--steps", "10", "--dt", "nan", "--out", "{tmp}/s.npy"]),
    ("int above an upper bound", "dim",
     lambda m, x: plrnn.simulate("lorenz96", steps=10, dim=1001),
     ["simulate", "lorenz96", "--steps", "10", "--dim", "1001", "--out", "{tmp}/s.npy"]),
    ("real above a closed upper bound", "holdout",
     lambda m, x: plrnn.train(x, holdout=0.95, epochs=1, progress=False),
     ["train", "--data", "{test}", "--holdout", "0.95", "--out", "{tmp}/m.plrnn"]),
    ("int above the starts' range", "restarts",
     lambda m, x: plrnn.train(x, restarts=65, epochs=1, progress=False),
     ["train", "--data", "{test}", "--restarts", "65", "--out", "{tmp}/m.plrnn"]),
]


@pytest.mark.parametrize("what,name,call,args", CASES, ids=[c[0] for c in CASES])
def test_out_of_range_raises_the_cli_message(what, name, call, args, model_path, lorenz, cli,
                                             tmp_path):
    m = plrnn.load(model_path)
    x = np.load(lorenz[1])
    got = python_message(name, lambda: call(m, x))
    want = cli_message(cli, *(a.format(model=model_path, test=lorenz[1], tmp=tmp_path)
                              for a in args))
    assert got == want
    assert " is not in " in got


def test_metric_arguments_are_checked_too(lorenz):
    x = np.load(lorenz[1])
    assert python_message("bins", lambda: plrnn.metrics.d_stsp(x, x, bins=1)) == \
        "1 is not in 2..=1000"
    assert python_message("sigma", lambda: plrnn.metrics.d_h(x, x, sigma=-2.0)) == \
        "-2 is not in (0, 10000]"
    assert python_message("sigma", lambda: plrnn.metrics.psc(x, x, sigma=math.inf)) == \
        "inf is not in (0, 10000]"


def test_a_non_integer_count_is_a_type_error(model_path):
    m = plrnn.load(model_path)
    with pytest.raises(TypeError):
        m.generate(10, burn_in=1.5)
    with pytest.raises(TypeError):
        m.generate("10")
