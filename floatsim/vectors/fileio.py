"""Vector files: hex (``$readmemh``), CSV and .npz, each with the same header.

* ``.hex``: header lines ``// key: value`` (values as JSON, one ``// field:``
  line per field with its bit range), then one case a line: the fields'
  lanes concatenated most significant first, each lane ``ceil(bits/4)``
  lowercase hex digits (:mod:`floatsim.vectors.vectorset`).  A Verilog test
  bench reads it with ``$readmemh`` into ``reg [line_bits-1:0] v [0:cases-1]``.
* ``.csv``: the header as ``# key: value`` lines, a row of column names
  (``x``, ``e[0]`` ... for lanes, then ``x_value`` ...), then a row per case:
  each lane in hex as on the hex line, then the value of each float or code
  lane (``repr`` of the float64 value; ignored when read back).
* ``.npz``: one uint array per field (uint8/16/32/64 by width, shape
  ``(n,)`` or ``(n, lanes)``) and ``header`` (the header as a JSON string).

Every reader checks the header's case count and body hash.  Results files
(a device's outputs) are read by :func:`read_results`.

Example:
    >>> import tempfile, pathlib, floatsim.vectors as fv
    >>> vs = fv.generate("decode", format="e2m1")
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> paths = fv.write_all(vs, d)
    >>> sorted(p.suffix for p in paths)
    ['.csv', '.hex', '.npz']
    >>> all(fv.read(p).body_hash() == vs.body_hash() for p in paths)
    True
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from ..formats import Format
from ..registry import format as lookup
from .cases import DTYPES, from_bits
from .vectorset import FieldSpec, VectorSet, header_lines, parse_header_lines

__all__ = ["FORMATS", "default_stem", "read", "read_results", "write", "write_all"]

#: The file formats, by suffix.
FORMATS = ("hex", "csv", "npz")

# ascii -> nibble; 16 marks an x / z digit (a Verilog unknown), 255 anything else
_NIBBLE = np.full(256, 255, dtype=np.uint8)
for _i, _c in enumerate(b"0123456789abcdef"):
    _NIBBLE[_c] = _i
    _NIBBLE[ord(chr(_c).upper())] = _i
for _c in b"xXzZ":
    _NIBBLE[_c] = 16


def default_stem(vs: VectorSet) -> str:
    """A file name (without suffix) from the op and its parameters."""
    keep = [str(v.get("name", k) if isinstance(v, dict) else v) for k, v in vs.params.items()
            if v is not None and k != "random"]
    safe = "_".join([vs.op, *keep]).replace("/", "-").replace(" ", "")
    return f"{safe}_s{vs.seed}_l{vs.level}"


def _suffix(path: Path) -> str:
    s = path.suffix.lower().lstrip(".")
    if s not in FORMATS:
        raise ValueError(f"file {str(path)!r} has suffix {path.suffix!r}; allowed: .hex, .csv, .npz")
    return s


# ---- writing ----------------------------------------------------------------------------
def write(vs: VectorSet, path: str | Path) -> Path:
    """Write ``vs`` to ``path``; the suffix (.hex, .csv, .npz) picks the format."""
    path = Path(path)
    kind = _suffix(path)
    header = vs.header()
    if kind == "hex":
        head = "".join(f"// {line}\n" for line in header_lines(header))
        with open(path, "wb") as fh:
            fh.write(f"// floatsim golden vectors: {vs.summary()}\n".encode())
            fh.write(head.encode())
            fh.write(vs.hex_body())
    elif kind == "csv":
        _write_csv(vs, header, path)
    else:
        arrays = {f.name: vs.data[f.name].astype(_uint_dtype(f.bits)) for f in vs.fields}
        np.savez_compressed(path, header=np.array(json.dumps(header)), **arrays)
    return path


def write_all(vs: VectorSet, out_dir: str | Path, stem: str | None = None,
              formats: tuple[str, ...] = FORMATS) -> list[Path]:
    """Write ``vs`` in each of ``formats`` into ``out_dir`` (created if needed)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    bad = [f for f in formats if f not in FORMATS]
    if bad:
        raise ValueError(f"formats={bad!r}; allowed: {', '.join(FORMATS)}")
    stem = stem or default_stem(vs)
    return [write(vs, out / f"{stem}.{kind}") for kind in formats]


def _uint_dtype(bits: int) -> np.dtype:
    return np.dtype(next(t for t in (np.uint8, np.uint16, np.uint32, np.uint64)
                         if bits <= 8 * np.dtype(t).itemsize))


def _columns(fields: tuple[FieldSpec, ...]) -> list[str]:
    return [f.name if f.lanes == 1 else f"{f.name}[{i}]" for f in fields for i in range(f.lanes)]


def lane_values(f: FieldSpec, raw: np.ndarray) -> np.ndarray | None:
    """float64 values of a field's raw bits (float and code kinds), else None."""
    if f.kind in DTYPES:
        return from_bits(raw, f.kind)
    if f.kind == "code":
        fmt = lookup(f.fmt)
        return code_values(fmt, raw)
    return None


