"""A set of golden test cases as data: fields, their layout on a hex line, the header.

A :class:`VectorSet` holds one operation's cases as columns of unsigned
integers (bit patterns): the input fields and the expected output fields, in
the fixed order of :attr:`VectorSet.fields`.  Every file format writes the
same fields in the same order; the header says what produced them.

**The line layout** (the ``$readmemh`` word, also the order of CSV columns):
fields in order, each lane of a field in order (lane 0 first), concatenated
most significant first.  Each lane takes a whole number of hex digits
(``ceil(bits / 4)``, zero-padded at the top): a 6-bit code takes 8 bits, as
PTX packs ``.e3m2x2``.  :meth:`FieldSpec.ranges` gives each lane's
``[msb:lsb]`` within the line.

**The body hash** is the SHA-256 of the hex body exactly as the ``.hex`` file
holds it (lowercase, one case a line, each line ending in ``\\n``), so
``grep -v '^//' vectors.hex | sha256sum`` reproduces it, and every format's
header carries the same value.

Example:
    >>> import numpy as np
    >>> f = (FieldSpec("x", "in", "float32", 32), FieldSpec("y", "out", "code", 6, fmt="e3m2"))
    >>> vs = VectorSet("convert", {"dst": "e3m2"}, 0, 1, f,
    ...                {"x": np.array([0x3F800000], np.uint64), "y": np.array([12], np.uint64)})
    >>> vs.hex_body().decode()
    '3f8000000c\\n'
    >>> f[1].ranges(0), f[0].ranges(8)    # y in bits [7:0] (6 bits padded to 8), x in [39:8]
    ([(7, 0)], [(39, 8)])
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .. import __version__

__all__ = ["FORMAT_TAG", "KINDS", "FieldSpec", "VectorSet", "header_lines", "parse_header_lines"]

#: The first header line's value: the layout version of every vectors file.
FORMAT_TAG = "floatsim-vectors 1"

#: Field kinds: IEEE float bit patterns, codes of a floatsim format, raw words.
KINDS = ("float16", "bfloat16", "float32", "float64", "code", "uint")

_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)


@dataclass(frozen=True)
class FieldSpec:
    """One field of a case: its name, direction, kind, width and lanes.

    Args:
        name: column name (``x``, ``r``, ``y``, ``s``, ``e``).
        role: ``"in"`` (an operand) or ``"out"`` (an expected result).
        kind: one of :data:`KINDS`: ``float32`` etc. are IEEE bit patterns,
            ``code`` a code of the format ``fmt``, ``uint`` a raw word.
        bits: significant bits of one lane.
        lanes: values per case (a block of 32 elements has 32 lanes).
        fmt: for ``code`` fields, the format's name as ``floatsim.format``
            reads it.
    """

    name: str
    role: str
    kind: str
    bits: int
    lanes: int = 1
    fmt: str | None = None

    def __post_init__(self) -> None:
        if self.role not in ("in", "out"):
            raise ValueError(f"field {self.name!r}: role={self.role!r}; allowed: 'in', 'out'")
        if self.kind not in KINDS:
            raise ValueError(f"field {self.name!r}: kind={self.kind!r}; allowed: {', '.join(KINDS)}")
        if not 1 <= self.bits <= 64 or self.lanes < 1:
            raise ValueError(f"field {self.name!r}: bits={self.bits} (1..64), lanes={self.lanes} (>= 1)")
        if (self.kind == "code") != (self.fmt is not None):
            raise ValueError(f"field {self.name!r}: a 'code' field names its format (fmt=), others do not")

    @property
    def digits(self) -> int:
        """Hex digits one lane takes on a line."""
        return (self.bits + 3) // 4

    @property
    def width(self) -> int:
        """Bits the field takes on a line (all lanes, padded to hex digits)."""
        return 4 * self.digits * self.lanes

    def ranges(self, lsb: int) -> list[tuple[int, int]]:
        """``(msb, lsb)`` of each lane on a line where the field's last lane ends at ``lsb``."""
        w = 4 * self.digits
        top = lsb + self.width
        return [(top - 1 - i * w, top - (i + 1) * w) for i in range(self.lanes)]

    def describe(self, lsb: int) -> str:
        """The header's line for this field."""
        r = self.ranges(lsb)
        span = f"[{r[0][0]}:{r[-1][1]}]"
        kind = f"code:{self.fmt}" if self.kind == "code" else self.kind
        lanes = f" x{self.lanes}" if self.lanes > 1 else ""
        return f"{self.name} {self.role} {kind} {self.bits}{lanes} {span}"

    @classmethod
    def parse(cls, text: str) -> FieldSpec:
        """Inverse of :meth:`describe` (the bit range is recomputed, not read)."""
        parts = text.split()
        try:
            name, role, kind, bits = parts[:4]
            lanes = int(parts[4][1:]) if len(parts) > 5 and parts[4].startswith("x") else 1
        except (ValueError, IndexError):
            raise ValueError(f"cannot read field description {text!r}") from None
        fmt = None
        if kind.startswith("code:"):
            kind, fmt = "code", kind[5:]
        return cls(name, role, kind, int(bits), lanes, fmt)


