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
(replaced by :class:`Record`, a plain attribute bag).  Tensors come back as numpy
arrays.

Training snapshots hold more than weights: hyper-parameters in Lightning's
``AttributeDict``, ``argparse.Namespace``, a trainer's own classes.  A global
outside the whitelist therefore resolves to an *inert* stand-in class named
after it (a :class:`Record` subclass; nothing is imported).  Building an
object of it the way pickle builds plain objects (``NEWOBJ`` then its state,
items or list entries) gives an inert record holding that data.  *Calling*
it -- ``REDUCE``, how ``os.system(...)`` or ``eval(...)`` reach a pickle --
runs nothing and leaves a :class:`Refused` marker; once the file is read,
any marker makes the whole load fail with :class:`UnsafePickleError`
naming the global and the entry that held it.  Globals of modules that can
only be there to attack (``os``, ``subprocess``, ``builtins`` other than
``object`` ...) are refused at once.
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


class _NoCall(type):
    """Metaclass of the inert stand-ins: calling the class (pickle's REDUCE)
    constructs nothing and returns a :class:`Refused` marker."""

    def __call__(cls, *args, **kwargs):
        return Refused(cls.qualified_name)


class InertRecord(Record, metaclass=_NoCall):
    """An object of a class the whitelist does not know, read as data.

    ``qualified_name`` is the pickled class (``module.name``); attributes come
    from its pickled state; ``items`` / ``entries`` hold what pickle stored
    into it as a dict or list subclass (Lightning's ``AttributeDict``).  The
    class itself is never imported and none of its code runs."""

    qualified_name = "?"

    def __new__(cls, *args, **kwargs):
        obj = object.__new__(cls)
        if args:
            obj.__dict__["args"] = list(args)
        return obj

    def __setstate__(self, state):
        if isinstance(state, tuple) and len(state) == 2 and all(
                s is None or isinstance(s, dict) for s in state):
            state = {**(state[0] or {}), **(state[1] or {})}
        if isinstance(state, dict):
            self.__dict__.update({str(k): v for k, v in state.items()})
        else:
            self.__dict__["state"] = state

    def __setitem__(self, key, value):
        self.__dict__.setdefault("items", {})[key] = value

    def append(self, value):
        self.__dict__.setdefault("entries", []).append(value)

    def extend(self, values):
        for v in values:
            self.append(v)

    def as_dict(self) -> dict:
        out = dict(self.__dict__)
        out.update(out.pop("items", {}) if isinstance(out.get("items"), dict) else {})
        return out

    def __repr__(self):
        return f"InertRecord({self.qualified_name}, {self.__dict__!r})"


class Refused:
    """What a call of a non-whitelisted global left in the object tree; any
    such marker fails the load (:func:`find_refused`)."""

    def __init__(self, name: str):
        self.name = name

    def __call__(self, *args, **kwargs):
        return self

    def __setstate__(self, state):
        pass

    def __setitem__(self, key, value):
        pass

    def append(self, value):
        pass

    def extend(self, values):
        pass

    def __repr__(self):
        return f"Refused({self.name})"


# Modules a model checkpoint has no reason to name: refused on sight, before
# any inert stand-in is made (the messages the tests and users expect).
_HOSTILE_MODULES = frozenset({
    "os", "posix", "nt", "subprocess", "sys", "builtins", "__builtin__", "shutil", "importlib", "runpy",
    "socket", "ctypes", "pickle", "_pickle", "marshal", "code", "codeop", "pty", "webbrowser", "types",
    "io", "_io", "pathlib_abc", "functools", "operator", "inspect", "multiprocessing", "threading",
    "signal", "tempfile", "glob", "urllib", "http", "ftplib", "smtplib", "telnetlib", "commands",
    "platform", "ensurepip", "pip", "setuptools", "distutils", "site", "sysconfig", "gc", "weakref",
    "copyreg", "copy_reg", "zipimport", "pkgutil", "asyncio", "select", "mmap", "resource", "pydoc",
})


def _inert_class(module: str, name: str) -> type:
    return _NoCall(name, (InertRecord,), {"qualified_name": f"{module}.{name}", "__module__": __name__})


