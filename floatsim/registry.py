"""Named formats: every name a user can type, defined once.

Example:
    >>> import floatsim as fs
    >>> fs.format("float8_e4m3fn").max
    448.0
    >>> fs.format("p3109_k8p3se").bias
    16
"""

from __future__ import annotations

import difflib
import re

from .formats import Format

__all__ = ["format", "names", "p3109", "CANONICAL", "ML_DTYPES_NAMES"]


def _f(name: str, ebits: int, mbits: int, **kw: object) -> Format:
    return Format(ebits=ebits, mbits=mbits, name=name, **kw)


def p3109(k: int, p: int, *, signed: bool = True, extended: bool = True) -> Format:
    """The IEEE P3109 format binary{k}p{p}, signed or unsigned, extended or finite.

    Field widths and bias follow the P3109 interim report (as gfloat does):
    precision p (mbits = p - 1), signed bias 2**(k-p-1) (rounded down),
    unsigned bias 2**(k-p); NaN at the negative-zero code (signed) or the
    all-ones code (unsigned); extended formats add +-inf below it.

    Example:
        >>> p3109(8, 3).max
        49152.0
    """
    if not (isinstance(k, int) and 2 <= k <= 16):
        raise ValueError(f"P3109 width k={k!r} is out of range; allowed: 2..16")
    if not (isinstance(p, int) and 1 <= p <= k):
        raise ValueError(f"P3109 precision p={p!r} is out of range; allowed: 1..k={k}")
    if signed and p == k:
        raise ValueError(f"a signed P3109 format needs p < k (got k={k}, p={p})")
    ebits = k - p if signed else k - p + 1
    bias = (1 << (k - p - 1)) if k - p >= 1 else 0
    if not signed:
        bias = 1 << (k - p)
    specials = "p3109" if extended else ("fnuz" if signed else "fn")
    name = f"p3109_k{k}p{p}{'s' if signed else 'u'}{'e' if extended else 'f'}"
    return Format(ebits=ebits, mbits=p - 1, signed=signed, bias=bias, specials=specials, name=name)


#: The canonical named formats (ml_dtypes names first, then IEEE / scale types).
CANONICAL: dict[str, Format] = {
    f.name: f
    for f in [
        _f("float8_e4m3fn", 4, 3, specials="fn"),
        _f("float8_e5m2", 5, 2),
        _f("float8_e4m3fnuz", 4, 3, bias=8, specials="fnuz"),
        _f("float8_e5m2fnuz", 5, 2, bias=16, specials="fnuz"),
        _f("float8_e4m3b11fnuz", 4, 3, bias=11, specials="fnuz"),
        _f("float8_e4m3", 4, 3),
        _f("float8_e3m4", 3, 4),
        _f("float6_e2m3fn", 2, 3, specials="finite"),
        _f("float6_e3m2fn", 3, 2, specials="finite"),
        _f("float4_e2m1fn", 2, 1, specials="finite"),
        _f("float8_e8m0fnu", 8, 0, signed=False, has_zero=False, specials="fn"),
        # UE5M3, the unsigned scale type of NVFP4-style block formats (positive E5M3).
        _f("float8_e5m3fnu", 5, 3, signed=False, specials="fn"),
        _f("float16", 5, 10),
        _f("bfloat16", 8, 7),
        _f("tf32", 8, 10),
        _f("float32", 8, 23),
        _f("float64", 11, 52),
        # NVFP4's scale type (positive E4M3); ml_dtypes has no such type.
        _f("ue4m3", 4, 3, signed=False, specials="fn"),
    ]
}

#: The registered names that ml_dtypes (or numpy, for float16) also has: the
#: formats floatsim is checked against ml_dtypes on (float8_e5m3fnu since
#: ml_dtypes 0.7).
ML_DTYPES_NAMES: tuple[str, ...] = tuple(
    n for n in CANONICAL if n.startswith(("float8_", "float6_", "float4_")) or n in (
        "float16", "bfloat16")
)