@dataclass
class VectorSet:
    """Golden cases of one operation: parameters, field layout and columns.

    ``data[name]`` is a uint64 array of shape ``(n,)`` (one lane) or
    ``(n, lanes)``.  Build one with :func:`floatsim.vectors.generate`; read
    one with :func:`floatsim.vectors.read`.
    """

    op: str
    params: dict[str, Any]
    seed: int
    level: int
    fields: tuple[FieldSpec, ...]
    data: dict[str, np.ndarray]
    version: str = field(default=__version__)

    def __post_init__(self) -> None:
        n = None
        for f in self.fields:
            if f.name not in self.data:
                raise ValueError(f"vector set {self.op}: no data for field {f.name!r}")
            a = np.asarray(self.data[f.name]).astype(np.uint64, copy=False)
            want = (a.shape[0],) if f.lanes == 1 else (a.shape[0], f.lanes)
            if a.shape != want:
                raise ValueError(f"field {f.name!r} has shape {a.shape}; expected {want}")
            if f.bits < 64 and a.size and int(a.max()) >> f.bits:
                raise ValueError(f"field {f.name!r} holds values wider than {f.bits} bits")
            n = a.shape[0] if n is None else n
            if a.shape[0] != n:
                raise ValueError(f"field {f.name!r} has {a.shape[0]} cases; others have {n}")
            self.data[f.name] = a

    # ---- shape -------------------------------------------------------------------------
    @property
    def n(self) -> int:
        """Number of cases."""
        return int(next(iter(self.data.values())).shape[0]) if self.data else 0

    def __len__(self) -> int:
        return self.n

    @property
    def inputs(self) -> tuple[FieldSpec, ...]:
        return tuple(f for f in self.fields if f.role == "in")

    @property
    def outputs(self) -> tuple[FieldSpec, ...]:
        return tuple(f for f in self.fields if f.role == "out")

    def spec(self, name: str) -> FieldSpec:
        """The FieldSpec called ``name``."""
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(f"no field {name!r}; fields: {[f.name for f in self.fields]}")

    def line_bits(self, fields: tuple[FieldSpec, ...] | None = None) -> int:
        return sum(f.width for f in (self.fields if fields is None else fields))

    def layout(self, fields: tuple[FieldSpec, ...] | None = None) -> list[tuple[FieldSpec, int]]:
        """Each field with the bit position its last lane ends at (its lsb)."""
        fs_ = self.fields if fields is None else fields
        out, lsb = [], self.line_bits(fs_)
        for f in fs_:
            lsb -= f.width
            out.append((f, lsb))
        return out

    def subset(self, index: Any) -> VectorSet:
        """The cases at ``index`` (a slice, mask or index array) as a new set."""
        return VectorSet(self.op, dict(self.params), self.seed, self.level, self.fields,
                         {k: v[index] for k, v in self.data.items()}, self.version)

    def with_outputs(self, outputs: dict[str, np.ndarray]) -> VectorSet:
        """The same inputs with other output columns (e.g. a device's results)."""
        data = dict(self.data)
        data.update(outputs)
        return VectorSet(self.op, dict(self.params), self.seed, self.level, self.fields, data,
                         self.version)

    # ---- the hex body and its hash -----------------------------------------------------
    def hex_body(self, fields: tuple[FieldSpec, ...] | None = None) -> bytes:
        """The cases as hex lines (``fields`` only, default all), as the .hex file holds them."""
        return self.hex_array(fields).tobytes()

    def hex_array(self, fields: tuple[FieldSpec, ...] | None = None) -> np.ndarray:
        """uint8 array ``(n, digits + 1)``: each row one hex line with its newline."""
        fs_ = self.fields if fields is None else fields
        digits = sum(f.digits * f.lanes for f in fs_)
        out = np.empty((self.n, digits + 1), dtype=np.uint8)
        col = 0
        for f in fs_:
            a = self.data[f.name].reshape(self.n, f.lanes)
            for lane in range(f.lanes):
                v = a[:, lane]
                for d in range(f.digits):
                    shift = np.uint64(4 * (f.digits - 1 - d))
                    out[:, col] = _HEX[((v >> shift) & np.uint64(15)).astype(np.intp)]
                    col += 1
        out[:, -1] = ord("\n")
        return out

    def body_hash(self) -> str:
        """SHA-256 (hex digest) of :meth:`hex_body`."""
        return hashlib.sha256(self.hex_body()).hexdigest()

    # ---- the header --------------------------------------------------------------------
    def header(self) -> dict[str, Any]:
        """The self-describing header every file format writes, in a fixed key order."""
        return {
            "format": FORMAT_TAG,
            "floatsim": self.version,
            "op": self.op,
            "params": self.params,
            "seed": self.seed,
            "level": self.level,
            "cases": self.n,
            "line_bits": self.line_bits(),
            "fields": [f.describe(lsb) for f, lsb in self.layout()],
            "body_sha256": self.body_hash(),
        }

    @classmethod
    def from_header(cls, header: dict[str, Any], data: dict[str, np.ndarray],
                    digest: str | None = None) -> VectorSet:
        """Rebuild a set from a header and columns, checking the case count and body hash.
        ``digest``: the hash of the body as read, if the reader has it (it is computed
        from the columns when it differs from the header's, e.g. for upper-case hex)."""
        if header.get("format") != FORMAT_TAG:
            raise ValueError(
                f"not a floatsim vectors file: format is {header.get('format')!r}, "
                f"expected {FORMAT_TAG!r}"
            )
        fields = tuple(FieldSpec.parse(t) for t in header["fields"])
        vs = cls(header["op"], dict(header["params"]), int(header["seed"]), int(header["level"]),
                 fields, data, str(header["floatsim"]))
        if vs.n != int(header["cases"]):
            raise ValueError(f"the header says {header['cases']} cases; the body has {vs.n}")
        if digest != header["body_sha256"]:
            digest = vs.body_hash()
        if digest != header["body_sha256"]:
            raise ValueError(
                f"body hash {digest} does not match the header's {header['body_sha256']}: "
                "the cases were changed after the file was written"
            )
        return vs

    def summary(self) -> str:
        """One line: op, parameters, case count."""
        ps = ", ".join(f"{k}={v.get('name', '...') if isinstance(v, dict) else v}"
                       for k, v in self.params.items() if v is not None)
        return f"{self.op} ({ps}): {self.n} cases, seed {self.seed}, level {self.level}"


def header_lines(header: dict[str, Any]) -> list[str]:
    """``key: value`` lines of a header (values as JSON; one line per field)."""
    lines = []
    for k, v in header.items():
        if k == "fields":
            lines += [f"field: {t}" for t in v]
        else:
            lines.append(f"{k}: {json.dumps(v)}")
    return lines


def parse_header_lines(lines: list[str]) -> dict[str, Any]:
    """Inverse of :func:`header_lines` (unknown keys are kept; order does not matter)."""
    header: dict[str, Any] = {"fields": []}
    for line in lines:
        key, sep, value = line.partition(":")
        if not sep:
            continue
        key, value = key.strip(), value.strip()
        if key == "field":
            header["fields"].append(value)
            continue
        try:
            header[key] = json.loads(value)
        except json.JSONDecodeError:
            header[key] = value
    return header