def find_refused(obj, path: str = "", seen=None):
    """``(global, entry)`` of the first :class:`Refused` marker in ``obj`` (dicts,
    lists, tuples and records walked), or None."""
    seen = set() if seen is None else seen
    if id(obj) in seen:
        return None
    seen.add(id(obj))
    if isinstance(obj, Refused):
        return obj.name, path or "(the top-level object)"
    if isinstance(obj, dict):
        children = [(str(k), v) for k, v in obj.items()] + [(f"<key {k!r}>", k) for k in obj
                                                             if isinstance(k, Refused)]
    elif isinstance(obj, (list, tuple)):
        children = [(str(i), v) for i, v in enumerate(obj)]
    elif isinstance(obj, Record):
        children = list(obj.__dict__.items())
    else:
        return None
    for k, v in children:
        hit = find_refused(v, f"{path}/{k}" if path else k, seen)
        if hit is not None:
            return hit
    return None


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
    # copyreg._reconstructor is what protocol 0/1 pickles use for plain objects
    # (and dict / list subclasses); only our own stand-in classes may be built
    # through it, and building one runs nothing.
    if not (isinstance(cls, type) and issubclass(cls, Record)) or base not in (object, dict, list):
        raise UnsafePickleError("copyreg._reconstructor is allowed for the config record only")
    return cls.__new__(cls)


_NUMERIC = set("biufc")


def _dtype(name, align=False, copy=True):
    dt = np.dtype(str(name))
    if dt.kind not in _NUMERIC:
        raise UnsafePickleError(f"refusing NumPy dtype {name!r} (only numeric scalars are read)")
    return dt


def _scalar(dtype, data=None):
    if not isinstance(dtype, np.dtype) or dtype.kind not in _NUMERIC or not isinstance(data, (bytes, bytearray)):
        raise UnsafePickleError("refusing a NumPy scalar that is not numeric")
    return np.frombuffer(bytes(data), dtype, count=1)[0]


def _latin1(text, encoding="latin1"):
    # Protocol-2 pickles (torch.save's) spell bytes as _codecs.encode(str, "latin1").
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise UnsafePickleError("refusing _codecs.encode other than latin1 bytes")
    return text.encode("latin1")


def _path(*parts):
    # A pathlib path in a snapshot's hyper-parameters: kept as its text.
    if not all(isinstance(p, str) for p in parts):
        raise UnsafePickleError("refusing a pathlib path made of non-strings")
    return "/".join(parts).replace("//", "/")


def _device(kind, index=None):
    if not isinstance(kind, str) or not (index is None or isinstance(index, int)):
        raise UnsafePickleError("refusing a torch.device that is not a name and an index")
    return kind if index is None else f"{kind}:{index}"


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
    ("types", "SimpleNamespace"): Record,
    # Plain data snapshots carry in their hyper-parameters and counters.
    ("numpy.core.multiarray", "scalar"): _scalar,
    ("numpy._core.multiarray", "scalar"): _scalar,
    ("numpy", "dtype"): _dtype,
    ("_codecs", "encode"): _latin1,
    ("torch", "device"): _device,
    ("torch", "Size"): tuple,
    **{(module, f.__name__): f for module in ("builtins", "__builtin__") for f in (set, frozenset, complex, slice)},
    **{("pathlib", n): _path for n in ("Path", "PosixPath", "WindowsPath", "PurePath", "PurePosixPath",
                                        "PureWindowsPath")},
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
            pass
        if module.split(".")[0] in _HOSTILE_MODULES:
            raise UnsafePickleError(
                f"refusing to load global '{module}.{name}': not a tensor, storage, OrderedDict or "
                "known config class (nothing in the file was executed)")
        return _inert_class(module, name)

    def persistent_load(self, pid):
        if self._persistent is None:
            raise UnsafePickleError(f"unexpected persistent id {pid!r}")
        return self._persistent(pid)


def _storage_from_pid(pid):
    hit = find_refused(pid)
    if hit is not None:
        raise _refusal(*hit)
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


def _refusal(name: str, entry: str) -> UnsafePickleError:
    return UnsafePickleError(f"refusing to load global '{name}' (called in entry '{entry}'): not a tensor, "
                             "storage, OrderedDict or known config class (nothing in the file was executed)")


def _checked(obj):
    hit = find_refused(obj)
    if hit is not None:
        raise _refusal(*hit)
    return _materialise(obj)


def load_pth(path: str) -> Any:
    """The object stored by ``torch.save`` in ``path`` (zip or legacy container),
    tensors as numpy arrays.  Raises :class:`UnsafePickleError` for a global
    outside the whitelist and :class:`CheckpointError` for damaged files."""
    with open(path, "rb") as f:
        head = f.read(4)
        f.seek(0)
        try:
            if head == b"PK\x03\x04":
                return _checked(_load_zip(f.read()))
            return _checked(_load_legacy(f))
        except CheckpointError:
            raise
        except (Exception, RecursionError) as e:
            # Garbage fed to the unpickler can fail in many ways (bad opcodes,
            # lengths, memo keys); nothing outside the whitelist ever runs, so any
            # failure is a damaged file.
            raise CheckpointError(f"not a readable PyTorch checkpoint ({type(e).__name__}: "
                                  f"{' '.join(str(e).split())[:100]})") from None
