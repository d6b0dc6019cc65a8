"""The .pth reader's budgets: small crafted files that used to hang, recurse or allocate
gigabytes are refused before the work, with an error naming the file and the limit.

Each refused file differs from a valid one (which loads, to the values written) in the one
field under test, so the refusal is about that field. Oracles: the arrays written into the
crafted storages; the element counts and byte sizes the files claim.
"""
import pickle
import zipfile

import numpy as np
import pytest

from minideeplab import budgets, pth
from minideeplab.errors import BudgetExceededError, FileFormatError
from minideeplab.pth import load_pth
from pth_crafting import (legacy_bytes, op_dict, op_int, op_str, op_tensor, state_pickle,
                          write_zip)

W = np.arange(24, dtype=np.float32) / 7          # one storage of 24 float32 values


def _save(tmp_path, name, pickle_bytes, storages=None, fmt="zip", **kwargs):
    path = tmp_path / f"{name}_{fmt}.pth"
    storages = {"0": W} if storages is None else storages
    if fmt == "zip":
        write_zip(path, pickle_bytes, storages, **kwargs)
    else:
        path.write_bytes(legacy_bytes(pickle_bytes, storages, **kwargs))
    return path


FORMATS = ["zip", "legacy"]


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_hand_assembled_file_loads(tmp_path, fmt):
    """The crafting helpers write what torch.save writes: the valid file loads exactly."""
    p = state_pickle({"w": ("0", 24, (2, 3, 4), (12, 4, 1)), "t": ("0", 24, (4, 3), (1, 4), 12),
                      "s": ("0", 24, (), (), 5)})
    got = load_pth(_save(tmp_path, "valid", p, fmt=fmt))
    np.testing.assert_array_equal(got["w"], W.reshape(2, 3, 4))
    np.testing.assert_array_equal(got["t"], W[12:].reshape(3, 4).T)
    assert got["s"].shape == () and got["s"] == W[5]


@pytest.mark.parametrize("fmt", FORMATS)
def test_billion_laughs_is_refused_at_the_object_budget(tmp_path, fmt):
    """9 levels of 10 shared references: 10**9 objects once expanded, in a few hundred bytes."""
    nest = []
    for _ in range(9):
        nest = [nest] * 10
    data = pickle.dumps({"x": nest}, protocol=2)
    assert len(data) < 300
    path = _save(tmp_path, "laughs", data, storages={}, fmt=fmt)
    with pytest.raises(BudgetExceededError, match=r"load_pth: .*laughs.* more than 100000 "
                                                  r"objects once its shared references"):
        load_pth(path)


def _nested_lists(depth):
    """{'x': [[[...]]]} nested ``depth`` deep, by opcodes (Python's pickler would recurse)."""
    return b"\x80\x02}" + op_str("x") + b"]" * depth + b"a" * (depth - 1) + b"s."


@pytest.mark.parametrize("fmt", FORMATS)
def test_deep_nesting_and_cycles_are_refused(tmp_path, fmt):
    with pytest.raises(BudgetExceededError, match="nests containers more than 64 deep"):
        load_pth(_save(tmp_path, "deep", _nested_lists(5000), storages={}, fmt=fmt))
    shallow = load_pth(_save(tmp_path, "shallow", _nested_lists(50), storages={}, fmt=fmt))
    inner = shallow["x"]
    for _ in range(49):                                   # 50 levels: 49 steps to the last
        assert len(inner) == 1
        inner = inner[0]
    assert inner == []
    cycle = b"\x80\x02}" + op_str("x") + b"]q\x00h\x00as."     # a list that contains itself
    with pytest.raises(FileFormatError, match=r"load_pth: .*\['x'\]\[0\] contains itself"):
        load_pth(_save(tmp_path, "cycle", cycle, storages={}, fmt=fmt))