def code_values(fmt: Format, codes: np.ndarray) -> np.ndarray:
    """float64 value of each code (NaN for NaN codes; the oracle's values, exact
    when the format fits float64)."""
    c = np.asarray(codes, dtype=np.int64)
    if fmt.bits <= 16:
        return fmt.values()[np.clip(c, 0, fmt.num_codes - 1)]
    return np.array([float(fmt.value_exact(int(v))) for v in c.reshape(-1)]).reshape(c.shape)


def _write_csv(vs: VectorSet, header: dict[str, Any], path: Path) -> None:
    hexa = vs.hex_array()
    cols, col = [], 0
    for f in vs.fields:
        for _ in range(f.lanes):
            cols.append(hexa[:, col:col + f.digits].copy().view(f"S{f.digits}").reshape(-1))
            col += f.digits
    vcols, vnames = [], []
    for f in vs.fields:
        a = vs.data[f.name].reshape(vs.n, f.lanes)
        for lane in range(f.lanes):
            v = lane_values(f, a[:, lane])
            if v is not None:
                vcols.append(v)
                vnames.append(_columns((f,))[lane] + "_value")
    with open(path, "w", newline="") as fh:
        fh.write("".join(f"# {line}\n" for line in header_lines(header)))
        fh.write(",".join(_columns(vs.fields) + vnames) + "\n")
        for i in range(vs.n):
            row = [c[i].decode() for c in cols] + [_num(v[i]) for v in vcols]
            fh.write(",".join(row) + "\n")


def _num(v: float) -> str:
    return repr(float(v)) if not math.isnan(v) else "nan"


# ---- reading ----------------------------------------------------------------------------
def read(path: str | Path) -> VectorSet:
    """Read a vectors file written by :func:`write` (any of the three formats)."""
    path = Path(path)
    kind = _suffix(path)
    if kind == "npz":
        with np.load(path, allow_pickle=False) as z:
            if "header" not in z:
                raise ValueError(f"{path}: no 'header' entry; not a floatsim vectors .npz file")
            header = json.loads(str(z["header"]))
            fields = [FieldSpec.parse(t) for t in header["fields"]]
            data = {f.name: z[f.name].astype(np.uint64) for f in fields}
        return VectorSet.from_header(header, data)
    text = path.read_bytes()
    mark = b"//" if kind == "hex" else b"#"
    head, body = _split_header(text, mark)
    header = parse_header_lines(head)
    fields = tuple(FieldSpec.parse(t) for t in header.get("fields", []))
    if not fields:
        raise ValueError(f"{path}: no field lines in the header; not a floatsim vectors file")
    digest = None
    if kind == "hex":
        data, unknown = _parse_hex(body, fields, path)
        if unknown.any():
            raise ValueError(f"{path}: case {int(np.flatnonzero(unknown)[0])} holds x/z digits")
        digest = hashlib.sha256(body).hexdigest()  # the body as written: no recomputation
    else:
        data = _parse_csv(body, fields, path)
    return VectorSet.from_header(header, data, digest)


def _split_header(text: bytes, mark: bytes) -> tuple[list[str], bytes]:
    """Leading comment lines (without the mark) and the rest of the file."""
    head, pos = [], 0
    while pos < len(text):
        end = text.find(b"\n", pos)
        end = len(text) if end < 0 else end
        line = text[pos:end].strip()
        if line and not line.startswith(mark):
            break
        if line:
            head.append(line[len(mark):].decode().strip())
        pos = end + 1
    return head, text[pos:]


def _hex_rows(body: bytes, path: Path) -> np.ndarray:
    """The body's lines as a uint8 array (n, width), comment and blank lines dropped."""
    raw = np.frombuffer(body, dtype=np.uint8)
    first = body.find(b"\n")
    if first > 0 and body[first - 1:first] != b"\r" and raw.size % (first + 1) == 0:
        rows = raw.reshape(-1, first + 1)
        if (rows[:, -1] == ord("\n")).all() and not (rows[:, 0] == ord("/")).any():
            return rows[:, :-1]
    lines = [ln.split(b"//")[0].strip() for ln in body.splitlines()]
    lines = [ln for ln in lines if ln]
    if not lines:
        return np.zeros((0, 0), dtype=np.uint8)
    width = len(lines[0])
    bad = next((i for i, ln in enumerate(lines) if len(ln) != width), None)
    if bad is not None:
        raise ValueError(
            f"{path}: line {bad + 1} of the body has {len(lines[bad])} digits; the first has {width}"
        )
    return np.frombuffer(b"".join(lines), dtype=np.uint8).reshape(-1, width)


def _words(nib: np.ndarray) -> np.ndarray:
    """uint64 values of rows of hex digits (nibbles, ``(n, d)``, most significant first,
    d <= 16): pairs of digits packed into bytes, read as a big-endian word."""
    n, d = nib.shape
    width = next(w for w in (2, 4, 8, 16) if d <= w)
    if d < width:
        nib = np.concatenate([np.zeros((n, width - d), np.uint8), nib], axis=1)
    packed = np.ascontiguousarray((nib[:, 0::2] << 4) | nib[:, 1::2])
    return packed.view(f">u{width // 2}").reshape(n).astype(np.uint64)


