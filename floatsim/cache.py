"""Where Numba caches floatsim's compiled kernels, and when that cache is stale.

Numba's own locator writes next to each source file (``__pycache__`` of the
installed package, shared by every virtual environment that uses a
checkout) and stamps each file by its own contents only, so an edit to a
routine that a kernel inlines from another file kept the old machine code
running.  floatsim puts a locator of its own first in Numba's list (for
functions defined in floatsim's files only; every other library's caching
is untouched):

* the directory is ``$FLOATSIM_CACHE_DIR``, else ``$NUMBA_CACHE_DIR/floatsim``,
  else ``$XDG_CACHE_HOME/floatsim/numba`` (``~/.cache/floatsim/numba``): never
  the package tree;
* below it, one folder per *source key*: a hash of every floatsim source
  file that names numba or a ``*_jit`` decorator of the kernel layer (the
  kernels and everything they inline) and the
  Python, numpy and numba versions (CUDA kernels in a subfolder named by the
  numba-cuda version).  Editing any kernel source starts a new folder; old
  folders are left for ``floatsim warmup --clean``.  Virtual environments
  with the same versions share the compiled code (it depends on nothing
  else but the CPU, which Numba's own index records).

If that directory cannot be written, Numba's own locators are used as before.

**First use.** A kernel that is neither loaded in this process nor in the
cache compiles at its first call, for seconds to a minute.  :func:`first_use`
says so once per process, before the pause, on the ``floatsim`` logger (to
stderr unless the application configured logging; ``FLOATSIM_QUIET=1``
silences it).  ``floatsim warmup`` compiles the kernels ahead, in parallel.

Example:
    >>> from floatsim.cache import cache_dir
    >>> cache_dir().name == source_key()
    True
"""

from __future__ import annotations

import functools
import hashlib
import logging
import os
import sys
from pathlib import Path
from typing import Any

__all__ = ["PACKAGE_DIR", "cache_dir", "cache_root", "first_use", "install_cpu", "install_cuda",
           "source_key"]

#: The floatsim package's folder (its kernels are cached by this locator).
PACKAGE_DIR = Path(__file__).resolve().parent


def cache_root() -> Path:
    """The folder holding one cache folder per source key."""
    if os.environ.get("FLOATSIM_CACHE_DIR"):
        return Path(os.environ["FLOATSIM_CACHE_DIR"])
    if os.environ.get("NUMBA_CACHE_DIR"):
        return Path(os.environ["NUMBA_CACHE_DIR"]) / "floatsim"
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "floatsim" / "numba"


def _version(dist: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(dist)
    except PackageNotFoundError:
        return "-"


@functools.cache
def source_key() -> str:
    """The hash naming this installation's cache folder (see the module docstring)."""
    h = hashlib.sha256()
    for path in sorted(PACKAGE_DIR.rglob("*.py")):
        text = path.read_bytes()
        # Kernel sources: those importing numba, and those compiled through the
        # kernel layer's decorators (kernels/intrinsics.py's *_jit), which
        # import no numba themselves (philox.py, fast32.py, ...).
        if b"numba" in text or b"_jit" in text:
            h.update(str(path.relative_to(PACKAGE_DIR)).encode() + b"\0" + text + b"\0")
    for part in (sys.version, _version("numpy"), _version("numba")):
        h.update(part.encode() + b"\0")
    return h.hexdigest()[:16]


def cache_dir() -> Path:
    """This installation's cache folder."""
    return cache_root() / source_key()


class _Locator:
    """A Numba cache locator for functions defined in floatsim's files.  Mixed
    into each Numba flavour's abstract locator (CPU and CUDA) below."""

    #: a subfolder of the cache folder (the CUDA kernels')
    subfolder = ""

    def __init__(self, py_func: Any, py_file: str) -> None:
        self._py_file = py_file
        self._lineno = py_func.__code__.co_firstlineno
        rel = Path(py_file).resolve().relative_to(PACKAGE_DIR)
        self._path = str(cache_dir() / self.subfolder / rel.parent)

    def get_cache_path(self) -> str:
        return self._path

    def get_source_stamp(self) -> str:
        # the folder already names every source; the stamp only has to be stable
        return source_key()

    def get_disambiguator(self) -> str:
        return str(self._lineno)

    @classmethod
    def from_function(cls, py_func: Any, py_file: str) -> Any:
        try:
            Path(py_file).resolve().relative_to(PACKAGE_DIR)
        except (ValueError, OSError):
            return None  # not floatsim's: Numba's own locators decide
        self = cls(py_func, py_file)
        try:
            self.ensure_cache_path()
        except OSError:
            return None
        return self


def _install(caching: Any, subfolder: str = "") -> None:
    # CacheImpl in numba >= 0.61 and numba-cuda, _CacheImpl before
    impl = getattr(caching, "CacheImpl", None) or getattr(caching, "_CacheImpl", None)
    base = getattr(caching, "_CacheLocator", None)
    classes = getattr(impl, "_locator_classes", None)
    if base is None or not isinstance(classes, list):  # a Numba whose internals moved: its defaults
        return
    if any(getattr(c, "_floatsim", False) for c in classes):
        return
    locator = type("FloatsimCacheLocator", (_Locator, base), {"_floatsim": True, "subfolder": subfolder})
    classes.insert(0, locator)


@functools.cache
def install_cpu() -> None:
    """Put floatsim's locator first for ``numba.njit(cache=True)`` functions."""
    from numba.core import caching

    _install(caching)


@functools.cache
def install_cuda() -> None:
    """The same for ``numba.cuda.jit(cache=True)`` kernels (numba-cuda)."""
    try:
        from numba.cuda.core import caching
    except ImportError:  # no numba-cuda: nothing of floatsim's is cached for CUDA
        return
    _install(caching, f"cuda-{_version('numba-cuda')}")


# ---- first use -------------------------------------------------------------------------------

LOG = logging.getLogger("floatsim")
_SEEN: set[Any] = set()
_ANNOUNCED = False


def _is_cached(kernel: Any) -> bool:
    """Whether Numba's disk cache holds machine code for ``kernel`` (any signature)."""
    try:
        return bool(kernel._cache._cache_file._load_index())  # numba's FunctionCache internals
    except Exception:  # noqa: BLE001 - a numba whose internals moved: assume it compiles
        return False


def first_use(kernel: Any) -> None:
    """Call before launching ``kernel`` (a numba dispatcher): the first time a
    kernel that is not yet compiled in this process nor cached on disk is
    launched, log once that compiling is under way (see the module docstring)."""
    global _ANNOUNCED
    if _ANNOUNCED or kernel in _SEEN:
        return
    _SEEN.add(kernel)
    if getattr(kernel, "overloads", None) or _is_cached(kernel):
        return
    _ANNOUNCED = True
    if os.environ.get("FLOATSIM_QUIET"):
        return
    if not LOG.handlers and not logging.getLogger().handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(name)s: %(message)s"))
        LOG.addHandler(handler)
        LOG.setLevel(logging.INFO)
    name = getattr(getattr(kernel, "py_func", None), "__name__", repr(kernel))
    LOG.info(
        "compiling kernels for this machine (first use of %s; a few seconds to a minute, "
        "once: the machine code is cached in %s). `floatsim warmup` compiles them ahead.",
        name, cache_dir())