@pytest.mark.parametrize("count", [2 ** 62, 2 ** 40, 25, -5])
def test_legacy_storage_counts_beyond_the_file_are_refused(tmp_path, count):
    """The int64 element count before each legacy storage (and the pickle's, which agrees)
    must fit in what is left of the file (2**62 elements overflowed, 2**40 asked for 4 TiB,
    -5 read backwards)."""
    p = state_pickle({"w": ("0", count, (24,), (1,))})
    path = _save(tmp_path, "count", p, fmt="legacy", counts={"0": count})
    match = (r"claims -5 elements" if count < 0 else
             rf"storage '0' claims {count} float32 elements .* bytes are left in the file")
    with pytest.raises(FileFormatError, match=rf"load_pth: .*{match}"):
        load_pth(path)


def test_legacy_storage_counts_must_agree_with_the_pickle(tmp_path):
    path = _save(tmp_path, "disagree", state_pickle({"w": ("0", 24, (24,), (1,))}),
                 fmt="legacy", counts={"0": 23})
    with pytest.raises(FileFormatError, match="storage '0' holds 23 elements but the pickle "
                                              "says 24"):
        load_pth(path)


def test_zip_storage_sizes_must_match_their_members(tmp_path):
    p = state_pickle({"w": ("0", 10 ** 9, (24,), (1,))})
    with pytest.raises(FileFormatError, match=r"storage '0' claims 1000000000 float32 elements "
                                              r"\(4000000000 bytes\) but its member holds 96"):
        load_pth(_save(tmp_path, "claim", p))


@pytest.mark.parametrize("field, spec", [("numel", ("0", -1, (24,), (1,))),
                                         ("size", ("0", 24, (-24,), (1,))),
                                         ("stride", ("0", 24, (24,), (-1,)))])
def test_negative_sizes_are_named(tmp_path, field, spec):
    path = _save(tmp_path, "negative", state_pickle({"w": spec}))
    with pytest.raises(FileFormatError, match="load_pth: .*(claims -1 elements|negative size)"):
        load_pth(path)


def test_oversized_bytes_fields_are_refused_before_allocation(tmp_path):
    """A BINBYTES8 opcode that claims 2**62 bytes (MemoryError before): the scan sees that
    the data is not there."""
    p = b"\x80\x02}" + op_str("x") + b"\x8e" + (2 ** 62).to_bytes(8, "little") + b"abc" + b"s."
    for fmt in FORMATS:
        with pytest.raises(FileFormatError, match="load_pth: .*its pickle cannot be decoded"):
            load_pth(_save(tmp_path, "bytes8", p, storages={}, fmt=fmt))


def test_extension_codes_are_named(tmp_path):
    p = b"\x80\x02}" + op_str("x") + b"\x82\x01" + b"s."                  # EXT1 1
    with pytest.raises(FileFormatError, match=r"load_pth: .* uses an extension code .*opcode "
                                              r"EXT1 at byte"):
        load_pth(_save(tmp_path, "ext", p, storages={}))


def test_stride_zero_expansion_is_refused(tmp_path):
    """A 1-element storage viewed as 30000 x 30000 (3.4 GiB once copied) in 300 bytes."""
    one = np.ones(1, np.float32)
    p = state_pickle({"w": ("0", 1, (30000, 30000), (0, 0))})
    path = _save(tmp_path, "stride0", p, storages={"0": one})
    assert path.stat().st_size < 1000
    with pytest.raises(FileFormatError, match=r"\(900000000 elements, stride \(0, 0\)\) expands "
                                              "a storage of 1 elements"):
        load_pth(path)


def test_many_views_of_one_storage_are_refused_beyond_twice_its_bytes(tmp_path):
    big = np.zeros(2 ** 20, np.float32)                                      # 4 MiB
    views = {f"v{i}": ("0", 2 ** 20, (2 ** 20,), (1,)) for i in range(3)}
    got = load_pth(_save(tmp_path, "tied", state_pickle(dict(list(views.items())[:2])),
                         storages={"0": big}))
    assert set(got) == {"v0", "v1"}                                           # tied weights: 2x
    with pytest.raises(BudgetExceededError, match="more than 2 times the bytes of the storages"):
        load_pth(_save(tmp_path, "views", state_pickle(views), storages={"0": big}))


