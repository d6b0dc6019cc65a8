"""One error rule (docs/conventions.md, "Files, checkpoints and errors"): a user's mistake raises
a class of ``minideeplab.errors`` (one common base, ``UserError``, and the built-in a reader
expects); the same mistake raises the same type everywhere; anything else is a bug."""
import ast
from pathlib import Path

import numpy as np
import pytest

from minideeplab import checks, checkpoint, data, errors, functional as F, nn
from minideeplab.errors import ArgumentError, UserError, is_user_error
from minideeplab.models import build_model

ROOT = Path(__file__).resolve().parents[1] / "minideeplab"
# Built-in raises that are not a user's mistake, by file: how many and why.
NOT_USER_ERRORS = {
    "paper/registry.py": 5,              # a job registered wrongly: the book's own bug
    "paper/figures/common.py": 2,        # a figure whose texts collide, or without constrained
                                         # layout: the book's own bug
    "paper/exercises/_standin.py": 1,    # the CuPy stand-in raises what CuPy raises
}


def test_every_class_of_the_family_is_a_user_error_and_its_built_in():
    expected = {"ArgumentError": (ValueError, TypeError), "MissingFileError": (FileNotFoundError,),
                "FileFormatError": (ValueError,), "DataError": (ValueError,),
                "CheckpointError": (ValueError,), "OutputPathError": (ValueError,),
                "DeviceUnavailableError": (RuntimeError,), "BudgetExceededError": (MemoryError,)}
    classes = [n for n in errors.__all__ if n[0].isupper() and n != "UserError"]
    assert sorted(classes) == sorted(expected)
    for name, builtins in expected.items():
        cls = getattr(errors, name)
        assert issubclass(cls, UserError) and all(issubclass(cls, b) for b in builtins), name
    assert checkpoint.CheckpointError is errors.CheckpointError
    assert data.DataError is errors.DataError


def test_is_user_error_tells_the_two_kinds_apart():
    assert is_user_error(ArgumentError("x")) and is_user_error(errors.DataError("x", "f"))
    assert is_user_error(PermissionError(13, "Permission denied", "f.png"))
    for bug in (ValueError("x"), TypeError("x"), KeyError("x"), OSError("no path"),
                MemoryError(), IndexError("x")):
        assert not is_user_error(bug), bug


@pytest.mark.parametrize("mistake", [
    lambda: checks.check_int("f", "n", 2.5, 1),                      # a float for an int
    lambda: checks.check_int("f", "n", 0, 1),                        # out of range
    lambda: build_model("largefov", 21, width=-1),                   # VGG's width
    lambda: build_model("resnet", 21, width=0),                      # ResNet's width
    lambda: build_model("aspp-l", 21, fc6_rate=0),                   # a VGG rate
    lambda: build_model("nope", 21),                                 # an unknown name
    lambda: build_model("largefov", 21, nonsense=1),                 # an unknown keyword
    lambda: nn.ASPPv2(8, 4, rates=(0, 2)),                           # an ASPP rate
    lambda: F.conv2d(np.ones((1, 3, 5, 5), np.float32), np.ones((2, 4, 3, 3), np.float32)),
    lambda: F.conv2d(np.ones((1, 3, 5, 5), np.float32), np.ones((2, 3, 3, 3), np.float32),
                     rate=0),
    lambda: nn.Conv2d(3, 4, 3).load_state_dict({}),                  # missing keys
])
def test_the_same_kind_of_mistake_raises_the_same_type_everywhere(mistake):
    with pytest.raises(ArgumentError) as e:
        mistake()
    assert isinstance(e.value, ValueError) and isinstance(e.value, TypeError)


def _builtin_raises(path):
    """(line, name) of every ``raise ValueError/TypeError/KeyError(...)`` in the file."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call) \
                and isinstance(node.exc.func, ast.Name) \
                and node.exc.func.id in ("ValueError", "TypeError", "KeyError"):
            found.append((node.lineno, node.exc.func.id))
    return found


def test_the_library_raises_no_bare_built_in_for_a_users_mistake():
    """Every ``raise ValueError(...)`` / ``TypeError`` / ``KeyError`` in the package is a user's
    mistake that belongs to the family (use ArgumentError: it is both a ValueError and a
    TypeError), except the few bugs listed in NOT_USER_ERRORS."""
    counts = {}
    for path in sorted(ROOT.rglob("*.py")):
        raises = _builtin_raises(path)
        if raises:
            counts[str(path.relative_to(ROOT))] = raises
    extra = {f: r for f, r in counts.items() if len(r) > NOT_USER_ERRORS.get(f, 0)}
    assert extra == {}, ("raise a class of minideeplab.errors for a user's mistake "
                         "(ArgumentError for a bad argument)")


def test_the_source_check_sees_a_bare_raise(tmp_path):
    path = tmp_path / "m.py"
    path.write_text("def f(x):\n    if x:\n        raise ValueError('bad x')\n"
                    "    raise ArgumentError('fine')\n")
    assert _builtin_raises(path) == [(3, "ValueError")]
