"""The robustness sweep's judge (benchmarks/sweep_robustness.py) fed wrong answers: a hang, a
process that grows, a traceback, two lines where one is promised, an input replaced, an output
written although refused, a bare built-in error. Each must be reported unclean; the clean
refusal beside them must not be. (The sweep itself is run by hand, not by the suite.)"""
import argparse
import re
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import sweep_robustness as sweep                                       # noqa: E402

ARGS = argparse.Namespace(timeout=60.0, max_growth_mib=200.0, address_limit_gib=2.0)
REFUSED = ("from minideeplab.errors import ArgumentError\n"
           "raise ArgumentError('f: x must be >= 1')\n")
CASES = [  # (case, what the judge must say: "" for clean)
    (sweep._py("t", "refused", REFUSED, pattern="x must be", keep=["input.txt"]), "^$"),
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
]


# the command line's argument errors are one line now; argparse's usage block before the line,
# as it was printed, is the wrong answer for the "two lines" case
USAGE_BLOCK = sweep.Outcome(2, "", "usage: minideeplab crf [-h] IMAGE PROBS --out OUT\n"
                            "minideeplab crf: error: the following arguments are required: "
                            "IMAGE, PROBS, --out\n", 0.5, 0.0, [], [])


def _judge(folder, case):
    if case.name == "two lines":
        return sweep.judge(case, USAGE_BLOCK, 0.0, ARGS)
    folder.mkdir()
    (folder / "input.txt").write_text("precious\n")
    args = argparse.Namespace(**{**vars(ARGS), "timeout": 1.0 if case.name == "hang" else 60})
    return sweep.judge(case, sweep.run_case(case, folder, args), 0.0, args)


@pytest.fixture(scope="module")
def verdicts(tmp_path_factory):
    """The judge's verdict on every case, the cases run four at a time (each is a process)."""
    tmp = tmp_path_factory.mktemp("judge")
    with ThreadPoolExecutor(4) as pool:
        return dict(zip([c.name for c, _ in CASES], pool.map(
            lambda c: _judge(tmp / c.name.replace(" ", "_"), c), [c for c, _ in CASES])))


@pytest.mark.parametrize("name, why", [(c.name, why) for c, why in CASES])
def test_the_judge_tells_clean_from_not_clean(verdicts, name, why):
    assert re.match(why, verdicts[name]), verdicts[name]
