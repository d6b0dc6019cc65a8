"""Hand-assembled ``.pth`` files for the reader's tests: valid ones, and ones that lie.

A ``torch.save`` file is a pickle of ``_rebuild_tensor_v2(storage, offset, size, stride, ...)``
calls whose storages are persistent ids ``("storage", torch.<Type>Storage, key, location,
numel)`` (docs/conventions.md, "torchvision's DeepLabV3"; ``minideeplab/pth.py``). These helpers
write the opcodes themselves (protocol 2, as torch.save), so a test can change any one field
and nothing else; ``test_pth_budgets.py`` checks that the valid variant loads.
"""
import pickle
import struct
import zipfile

import numpy as np

STORAGE_NAMES = {"float32": "FloatStorage", "float64": "DoubleStorage", "int64": "LongStorage",
                 "uint8": "ByteStorage"}


def op_global(module, name):
    return b"c" + f"{module}\n{name}\n".encode()


def op_str(s):
    b = s.encode()
    return b"X" + struct.pack("<I", len(b)) + b


def op_int(n):
    """BININT for 32-bit values, else LONG1 (any size, two's complement little-endian)."""
    if -2 ** 31 <= n < 2 ** 31:
        return b"J" + struct.pack("<i", n)
    data = n.to_bytes((n.bit_length() + 8) // 8, "little", signed=True)
    return b"\x8a" + bytes([len(data)]) + data


def op_tuple(*items):
    return b"(" + b"".join(items) + b"t"


def op_tensor(key, numel, size, stride, offset=0, dtype="float32"):
    """The opcodes that push one tensor viewing storage ``key`` (``numel`` elements)."""
    storage = op_tuple(op_str("storage"), op_global("torch", STORAGE_NAMES[dtype]), op_str(key),
                       op_str("cpu"), op_int(numel)) + b"Q"                    # BINPERSID
    return (op_global("torch._utils", "_rebuild_tensor_v2") + b"(" + storage + op_int(offset)
            + op_tuple(*map(op_int, size)) + op_tuple(*map(op_int, stride)) + b"\x89"
            + op_global("collections", "OrderedDict") + b")R" + b"tR")


def op_dict(items):
    """``{name: value}`` from (name, opcodes) pairs, then STOP: a whole pickle."""
    body = b"".join(op_str(k) + v for k, v in items)
    return b"\x80\x02}(" + body + b"u."


def state_pickle(tensors):
    """tensors: name -> (key, numel, size, stride[, offset[, dtype]]) -> a state-dict pickle."""
    return op_dict([(name, op_tensor(*spec)) for name, spec in tensors.items()])


def write_zip(path, pickle_bytes, storages, compress=False, byteorder="little"):
    """A zip-format file: ``archive/data.pkl`` and ``archive/data/<key>`` for each storage
    (key -> NumPy array, written raw), stored as torch.save does unless ``compress``."""
    kind = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
    with zipfile.ZipFile(path, "w", compression=kind) as z:
        z.writestr("archive/data.pkl", pickle_bytes)
        z.writestr("archive/byteorder", byteorder)
        for key, array in storages.items():
            z.writestr(f"archive/data/{key}", np.ascontiguousarray(array).tobytes())
        z.writestr("archive/version", "3\n")
    return path


def legacy_bytes(pickle_bytes, storages, counts=None):
    """A legacy-format stream: magic, protocol, sys_info, the state pickle, the key list, then
    per key an int64 element count (``counts[key]`` overrides the true one) and the bytes."""
    head = b"".join(pickle.dumps(o, protocol=2) for o in (
        0x1950a86a20f9469cfc6c, 1001, {"protocol_version": 1001, "little_endian": True}))
    keys = pickle.dumps(list(storages), protocol=2)
    tail = b""
    for key, array in storages.items():
        count = array.size if counts is None or key not in counts else counts[key]
        tail += struct.pack("<q", count) + np.ascontiguousarray(array).tobytes()
    return head + pickle_bytes + keys + tail
