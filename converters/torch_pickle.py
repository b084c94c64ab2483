"""Read PyTorch ``.pth`` files without torch and without executing anything.

Both containers ``torch.save`` writes are read:

* the zip container (torch >= 1.6): ``<root>/data.pkl`` plus one entry
  ``<root>/data/<key>`` of raw bytes per storage;
* the legacy container (``_use_new_zipfile_serialization=False`` and files older
  than torch 1.6): five consecutive pickles/blocks -- magic number, protocol
  version, system info, the object, the list of storage keys -- followed by each
  storage as an int64 element count and its raw bytes.

Unpickling goes through :class:`SafeUnpickler`, whose ``find_class`` returns an
object only for a short whitelist: ``collections.OrderedDict``, the tensor and
parameter rebuild functions (replaced by numpy equivalents), the storage types
(replaced by dtype tags) and pytorch_GAN_zoo's ``models.utils.config.BaseConfig``
(replaced by :class:`Record`, a plain attribute bag).  Every other global --
``os.system``, ``builtins.eval``, any class -- raises :class:`UnsafePickleError`
naming it before anything is called.  Tensors come back as numpy arrays.
"""

from __future__ import annotations

import collections
import io
import pickle
import struct
import zipfile
from typing import Any, Callable, Dict, Tuple

import numpy as np

LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
LEGACY_PROTOCOL = 1001


class CheckpointError(ValueError):
    """A file that is not a readable checkpoint (truncated, wrong format, bad layout)."""


class UnsafePickleError(CheckpointError, pickle.UnpicklingError):
    """The pickle names a global outside the whitelist; nothing was executed."""


def _bfloat16():
    import ml_dtypes  # shipped with jax
    return np.dtype(ml_dtypes.bfloat16)


_STORAGE_DTYPES: Dict[str, Callable[[], np.dtype]] = {
    "FloatStorage": lambda: np.dtype(np.float32), "DoubleStorage": lambda: np.dtype(np.float64),
    "HalfStorage": lambda: np.dtype(np.float16), "BFloat16Storage": _bfloat16,
    "LongStorage": lambda: np.dtype(np.int64), "IntStorage": lambda: np.dtype(np.int32),
    "ShortStorage": lambda: np.dtype(np.int16), "CharStorage": lambda: np.dtype(np.int8),
    "ByteStorage": lambda: np.dtype(np.uint8), "BoolStorage": lambda: np.dtype(np.bool_),
}


class StorageType:
    """Stand-in for ``torch.FloatStorage`` etc.: only its dtype is used."""

    def __init__(self, name: str):
        self.name = name
        self.dtype = _STORAGE_DTYPES[name]()

    def __repr__(self):
        return f"StorageType({self.name})"


class Record:
    """Stand-in for a pickled plain-attribute object (pytorch_GAN_zoo's
    ``BaseConfig``): its pickled ``__dict__`` becomes attributes; no method of
    the original class exists or runs."""

    def __init__(self, *args, **kwargs):
        pass

    def __setstate__(self, state):
        if isinstance(state, tuple) and len(state) == 2:   # (dict, slots)
            state = {**(state[0] or {}), **(state[1] or {})}
        if not isinstance(state, dict):
            raise UnsafePickleError(f"unexpected state {type(state).__name__} for a config object")
        self.__dict__.update(state)

    def as_dict(self) -> dict:
        return dict(self.__dict__)

    def __repr__(self):
        return f"Record({self.__dict__!r})"


def _as_strided(storage: np.ndarray, offset: int, size, stride) -> np.ndarray:
    size, stride = tuple(int(s) for s in size), tuple(int(s) for s in stride)
    need = offset + sum((n - 1) * s for n, s in zip(size, stride)) + 1 if all(size) else offset
    if any(s < 0 for s in stride) or need > storage.size:
        raise CheckpointError(f"tensor of size {size} and stride {stride} at offset {offset} "
                              f"does not fit its storage of {storage.size} elements")
    item = storage.dtype.itemsize
    return np.lib.stride_tricks.as_strided(storage[offset:], size, tuple(s * item for s in stride))