def _parse_hex(body: bytes, fields: tuple[FieldSpec, ...], path: Path
               ) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Columns of ``fields`` from hex lines holding exactly those fields, and a
    mask of the cases with an x / z digit.  Works through the lines in chunks
    (small temporaries: on 10**7 lines that halves the time)."""
    rows = _hex_rows(body, path)
    n = rows.shape[0]
    digits = sum(f.digits * f.lanes for f in fields)
    if rows.shape[1] != digits and n:
        raise ValueError(f"{path}: lines have {rows.shape[1]} hex digits; the fields need {digits}")
    unknown = np.zeros(n, dtype=bool)
    data = {f.name: np.empty((n,) if f.lanes == 1 else (n, f.lanes), np.uint64) for f in fields}
    step = 1 << 18
    for lo in range(0, n, step):
        chunk = rows[lo:lo + step]
        digit = (chunk - np.uint8(48)) <= 9  # '0'..'9' (uint8 arithmetic wraps below '0')
        letter = ((chunk | np.uint8(32)) - np.uint8(97)) <= 5  # 'a'..'f', 'A'..'F'
        if (digit | letter).all():  # the usual case: only hex digits, no table lookup
            nib = (chunk & np.uint8(15)) + np.uint8(9) * (chunk >> np.uint8(6))
        else:
            nib = _NIBBLE[chunk]
            if (nib == 255).any():
                r, c = (int(v) for v in np.argwhere(nib == 255)[0])
                raise ValueError(f"{path}: line {lo + r + 1} of the body holds "
                                 f"{chr(chunk[r, c])!r}, not a hex digit")
            unknown[lo:lo + step] = (nib == 16).any(axis=1)
            nib = np.where(nib == 16, 0, nib).astype(np.uint8)
        col = 0
        for f in fields:
            for lane in range(f.lanes):
                v = _words(nib[:, col:col + f.digits])
                col += f.digits
                if f.lanes == 1:
                    data[f.name][lo:lo + step] = v
                else:
                    data[f.name][lo:lo + step, lane] = v
    return data, unknown


def _parse_csv(body: bytes, fields: tuple[FieldSpec, ...], path: Path) -> dict[str, np.ndarray]:
    lines = [ln for ln in body.decode().splitlines() if ln.strip() and not ln.startswith("#")]
    if not lines:
        raise ValueError(f"{path}: no column row")
    names = lines[0].split(",")
    want = _columns(fields)
    missing = [c for c in want if c not in names]
    if missing:
        raise ValueError(f"{path}: columns {missing} are missing")
    idx = [names.index(c) for c in want]
    cells = [ln.split(",") for ln in lines[1:]]
    data, k = {}, 0
    for f in fields:
        lanes = np.array([[int(row[idx[k + j]], 16) for j in range(f.lanes)] for row in cells],
                         dtype=np.uint64).reshape(len(cells), f.lanes)
        k += f.lanes
        data[f.name] = lanes[:, 0] if f.lanes == 1 else lanes
    return data


def read_results(path: str | Path, vs: VectorSet) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """A device's results for the cases of ``vs``: ``(outputs, unknown)``.

    ``path`` may be a hex file of output lines (what a test bench writes with
    ``$fdisplay(fd, "%h", {outputs})``: the output fields only, or whole case
    lines), a CSV with the output columns, an .npz with the output arrays, or
    a complete vectors file.  ``unknown`` marks cases whose hex line holds an
    ``x`` or ``z`` digit (an undriven output).  Lines beginning ``//`` are
    skipped.
    """
    path = Path(path)
    kind = _suffix(path)
    outs = vs.outputs
    unknown = np.zeros(vs.n, dtype=bool)
    if kind == "npz":
        with np.load(path, allow_pickle=False) as z:
            missing = [f.name for f in outs if f.name not in z]
            if missing:
                raise ValueError(f"{path}: no arrays named {missing}; it holds {list(z.keys())}")
            data = {f.name: z[f.name].astype(np.uint64) for f in outs}
    elif kind == "csv":
        _, body = _split_header(path.read_bytes(), b"#")
        data = _parse_csv(body, outs, path)
    else:
        _, body = _split_header(path.read_bytes(), b"//")
        rows = _hex_rows(body, path)
        full = sum(f.digits * f.lanes for f in vs.fields)
        only = sum(f.digits * f.lanes for f in outs)
        if rows.shape[1] not in (full, only):
            raise ValueError(
                f"{path}: lines have {rows.shape[1]} hex digits; expected {only} (the output "
                f"fields {[f.name for f in outs]}) or {full} (whole cases)"
            )
        fields = vs.fields if rows.shape[1] == full and full != only else outs
        parsed, unknown = _parse_hex(body, fields, path)
        data = {f.name: parsed[f.name] for f in outs}
    n = next(iter(data.values())).shape[0]
    if n != vs.n:
        raise ValueError(f"{path}: {n} results for {vs.n} cases")
    return data, unknown
