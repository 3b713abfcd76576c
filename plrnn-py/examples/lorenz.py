"""Notebook-style example: simulate Lorenz-63, train a model with `plrnn.train`, save it (the
very file `plrnn generate`/`plrnn inspect` and the firmware read), generate, evaluate, and plot
true vs generated (matplotlib if installed).

    python plrnn-py/examples/lorenz.py [SECONDS]      # training time budget, default 60
"""
# %%
import sys
import tempfile
from pathlib import Path

import plrnn

# %% Data: 20 000 samples of Lorenz-63 for training, a second orbit for testing.
x_train = plrnn.simulate("lorenz63", steps=20_000, seed=0)
x_test = plrnn.simulate("lorenz63", steps=20_000, seed=1)

# %% Train (VI, the defaults of `plrnn train`, within a time budget; Ctrl-C stops it).
budget = float(sys.argv[1]) if len(sys.argv) > 1 else 60.0
m = plrnn.train(x_train, method="vi", time_budget=budget, seed=0)
print(m, m.dims, m.variant, m.training)
work = Path(tempfile.mkdtemp())
m.save(work / "m.plrnn")  # `plrnn inspect` / `plrnn generate` read it as it is

# %% Generate and evaluate.
y = m.generate(x_test.shape[0], burn_in=1000)
report = plrnn.evaluate(m, x_test)
print({k: report[k] for k in ("d_stsp", "d_h", "psc")})
print("D_stsp on the arrays:", plrnn.metrics.d_stsp(x_test, y))

# %% Plot true vs generated.
try:
    import matplotlib.pyplot as plt
except ImportError:
    print("matplotlib is not installed: no plot")
else:
    fig = plt.figure(figsize=(10, 5))
    for i, (d, title) in enumerate(((x_test, "true"), (y, "generated"))):
        ax = fig.add_subplot(1, 2, i + 1, projection="3d")
        ax.plot(d[:, 0], d[:, 1], d[:, 2], lw=0.3)
        ax.set_title(title)
    fig.savefig(work / "lorenz.png", dpi=120)
    print("plot:", work / "lorenz.png")