#: Alternative spellings: short names, OCP / gfloat names. Short names follow
#: the OCP meaning (e4m3 is E4M3FN with max 448, e2m1 is the finite FP4).
ALIASES: dict[str, str] = {
    "e4m3": "float8_e4m3fn",
    "fp8_e4m3": "float8_e4m3fn",
    "e4m3fn": "float8_e4m3fn",
    "ocp_e4m3": "float8_e4m3fn",
    "e5m2": "float8_e5m2",
    "fp8_e5m2": "float8_e5m2",
    "ocp_e5m2": "float8_e5m2",
    "e4m3fnuz": "float8_e4m3fnuz",
    "e5m2fnuz": "float8_e5m2fnuz",
    "e3m2": "float6_e3m2fn",
    "fp6_e3m2": "float6_e3m2fn",
    "ocp_e3m2": "float6_e3m2fn",
    "e2m3": "float6_e2m3fn",
    "fp6_e2m3": "float6_e2m3fn",
    "ocp_e2m3": "float6_e2m3fn",
    "e2m1": "float4_e2m1fn",
    "fp4": "float4_e2m1fn",
    "fp4_e2m1": "float4_e2m1fn",
    "ocp_e2m1": "float4_e2m1fn",
    "e8m0": "float8_e8m0fnu",
    "ue8m0": "float8_e8m0fnu",
    "ocp_e8m0": "float8_e8m0fnu",
    "ue5m3": "float8_e5m3fnu",
    "e5m3fnu": "float8_e5m3fnu",
    "fp16": "float16",
    "half": "float16",
    "binary16": "float16",
    "bf16": "bfloat16",
    "fp32": "float32",
    "single": "float32",
    "binary32": "float32",
    "fp64": "float64",
    "double": "float64",
    "binary64": "float64",
}

_P3109_RE = re.compile(r"^(?:p3109_k|binary)(\d+)p(\d+)(s|u)?(e|f)?$")
# a well-formed e<E>m<M> spec (known suffixes only): say why it is invalid; a typo
# such as "e4m3x" gets the unknown-format message with its close names
_SPEC_RE = re.compile(r"^u?e\d+m\d+(?:b-?\d+)?(?:fn|fnuz|finite|ieee|p3109)?$")
_FAMILY_RE = re.compile(r"^(?:fp|float)(\d+)$")  # 'fp8': a width, not a format

#: Names that are not element formats, with where they belong: block format
#: names register here (floatsim.blocks.format), so that ``fs.quantize(x,
#: "mxfp4_e2m1")`` says to use floatsim.blocks.
ELSEWHERE: dict[str, str] = {}


def register_elsewhere(names: list[str], hint: str) -> None:
    """Record names that other registries own, with the hint their error gives."""
    for n in names:
        ELSEWHERE[n.lower()] = hint


def _short(name: str) -> str:
    """The shortest alias of a canonical name ('' if none)."""
    return min((a for a, c in ALIASES.items() if c == name), key=len, default="")


def names() -> list[str]:
    """Every registered name (canonical names, then aliases).

    Example:
        >>> "float8_e4m3fn" in names()
        True
    """
    return [*CANONICAL, *ALIASES]


def format(spec: str | Format) -> Format:  # noqa: A001 - the public verb of the contract
    """Look up a format by name, alias, P3109 name or 'e<E>m<M>' spec.

    Registered names win over :meth:`Format.parse`: ``"e4m3"`` is OCP E4M3FN
    (max 448) while ``Format.parse("e4m3")`` is the IEEE-style E4M3 (max 240).

    Example:
        >>> format("e4m3").max, format("e3m4").max
        (448.0, 15.5)
    """
    if isinstance(spec, Format):
        return spec
    if not isinstance(spec, str):
        if hasattr(spec, "element") and hasattr(spec, "scale") and hasattr(spec, "rule"):
            raise TypeError(
                f"{spec} is a block format: use floatsim.blocks.quantize / encode / decode "
                "for it (the element-wise functions take a floatsim.Format or its name)")
        raise TypeError(f"a format is a floatsim.Format or a name (str), got {type(spec).__name__}")
    key = spec.strip().lower()
    if key in CANONICAL:
        return CANONICAL[key]
    if key in ALIASES:
        return CANONICAL[ALIASES[key]]
    m = _P3109_RE.match(key)
    if m:
        return p3109(int(m[1]), int(m[2]), signed=m[3] != "u", extended=m[4] != "f")
    try:
        return Format.parse(key)
    except ValueError as exc:
        if _SPEC_RE.match(key):  # a spec of an impossible format: its own reason, not a guess
            raise ValueError(f"format {spec!r} is not a valid format: {exc}") from None
    if key in ELSEWHERE:
        raise ValueError(f"{spec!r} is not an element format: {ELSEWHERE[key]}")
    fam = _FAMILY_RE.match(key)
    if fam:
        bits = int(fam[1])
        same = [f"{n} ({_short(n)})" if _short(n) else n
                for n, f in CANONICAL.items() if f.bits == bits and n.startswith("float")]
        if same:
            raise ValueError(
                f"format {spec!r} is ambiguous: it names a width, not one format; the "
                f"{bits}-bit formats are {', '.join(same)}")
    close = difflib.get_close_matches(key, names(), n=5, cutoff=0.6)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    raise ValueError(
        f"unknown format {spec!r}{hint} (floatsim.names() lists every name; "
        "'e<E>m<M>' and 'p3109_k<K>p<P>[s|u][e|f]' work for any widths)"
    )
