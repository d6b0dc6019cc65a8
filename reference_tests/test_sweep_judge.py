"""The robustness sweep's judge (benchmarks/sweep_robustness.py) fed wrong answers: a hang, a
process that grows, a traceback, two lines where one is promised, an input replaced, an output
written although refused, a bare built-in error. Each must be reported unclean; the clean
refusal beside them must not be. (The sweep itself is run by hand, not by the suite.)"""
import argparse
import re
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import sweep_robustness as sweep                                       # noqa: E402

ARGS = argparse.Namespace(timeout=60.0, max_growth_mib=200.0, address_limit_gib=2.0)


def _judge(tmp_path, case):
    (tmp_path / "input.txt").write_text("precious\n")
    args = argparse.Namespace(**{**vars(ARGS), "timeout": 1.0 if case.name == "hang" else 60})
    return sweep.judge(case, sweep.run_case(case, tmp_path, args), 0.0, args)


REFUSED = ("from minideeplab.errors import ArgumentError\n"
           "raise ArgumentError('f: x must be >= 1')\n")


@pytest.mark.parametrize("case, why", [
    (sweep._py("t", "hang", "import time\ntime.sleep(30)"), "hang: still running"),
    (sweep._py("t", "grows", "import numpy as np\na = np.ones(2 ** 26)\n" + REFUSED),
     r"memory: peak \d+ MiB"),
    (sweep._py("t", "bug", "raise ValueError('f: x')"), "traceback: ValueError"),
    (sweep._py("t", "warns", "import warnings\nwarnings.warn('careful')\n" + REFUSED),
     "printed on stderr"),
    (sweep._py("t", "other words", REFUSED, pattern="seed"), "message does not match"),
    (sweep._py("t", "replaces", "open(D + '/input.txt', 'w').write('gone')\n" + REFUSED,
               keep=["input.txt"]), r"lost: changed \['input.txt'\]"),
    (sweep._cli("t", "two lines", ["crf"]), r"\d+ lines on stderr: \['usage"),
    (sweep.Case("t", "written", "py", "open(D + '/out.txt', 'w').close()\n" + REFUSED,
                "refused", ".", (), ("out.txt",)), r"written although refused: \['out.txt'\]"),
])
def test_the_judge_reports_what_is_not_clean(tmp_path, case, why):
    got = _judge(tmp_path, case)
    assert re.match(why, got), got


def test_a_clean_refusal_is_clean(tmp_path):
    assert _judge(tmp_path, sweep._py("t", "refused", REFUSED, pattern="x must be",
                                      keep=["input.txt"])) == ""