def _rebuild_tensor(storage, storage_offset, size, stride, *unused):
    return _as_strided(storage, int(storage_offset), size, stride)


def _rebuild_parameter(data, requires_grad=False, backward_hooks=None, *unused):
    return data


def _reconstructor(cls, base, state=None):
    # copyreg._reconstructor is what protocol 0/1 pickles use for plain objects;
    # only our own stand-in classes may be built through it.
    if cls is not Record or base is not object:
        raise UnsafePickleError("copyreg._reconstructor is allowed for the config record only")
    return Record()


_GLOBALS: Dict[Tuple[str, str], Any] = {
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("torch._utils", "_rebuild_tensor"): _rebuild_tensor,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    ("torch._utils", "_rebuild_parameter_with_state"): _rebuild_parameter,
    ("copyreg", "_reconstructor"): _reconstructor,
    ("copy_reg", "_reconstructor"): _reconstructor,
    ("builtins", "object"): object,
    ("__builtin__", "object"): object,
    # pytorch_GAN_zoo's configuration object, read as plain attributes.
    ("models.utils.config", "BaseConfig"): Record,
    # training scripts' command-line arguments (rosinality's ``args``), read as plain attributes.
    ("argparse", "Namespace"): Record,
}
_GLOBALS.update({("torch", name): StorageType(name) for name in _STORAGE_DTYPES})


class SafeUnpickler(pickle.Unpickler):
    """``pickle.Unpickler`` that resolves globals only from the whitelist."""

    def __init__(self, file, persistent_load=None):
        super().__init__(file)
        self._persistent = persistent_load

    def find_class(self, module, name):
        try:
            return _GLOBALS[(module, name)]
        except KeyError:
            raise UnsafePickleError(
                f"refusing to load global '{module}.{name}': not a tensor, storage, OrderedDict or "
                "known config class (nothing in the file was executed)") from None

    def persistent_load(self, pid):
        if self._persistent is None:
            raise UnsafePickleError(f"unexpected persistent id {pid!r}")
        return self._persistent(pid)


def _storage_from_pid(pid):
    if not isinstance(pid, tuple) or not pid or pid[0] != "storage":
        raise UnsafePickleError(f"unsupported persistent id {pid!r} (only tensor storages are read)")
    if len(pid) < 5 or not isinstance(pid[1], StorageType):
        raise CheckpointError(f"malformed storage reference {pid!r}")
    return pid[1], str(pid[2]), int(pid[4])


def _load_zip(data: bytes) -> Any:
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
        names = zf.namelist()
    except zipfile.BadZipFile as e:
        raise CheckpointError(f"damaged or truncated zip checkpoint ({e})") from None
    pkl = [n for n in names if n.endswith("/data.pkl") or n == "data.pkl"]
    if len(pkl) != 1:
        raise CheckpointError("zip file is not a PyTorch checkpoint (no single data.pkl)")
    root = pkl[0][: -len("data.pkl")]
    byteorder = zf.read(root + "byteorder").decode() if root + "byteorder" in names else "little"
    storages: Dict[str, np.ndarray] = {}

    def load(pid):
        stype, key, numel = _storage_from_pid(pid)
        if key not in storages:
            try:
                raw = zf.read(f"{root}data/{key}")
            except KeyError:
                raise CheckpointError(f"storage {key!r} is missing from the zip checkpoint") from None
            except (zipfile.BadZipFile, EOFError, OSError) as e:
                raise CheckpointError(f"damaged or truncated zip checkpoint ({e})") from None
            dtype = stype.dtype.newbyteorder("<" if byteorder == "little" else ">")
            if len(raw) < numel * dtype.itemsize:
                raise CheckpointError(f"storage {key!r} is truncated")
            storages[key] = np.frombuffer(raw, dtype, count=numel).astype(stype.dtype)
        return storages[key]

    try:
        return SafeUnpickler(io.BytesIO(zf.read(pkl[0])), load).load()
    except (zipfile.BadZipFile, EOFError, OSError) as e:
        raise CheckpointError(f"damaged or truncated zip checkpoint ({e})") from None