def test_a_zip_bomb_is_refused_before_decompressing(tmp_path, monkeypatch):
    """Members that decompress to more than twice the file (plus MAX_EXTRA_BYTES, here 0):
    refused from the sizes in the zip directory; the same storage stored plainly loads."""
    zeros = np.zeros(2 ** 18, np.float32)                                    # 1 MiB
    p = state_pickle({"w": ("0", zeros.size, (zeros.size,), (1,))})
    monkeypatch.setattr(budgets, "MAX_EXTRA_BYTES", 0)
    plain = _save(tmp_path, "plain", p, storages={"0": zeros})
    assert load_pth(plain)["w"].shape == zeros.shape
    bomb = _save(tmp_path, "bomb", p, storages={"0": zeros}, compress=True)
    assert bomb.stat().st_size < 10_000
    reads, open_ = [], zipfile.ZipFile.open
    monkeypatch.setattr(zipfile.ZipFile, "open", lambda self, name, *args, **kwargs:
                        reads.append(name) or open_(self, name, *args, **kwargs))
    with pytest.raises(BudgetExceededError, match=r"load_pth: .*bomb_zip.pth' claims 1048576 "
                                                  "bytes once decompressed, more than twice"):
        load_pth(bomb)
    assert [getattr(r, "filename", r) for r in reads] == ["archive/byteorder", "archive/data.pkl"]


def test_a_member_longer_than_its_directory_entry_is_decompressed_only_to_the_claim(
        tmp_path, monkeypatch):
    """A storage whose zip directory claims its true 96 bytes while its deflated stream holds
    16 MiB (a 1 MB file holding 1 GiB took 5 s and 2 GiB): at most the claim plus one of
    zipfile's chunks is decompressed, and the CRC refuses the member."""
    lying = tmp_path / "lying.pth"
    with zipfile.ZipFile(lying, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("archive/data.pkl", state_pickle({"w": ("0", 24, (24,), (1,))}))
        z.writestr("archive/data/0", bytes(2 ** 24))
    data = bytearray(lying.read_bytes())
    central = data.rindex(b"archive/data/0") - 46      # its central directory entry
    assert data[central:central + 4] == b"PK\x01\x02"
    data[central + 24:central + 28] = (96).to_bytes(4, "little")   # uncompressed size
    lying.write_bytes(bytes(data))
    produced, decompressor = [], zipfile._get_decompressor

    class Counting:
        def __init__(self, inner):
            self.inner = inner

        def decompress(self, data, max_length=0):
            out = self.inner.decompress(data, max_length)
            produced.append(len(out))
            return out

        def __getattr__(self, name):
            return getattr(self.inner, name)
    monkeypatch.setattr(zipfile, "_get_decompressor", lambda kind: Counting(decompressor(kind)))
    with pytest.raises(FileFormatError, match=r"load_pth: .*lying.pth is damaged .*BadZipFile: "
                                              "Bad CRC-32 for file 'archive/data/0'"):
        load_pth(lying)
    assert 0 < sum(produced) < 2 ** 20


def test_pickles_beyond_the_opcode_budget_are_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(pth, "MAX_PICKLE_OPS", 100)
    small = op_dict([(f"k{i}", op_int(i)) for i in range(10)])
    assert load_pth(_save(tmp_path, "small", small, storages={}))["k9"] == 9
    big = op_dict([(f"k{i}", op_int(i)) for i in range(100)])
    with pytest.raises(BudgetExceededError, match="more than 100 opcodes"):
        load_pth(_save(tmp_path, "big", big, storages={}))


def test_bad_tensor_fields_are_file_errors(tmp_path):
    bad_size = op_dict([("w", op_tensor("0", 24, (2, 3), (3,)))])            # lengths differ
    with pytest.raises(FileFormatError, match="size and stride must be two tuples of the same"):
        load_pth(_save(tmp_path, "fields", bad_size))
