"""The hand-written lists of system names stay equal to the library's own (`plrnn.SYSTEMS`,
which is `plrnn_train::simulate::SYSTEM_NAMES`): the type stub's `Literal`, the error message
for an unknown name, the docstring of `simulate` and `plrnn simulate --help`. A system added to
the library without updating one of them fails here."""
import ast
import re
from pathlib import Path

import numpy as np
import pytest

import plrnn

STUB = Path(__file__).resolve().parents[1] / "plrnn.pyi"


def stub_function(name):
    tree = ast.parse(STUB.read_text(), filename=str(STUB))
    found = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == name]
    assert len(found) == 1, f"{STUB}: expected one top-level def {name}"
    return found[0]


def literal_values(annotation):
    """The strings of a `Literal[...]` annotation."""
    assert isinstance(annotation, ast.Subscript), ast.dump(annotation)
    assert isinstance(annotation.value, ast.Name) and annotation.value.id == "Literal"
    elts = annotation.slice.elts if isinstance(annotation.slice, ast.Tuple) else [annotation.slice]
    assert all(isinstance(e, ast.Constant) and isinstance(e.value, str) for e in elts)
    return [e.value for e in elts]


def test_library_lists_distinct_systems():
    assert isinstance(plrnn.SYSTEMS, tuple)
    assert "lorenz63" in plrnn.SYSTEMS  # not empty: the tests below would hold vacuously
    assert len(set(plrnn.SYSTEMS)) == len(plrnn.SYSTEMS)


def test_stub_literal_lists_the_library_systems():
    (arg,) = [a for a in stub_function("simulate").args.args if a.arg == "system"]
    assert literal_values(arg.annotation) == list(plrnn.SYSTEMS)


@pytest.mark.parametrize("name", plrnn.SYSTEMS)
def test_every_listed_system_simulates(name):
    x = plrnn.simulate(name, steps=3, transient=0)
    assert x.shape[0] == 3 and x.shape[1] >= 1
    assert np.all(np.isfinite(x))


def test_unknown_system_message_lists_the_library_systems():
    with pytest.raises(ValueError) as e:
        plrnn.simulate("no_such_system", steps=3)
    m = re.search(r"expected one of (.*)$", str(e.value))
    assert m, str(e.value)
    assert [s.strip() for s in m.group(1).split(",")] == list(plrnn.SYSTEMS)


def test_simulate_docstring_names_every_system():
    doc = plrnn.simulate.__doc__
    missing = [s for s in plrnn.SYSTEMS if f'"{s}"' not in doc]
    assert not missing, f"plrnn.simulate's docstring lacks {missing}"


def test_cli_help_names_every_system(cli):
    text = " ".join(cli("simulate", "--help").stdout.split())
    missing = [s for s in plrnn.SYSTEMS if not re.search(rf"\b{s}\b", text)]
    assert not missing, f"plrnn simulate --help lacks {missing}"