def _load_legacy(f: io.BufferedIOBase) -> Any:
    def plain():
        return SafeUnpickler(f).load()

    try:
        magic = plain()
    except (pickle.UnpicklingError, EOFError, ValueError) as e:
        if isinstance(e, UnsafePickleError):
            raise
        raise CheckpointError("not a PyTorch checkpoint: neither a zip archive nor a legacy pickle") from None
    if magic != LEGACY_MAGIC:
        raise CheckpointError("not a PyTorch checkpoint (bad magic number; the pre-2018 tar format "
                              "is not supported)")
    try:
        protocol = plain()
        if protocol != LEGACY_PROTOCOL:
            raise CheckpointError(f"unsupported legacy protocol version {protocol!r}")
        sys_info = plain()
        little = bool(sys_info.get("little_endian", True)) if isinstance(sys_info, dict) else True
        storages: Dict[str, np.ndarray] = {}

        def load(pid):
            if isinstance(pid, tuple) and pid and pid[0] == "storage" and len(pid) >= 6 and pid[5] is not None:
                raise CheckpointError("legacy storage views are not supported")
            stype, key, numel = _storage_from_pid(pid)
            if key not in storages:
                storages[key] = np.empty(numel, stype.dtype)   # filled after the keys pickle
            return storages[key]

        result = SafeUnpickler(f, load).load()
        keys = plain()
        for key in keys:
            key = str(key)
            if key not in storages:
                raise CheckpointError(f"legacy checkpoint lists unknown storage {key!r}")
            buf = storages[key]
            head = f.read(8)
            if len(head) < 8:
                raise CheckpointError(f"truncated legacy checkpoint (storage {key!r} missing)")
            (numel,) = struct.unpack("<q" if little else ">q", head)
            if numel != buf.size:
                raise CheckpointError(f"storage {key!r} has {numel} elements, expected {buf.size}")
            raw = f.read(numel * buf.dtype.itemsize)
            if len(raw) < numel * buf.dtype.itemsize:
                raise CheckpointError(f"truncated legacy checkpoint (storage {key!r} cut short)")
            buf[...] = np.frombuffer(raw, buf.dtype.newbyteorder("<" if little else ">"), count=numel)
    except (EOFError, pickle.UnpicklingError) as e:
        if isinstance(e, CheckpointError):
            raise
        raise CheckpointError(f"truncated or damaged legacy checkpoint ({e})") from None
    return result


def _materialise(obj):
    """Contiguous copies of every array; records and containers walked."""
    if isinstance(obj, np.ndarray):
        return np.array(obj, copy=True, order="C")
    if isinstance(obj, collections.OrderedDict):
        return collections.OrderedDict((k, _materialise(v)) for k, v in obj.items())
    if isinstance(obj, dict):
        return {k: _materialise(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_materialise(v) for v in obj)
    if isinstance(obj, Record):
        obj.__dict__.update({k: _materialise(v) for k, v in obj.__dict__.items()})
    return obj


def load_pth(path: str) -> Any:
    """The object stored by ``torch.save`` in ``path`` (zip or legacy container),
    tensors as numpy arrays.  Raises :class:`UnsafePickleError` for a global
    outside the whitelist and :class:`CheckpointError` for damaged files."""
    with open(path, "rb") as f:
        head = f.read(4)
        f.seek(0)
        try:
            if head == b"PK\x03\x04":
                return _materialise(_load_zip(f.read()))
            return _materialise(_load_legacy(f))
        except CheckpointError:
            raise
        except (Exception, RecursionError) as e:
            # Garbage fed to the unpickler can fail in many ways (bad opcodes,
            # lengths, memo keys); nothing outside the whitelist ever runs, so any
            # failure is a damaged file.
            raise CheckpointError(f"not a readable PyTorch checkpoint ({type(e).__name__}: "
                                  f"{' '.join(str(e).split())[:100]})") from None
