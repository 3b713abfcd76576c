"""Dendritic PLRNN generative models of dynamical systems, from Python and NumPy.

The same Rust code as the `plrnn` command line (no second implementation).
"""
from os import PathLike
from typing import Any, Callable, Dict, Literal, Optional, Sequence, Tuple, Union

import numpy as np
import numpy.typing as npt

_Array = npt.ArrayLike
_Path = Union[str, PathLike]

class ModelFileError(ValueError):
    """A model file (or bytes) failed validation; the message names the check that failed."""

class Model:
    """A trained PLRNN as its model file holds it (float32 parameters, device kernel)."""

    @staticmethod
    def from_bytes(data: bytes) -> "Model": ...
    def to_bytes(self) -> bytes: ...
    def save(self, path: _Path) -> None: ...
    @property
    def dims(self) -> Dict[str, int]:
        """{"M": latent, "N": observed, "P": basis functions, "K": inputs}."""
    @property
    def variant(self) -> Literal["relu", "dendritic", "clipped"]: ...
    def params(self) -> Dict[str, np.ndarray]: ...
    def inspect(self) -> Dict[str, Any]:
        """The facts `plrnn inspect --json` prints (sizes, file bytes, stability)."""
    @property
    def embedding(self) -> Optional[Dict[str, Any]]:
        """The delay embedding its observations were built with (channels, dim, lag; lag_rule,
        ami, fnn when chosen by embed="auto"), saved beside the file as PATH.embed.json; None
        without. generate answers, and evaluate takes data, in the recording's own channels."""
    @property
    def training(self) -> Optional[Dict[str, Any]]:
        """How `plrnn.train` made it (epochs_done, updates, seconds, kept, best_epoch,
        held_out, stopped); None for a model read from a file or bytes."""
    def generate(
        self,
        steps: int,
        noise: Union[bool, Literal["none", "process", "full"], None] = None,
        inputs: Optional[_Array] = None,
        seed: int = 0,
        z0: Optional[_Array] = None,
        burn_in: int = 0,
        clamp: Optional[float] = None,
        model_units: bool = False,
    ) -> npt.NDArray[np.float64]: ...

def load(path: _Path) -> Model:
    """Reads and validates a model file (ModelFileError names the failed check)."""

def train(
    x: Union[_Array, Sequence[_Array]],
    inputs: Union[_Array, Sequence[_Array], None] = None,
    method: Literal["vi", "bptt"] = "vi",
    time_budget: Optional[float] = 60.0,
    seed: int = 0,
    *,
    holdout: float = 0.1,
    restarts: int = 1,
    embed: Union[None, Literal["auto", "none"], str, Tuple[int, int]] = None,
    progress: Union[None, bool, Callable[[Dict[str, Any]], Any]] = None,
    checkpoint: Optional[_Path] = None,
    resume: Optional[_Path] = None,
    **config: Union[int, float, str, bool, None],
) -> Model:
    """Trains a model with the library behind `plrnn train`; returns it as its file holds it.

    x: (T, N), (trials, T, N) or a list of (T_i, N) arrays in data units. **config: keys of the
    method's configuration (latent_dim, bases, variant, epochs, seq_len, batch_size,
    learning_rate, threads, ...); an unknown key raises TypeError. embed: delay embedding as
    `plrnn train --embed` (None, "auto" or (dim, lag)). Ctrl-C raises
    KeyboardInterrupt after the current update.
    """
SYSTEMS: Tuple[str, ...]
"""The names `simulate` accepts (case, "-" and "_" aside; also "ueda" and "sprott")."""
def simulate(
    system: Literal[
        "lorenz63",
        "lorenz96",
        "rossler",
        "hindmarsh_rose",
        "fitzhugh_nagumo",
        "morris_lecar",
        "wilson_cowan",
        "chua",
        "aizawa",
        "duffing",
        "sprott_b",
    ],
    steps: int = 10_000,
    dt: Optional[float] = None,
    seed: int = 0,
    *,
    dim: int = 10,
    forcing: float = 8.0,
    transient: Optional[int] = None,
    substeps: Optional[int] = None,
    process_noise: float = 0.0,
    obs_noise: float = 0.0,
) -> npt.NDArray[np.float64]: ...
def evaluate(
    model: Model,
    x_test: _Array,
    *,
    trajectories: int = 100,
    burn_in: int = 1000,
    keep: int = 1000,
    seed: int = 0,
    bins: int = 30,
    range: Literal["legacy", "default"] = "legacy",
    sigma: float = 20.0,
    pe: Sequence[int] = (1, 5, 10, 20),
    data_lyapunov: bool = True,
) -> Dict[str, Any]: ...

class metrics:
    """The metrics of `plrnn evaluate` on any (T, N) arrays."""

    @staticmethod
    def d_stsp(
        x: _Array,
        y: _Array,
        *,
        method: Literal["binned", "gmm"] = "binned",
        bins: int = 30,
        range: Literal["legacy", "default"] = "legacy",
    ) -> float: ...
    @staticmethod
    def d_h(x: _Array, y: _Array, *, sigma: float = 20.0) -> float: ...
    @staticmethod
    def psc(x: _Array, y: _Array, *, sigma: float = 20.0) -> float: ...
