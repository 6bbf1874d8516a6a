"""The embedded corpus: the Python standard library's own source text, character level.

Every training demo and study trains on text that is already on the machine:
the ``.py`` files of the running interpreter's standard library
(``sysconfig.get_paths()["stdlib"]``; ``test``, ``idlelib``, ``lib2to3`` and
``site-packages`` left out), read in sorted path order, each file followed by
a blank line.  Characters are tab, newline and printable ASCII (97 symbols);
anything else becomes ``?``.  A file goes to the validation split when the
CRC-32 of its path (relative to the stdlib, '/'-separated) is 0 mod 10, so
the split is deterministic and independent of file order.  The text depends
on the Python version (3.11's stdlib is about 11 M characters in 600 files);
:attr:`Corpus.fingerprint` names it.

The encoded array is cached as ``.npy`` under ``$FLOATSIM_CACHE`` (default
``~/.cache/floatsim``), keyed by the fingerprint, so later loads skip the
reading and encoding.

Example:
    >>> from floatsim.studies import corpus
    >>> c = corpus.load(max_chars=200_000)
    >>> c.vocab_size, c.decode(c.encode("def f(x):\\n")) == "def f(x):\\n"
    (97, True)
    >>> x, y = c.batch("train", batch_size=2, seq_len=8, rng=__import__("numpy").random.default_rng(0))
    >>> x.shape, bool((x[:, 1:] == y[:, :-1]).all())
    ((2, 8), True)
"""

from __future__ import annotations

import hashlib
import os
import sys
import sysconfig
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["VOCAB", "Corpus", "files", "load"]

#: The symbols, in token order: tab, newline, then printable ASCII 32..126.
VOCAB = "\t\n" + "".join(chr(c) for c in range(32, 127))
_SKIP_DIRS = {"site-packages", "dist-packages", "test", "tests", "idlelib", "lib2to3",
              "__pycache__"}
_VAL_MOD = 10
_UNKNOWN = VOCAB.index("?")


def _table() -> np.ndarray:
    t = np.full(256, _UNKNOWN, np.uint8)
    for i, ch in enumerate(VOCAB):
        t[ord(ch)] = i
    return t


_LUT = _table()


def files(root: str | os.PathLike | None = None) -> list[Path]:
    """The corpus files, in reading order (sorted relative paths).

    Example:
        >>> any(p.name == "os.py" for p in files())
        True
    """
    base = Path(root if root is not None else sysconfig.get_paths()["stdlib"])
    if not base.is_dir():
        raise ValueError(f"root={str(base)!r} is not a directory (the standard library's "
                         "source is needed; some Python builds ship .pyc files only)")
    out = []
    for d, dirs, names in os.walk(base):
        dirs[:] = sorted(x for x in dirs if x not in _SKIP_DIRS)
        out.extend(Path(d) / n for n in sorted(names) if n.endswith(".py"))
    if not out:
        raise ValueError(f"no .py files under {str(base)!r}")
    return sorted(out, key=lambda p: p.relative_to(base).as_posix())


@dataclass(frozen=True)
class Corpus:
    """Token ids (uint8, one per character) of the train and validation splits."""

    train: np.ndarray
    val: np.ndarray
    fingerprint: str

    @property
    def vocab_size(self) -> int:
        return len(VOCAB)

    @staticmethod
    def encode(text: str) -> np.ndarray:
        """Token ids of ``text`` (characters outside :data:`VOCAB` become '?')."""
        raw = np.frombuffer(text.encode("ascii", errors="replace"), np.uint8)
        return _LUT[raw]

    @staticmethod
    def decode(ids: np.ndarray) -> str:
        """The text of token ids."""
        return "".join(VOCAB[int(i)] for i in np.asarray(ids).reshape(-1))

    def batch(self, split: str, batch_size: int, seq_len: int,
              rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """``batch_size`` random windows of ``seq_len`` tokens and their next tokens
        (int64 arrays of shape (batch_size, seq_len))."""
        data = {"train": self.train, "val": self.val}.get(split)
        if data is None:
            raise ValueError(f"split={split!r} is not valid; allowed: 'train', 'val'")
        if seq_len < 1 or batch_size < 1 or seq_len + 1 > data.size:
            raise ValueError(f"seq_len={seq_len} and batch_size={batch_size} must be >= 1 and "
                             f"seq_len + 1 <= {data.size} (the {split} split's length)")
        start = rng.integers(0, data.size - seq_len - 1, batch_size)
        idx = start[:, None] + np.arange(seq_len + 1)
        w = data[idx].astype(np.int64)
        return w[:, :-1], w[:, 1:]


def _cache_dir() -> Path:
    return Path(os.environ.get("FLOATSIM_CACHE", Path.home() / ".cache" / "floatsim"))


def _read(paths: list[Path], base: Path) -> tuple[np.ndarray, np.ndarray]:
    parts: dict[str, list[np.ndarray]] = {"train": [], "val": []}
    for p in paths:
        text = p.read_text(encoding="utf-8", errors="replace") + "\n\n"
        rel = p.relative_to(base).as_posix()
        split = "val" if zlib.crc32(rel.encode()) % _VAL_MOD == 0 else "train"
        parts[split].append(Corpus.encode(text))
    empty = np.zeros(0, np.uint8)
    return (np.concatenate(parts["train"]) if parts["train"] else empty,
            np.concatenate(parts["val"]) if parts["val"] else empty)


def load(max_chars: int | None = None, *, root: str | os.PathLike | None = None,
         cache: bool = True) -> Corpus:
    """The corpus, read from the standard library (or ``root``) and split
    into train and validation text.

    Args:
        max_chars: keep this many characters: the first 90% of them from the
            training text and the rest (at least 1000) from the validation
            text; None keeps everything.
        root: a directory to read instead of the standard library.
        cache: read and write the encoded arrays under ``$FLOATSIM_CACHE``.
    """
    if max_chars is not None and (isinstance(max_chars, bool) or not isinstance(max_chars, int)
                                  or max_chars < 10_000):
        raise ValueError(f"max_chars={max_chars!r} must be an int >= 10000 or None")
    base = Path(root if root is not None else sysconfig.get_paths()["stdlib"])
    paths = files(base)
    key = hashlib.sha256(
        f"{sys.version_info[:3]}|{base}|{len(paths)}|{VOCAB}".encode()).hexdigest()[:16]
    fp = f"stdlib-{sys.version_info[0]}.{sys.version_info[1]}-{key}"
    path = _cache_dir() / f"corpus-{fp}.npz"
    if cache and path.is_file():
        with np.load(path) as z:
            train, val = z["train"], z["val"]
    else:
        train, val = _read(paths, base)
        if cache:
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                tmp = path.with_suffix(f".{os.getpid()}.tmp.npz")
                np.savez(tmp, train=train, val=val)
                os.replace(tmp, path)
            except OSError:   # a read-only home: the corpus still works, uncached
                pass
    if max_chars is not None:
        n_val = max(1000, max_chars // 10)
        train, val = train[: max_chars - n_val], val[:n_val]
        fp += f"-{max_chars}"
    if val.size < 1000 or train.size < 1000:
        raise ValueError(f"the corpus has {train.size} training and {val.size} validation "
                         "characters; at least 1000 of each are needed")
    return Corpus(train=train, val=val, fingerprint=fp)
