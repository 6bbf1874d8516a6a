"""Training recipes as plain data: which format each operand of each GEMM uses.

A linear layer runs three GEMMs per step (reduction dimension in brackets):

====== ================= ============================ ==============================
GEMM   product           lhs (blocked along)          rhs (blocked along)
====== ================= ============================ ==============================
fwd    ``y  = x  Wᵀ``    x  (M, K), axis -1 [K]        W (N, K), axis -1 [K]
dgrad  ``dx = dy W``     dy (M, N), axis -1 [N]        W (N, K), axis 0  [N]
wgrad  ``dW = dyᵀ x``    dy (M, N), axis 0  [M]        x (M, K), axis 0  [M]
====== ================= ============================ ==============================

A :class:`Recipe` says, for each of these six operands, the format (a
``floatsim.Format``, a ``floatsim.blocks.BlockFormat``, or None for high
precision), the rounding mode, the scaling and an optional random Hadamard
transform; plus formats for master weights, optimizer states and the
accumulator.  The block axis is never stored: it is always the GEMM's
reduction dimension (the table).  Nothing here imports torch or jax: the
PyTorch adapter (``floatsim_torch.emulate``) and the JAX adapter read the same
registry.

Named recipes use TransformerEngine's and torchao's vocabulary where they mean
the same thing; each recipe's ``source`` says which (``floatsim recipes``
lists them).  Derive new ones from a named one:

Example:
    >>> from floatsim import recipes
    >>> r = recipes.get("mxfp8").replace(name="mxfp8_sr_grads")
    >>> r = r.with_operands("dy", rounding="stochastic")    # both dy operands
    >>> r.dgrad.lhs.rounding.name, r.forward.lhs.rounding.name
    ('STOCHASTIC', 'NEAREST_EVEN')
    >>> recipes.register(r)
    >>> "mxfp8_sr_grads" in recipes.names()
    True
    >>> recipes.unregister("mxfp8_sr_grads")
"""

from __future__ import annotations

import difflib
import enum
from dataclasses import dataclass, field, replace
from typing import Any

from . import blocks
from .blocks import BlockFormat
from .formats import Format
from .noise.config import PQTConfig
from .registry import format as _lookup_format
from .rounding import Rounding, member_named

__all__ = [
    "ROLES",
    "TENSORS",
    "Gemm",
    "Operand",
    "Recipe",
    "Scaling",
    "get",
    "names",
    "parse_format",
    "register",
    "table",
    "unregister",
]

#: The six operands of a layer's three GEMMs, in order ("gemm.side").
ROLES: tuple[str, ...] = (
    "forward.lhs", "forward.rhs", "dgrad.lhs", "dgrad.rhs", "wgrad.lhs", "wgrad.rhs",
)
#: Which tensor each role quantizes: the input x, the weight w, the output gradient dy.
TENSORS: dict[str, str] = {
    "forward.lhs": "x", "forward.rhs": "w", "dgrad.lhs": "dy",
    "dgrad.rhs": "w", "wgrad.lhs": "dy", "wgrad.rhs": "x",
}
_GROUPS: dict[str, tuple[str, ...]] = {
    "all": ROLES,
    "x": ("forward.lhs", "wgrad.rhs"),
    "w": ("forward.rhs", "dgrad.rhs"),
    "dy": ("dgrad.lhs", "wgrad.lhs"),
    "forward": ("forward.lhs", "forward.rhs"),
    "backward": ("dgrad.lhs", "dgrad.rhs", "wgrad.lhs", "wgrad.rhs"),
    "dgrad": ("dgrad.lhs", "dgrad.rhs"),
    "wgrad": ("wgrad.lhs", "wgrad.rhs"),
}
_ALGOS = ("max", "most_recent")
_HADAMARD_SIZES = (2, 4, 8, 16, 32, 64, 128, 256)


class Scaling(enum.Enum):
    """How an operand is scaled into its format before the cast."""

    #: Cast as is (element formats only).
    NONE = "none"
    #: One scale per tensor from the amax of this call (TE Float8CurrentScaling,
    #: torchao "tensorwise").
    TENSOR_CURRENT = "tensor_current"
    #: One scale per tensor from an amax history of earlier steps (TE DelayedScaling).
    TENSOR_DELAYED = "tensor_delayed"
    #: One scale per row (per column) along the reduction dimension, from the
    #: current amax (torchao "rowwise").
    ROW = "row"
    #: The BlockFormat's own block scales (MX, NVFP4).
    BLOCK = "block"

    @classmethod
    def parse(cls, value: Scaling | str) -> Scaling:
        """A member or its value ('block', 'tensor_delayed', ...).

        Example:
            >>> Scaling.parse("row")
            <Scaling.ROW: 'row'>
        """
        found = member_named(cls, value)
        if found is not None:
            return found
        raise ValueError(
            f"scaling={value!r} is not valid; allowed: {', '.join(m.value for m in cls)}"
        )


def parse_format(spec: Any, what: str = "format") -> Format | BlockFormat | None:
    """A Format, a BlockFormat, None, or a name of either (block names first);
    ``what`` names the argument in errors.

    Example:
        >>> parse_format("mxfp8").name, parse_format("e4m3").name
        ('mxfp8_e4m3', 'float8_e4m3fn')
    """
    if spec is None or isinstance(spec, (Format, BlockFormat)):
        return spec
    if not isinstance(spec, str):
        raise TypeError(
            f"{what}={spec!r}: a format is a floatsim.Format, a floatsim.blocks.BlockFormat, "
            f"a name of either, or None (high precision)"
        )
    if spec.strip().lower() in blocks.names():
        return blocks.format(spec)
    return _lookup_format(spec)


def _fmt_name(f: Format | BlockFormat | None) -> str:
    return "high precision" if f is None else str(f)


def _short(f: Format | BlockFormat | None) -> str:
    """A short display name: 'e4m3', 'bf16', 'mxfp4_e2m1', 'e4m3 x e8m0/rceil'."""
    if f is None:
        return "hp"
    if isinstance(f, BlockFormat):
        if f.name:
            return f.name
        return f"{_short(f.element)} x {_short(f.scale)}/{f.rule.value}"
    if f.name == "bfloat16":
        return "bf16"
    name = str(f)
    for prefix in ("float8_", "float6_", "float4_"):
        if name.startswith(prefix):
            name = name[len(prefix):]
    return name.removesuffix("fnu").removesuffix("fn")


@dataclass(frozen=True)
class Operand:
    """How one operand of one GEMM is quantized.

    Args:
        format: a Format or BlockFormat (or a name of one), or None to keep
            the operand in high precision.
        rounding: the element cast's rounding mode (a Rounding or its name).
        scaling: a :class:`Scaling`. Element formats take NONE,
            TENSOR_CURRENT, TENSOR_DELAYED or ROW (scale FP32, amax rule, as
            TE; a whole-axis BlockFormat such as
            ``fs.blocks.scaled("e4m3", "e8m0", rule="rceil")`` picks another
            scale format or rule); block formats take BLOCK.
        sr_bits: k-bit stochastic rounding (None: exact SR).
        amax_history: TENSOR_DELAYED only: steps the amax history keeps.
        amax_algo: TENSOR_DELAYED only: 'max' or 'most_recent'.
        margin: power-of-two headroom of per-tensor and per-row scales (TE's margin).
        hadamard: random-sign Walsh-Hadamard transform over blocks of this
            many elements along the reduction dimension (both operands of a
            GEMM must agree), or None.

    Example:
        >>> Operand("e4m3", scaling="tensor_delayed").amax_history
        1024
    """

    format: Format | BlockFormat | None = None
    rounding: Rounding = Rounding.NEAREST_EVEN
    scaling: Scaling = Scaling.NONE
    sr_bits: int | None = None
    amax_history: int = 1024
    amax_algo: str = "max"
    margin: int = 0
    hadamard: int | None = None

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        fmt = parse_format(self.format, "format")
        set_(self, "format", fmt)
        set_(self, "rounding", Rounding.parse(self.rounding))
        sc = Scaling.parse(self.scaling)
        set_(self, "scaling", sc)
        if fmt is None:
            if sc is not Scaling.NONE or self.hadamard is not None:
                raise ValueError(
                    f"a high-precision operand (format=None) takes no scaling or hadamard; "
                    f"got scaling={sc.value!r}, hadamard={self.hadamard!r}"
                )
        elif isinstance(fmt, Format):
            if sc is Scaling.BLOCK:
                raise ValueError(
                    f"scaling='block' needs a BlockFormat; {fmt} is an element format: use "
                    f"'none', 'tensor_current', 'tensor_delayed' or 'row', or a block format"
                )
        else:
            whole_axes = fmt.block_elems is None
            if whole_axes and sc in (Scaling.NONE, Scaling.BLOCK):
                raise ValueError(
                    f"{fmt} has whole-axis blocks: use scaling 'tensor_current', "
                    f"'tensor_delayed' or 'row', not {sc.value!r}"
                )
            if not whole_axes and sc is not Scaling.BLOCK:
                raise ValueError(f"block format {fmt} needs scaling='block', got {sc.value!r}")
            if fmt.block is not None and len(fmt.block) > 2:
                raise ValueError(
                    f"{fmt} has a rank-{len(fmt.block)} tile; GEMM operands take 1-D blocks "
                    f"(along the reduction dimension) or 2-D tiles"
                )
        if self.sr_bits is not None:
            if self.rounding is not Rounding.STOCHASTIC:
                raise ValueError(
                    f"sr_bits={self.sr_bits!r} applies to rounding='stochastic' only, not "
                    f"{self.rounding.name.lower()!r}"
                )
            if isinstance(self.sr_bits, bool) or not isinstance(self.sr_bits, int) or not (
                    1 <= self.sr_bits <= 32):
                raise ValueError(f"sr_bits={self.sr_bits!r} must be an int in 1..32 or None")
        for name, lo, hi in (("amax_history", 1, 1 << 20), ("margin", -64, 64)):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
                raise ValueError(f"{name}={v!r} must be an int in {lo}..{hi}")
        if self.amax_algo not in _ALGOS:
            raise ValueError(f"amax_algo={self.amax_algo!r} is not valid; allowed: "
                             f"{', '.join(_ALGOS)}")
        if self.hadamard is not None and self.hadamard not in _HADAMARD_SIZES:
            raise ValueError(
                f"hadamard={self.hadamard!r} is not a Walsh-Hadamard size; allowed: None or "
                f"{', '.join(map(str, _HADAMARD_SIZES))}"
            )

    @property
    def quantized(self) -> bool:
        """Whether this operand leaves high precision."""
        return self.format is not None

    @property
    def block_format(self) -> BlockFormat | None:
        """The BlockFormat the cast runs with (per-tensor and per-row scaling are
        whole-axis block formats: FP32 scales, amax rule); None for NONE / high
        precision.

        Example:
            >>> Operand("e5m2", scaling="row").block_format.rule.value
            'amax'
        """
        f = self.format
        if f is None or (isinstance(f, Format) and self.scaling is Scaling.NONE):
            return None
        if isinstance(f, Format):
            return blocks.scaled(f, "float32", rule="amax")
        return f

    def replace(self, **changes: Any) -> Operand:
        """A copy with fields changed (validated again).

        Example:
            >>> Operand("e4m3").replace(rounding="sr").rounding.name
            'STOCHASTIC'
        """
        return replace(self, **changes)

    def describe(self) -> str:
        """One line: format, scaling, rounding, Hadamard.

        Example:
            >>> Operand("mxfp4", scaling="block", rounding="sr", hadamard=32).describe()
            'mxfp4_e2m1, block, stochastic, hadamard 32'
        """
        if self.format is None:
            return "high precision"
        parts = [_fmt_name(self.format), self.scaling.value]
        if self.scaling is Scaling.TENSOR_DELAYED:
            parts[-1] += f" (history {self.amax_history}, {self.amax_algo})"
        if self.margin:
            parts.append(f"margin {self.margin}")
        r = self.rounding.name.lower()
        parts.append(r if self.sr_bits is None else f"{r} ({self.sr_bits} bits)")
        if self.hadamard:
            parts.append(f"hadamard {self.hadamard}")
        return ", ".join(parts)


HIGH = Operand()


@dataclass(frozen=True)
class Gemm:
    """One GEMM of a linear layer, ``out = lhs @ rhs`` over its reduction dimension.

    Example:
        >>> Gemm(Operand("e4m3", hadamard=16), Operand("e4m3"))
        Traceback (most recent call last):
        ...
        ValueError: both operands of a GEMM take the same Hadamard transform (it cancels in the product only then); got lhs hadamard=16, rhs hadamard=None
    """

    lhs: Operand = HIGH
    rhs: Operand = HIGH

    def __post_init__(self) -> None:
        for side in ("lhs", "rhs"):
            if not isinstance(getattr(self, side), Operand):
                raise TypeError(f"Gemm.{side} must be an Operand, got "
                                f"{type(getattr(self, side)).__name__}")
        h1, h2 = self.lhs.hadamard, self.rhs.hadamard
        if h1 != h2:
            raise ValueError(
                "both operands of a GEMM take the same Hadamard transform (it cancels in the "
                f"product only then); got lhs hadamard={h1}, rhs hadamard={h2}"
            )

    def replace(self, **changes: Any) -> Gemm:
        """A copy with ``lhs`` / ``rhs`` changed."""
        return replace(self, **changes)


@dataclass(frozen=True)
class Recipe:
    """Formats for every operand of a layer's three GEMMs, plus master weights,
    optimizer states and the accumulator.

    Args:
        name: the registry key.
        forward: ``y = x Wᵀ``: lhs x (M, K), rhs W (N, K), blocked along K.
        dgrad: ``dx = dy W``: lhs dy (M, N), rhs W (N, K), blocked along N.
        wgrad: ``dW = dyᵀ x``: lhs dy (M, N), rhs x (M, K), blocked along M (tokens).
        master_weights: the format parameters are kept in (None: float32).
        master_rounding: how updates round into ``master_weights``
            (STOCHASTIC: "BF16 + SR").
        optimizer_m, optimizer_v: storage formats of Adam's moments (None: float32).
        accumulator: 'fp32', or a floatsim.mac preset name.
        weight_noise: pseudo-quantization of the layers' weights (a
            :class:`floatsim.noise.PQTConfig`; None: none): the adapters
            train the weights with that noise (``floatsim_torch.emulate``
            calls ``floatsim_torch.pqt``) instead of casting operands; the
            ``pqt_*`` recipes.  The GEMM operands then stay in high precision.
        attention: also emulate the attention GEMMs (``q kᵀ`` and ``p v``) and
            functional matmuls with these operands (TE's ``fp8_dpa``); off in
            every named recipe, as in TE.
        description, source: what it is and where it comes from.

    Example:
        >>> r = get("fp8_delayed")
        >>> r.forward.lhs.format.name, r.dgrad.lhs.format.name, r.forward.lhs.amax_history
        ('float8_e4m3fn', 'float8_e5m2', 1024)
    """

    name: str
    forward: Gemm = field(default_factory=Gemm)
    dgrad: Gemm = field(default_factory=Gemm)
    wgrad: Gemm = field(default_factory=Gemm)
    master_weights: Format | None = None
    master_rounding: Rounding = Rounding.NEAREST_EVEN
    optimizer_m: Format | BlockFormat | None = None
    optimizer_v: Format | BlockFormat | None = None
    accumulator: str = "fp32"
    attention: bool = False
    weight_noise: PQTConfig | None = None
    description: str = ""
    source: str = ""

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        if not isinstance(self.name, str) or not self.name.strip():
            raise ValueError(f"name={self.name!r} must be a non-empty str")
        for g in ("forward", "dgrad", "wgrad"):
            if not isinstance(getattr(self, g), Gemm):
                raise TypeError(f"{g} must be a Gemm, got {type(getattr(self, g)).__name__}")
        mw = parse_format(self.master_weights, "master_weights")
        if isinstance(mw, BlockFormat):
            raise ValueError(f"master_weights={mw} must be an element Format or None")
        set_(self, "master_weights", mw)
        set_(self, "master_rounding", Rounding.parse(self.master_rounding))
        for name in ("optimizer_m", "optimizer_v"):
            set_(self, name, parse_format(getattr(self, name), name))
        if not isinstance(self.accumulator, str):
            raise TypeError(f"accumulator={self.accumulator!r} must be a str")
        set_(self, "attention", bool(self.attention))
        if self.weight_noise is not None and not isinstance(self.weight_noise, PQTConfig):
            raise TypeError(f"weight_noise={self.weight_noise!r} must be a "
                            "floatsim.noise.PQTConfig or None")

    # ---- access -------------------------------------------------------------------------
    def operand(self, role: str) -> Operand:
        """The Operand of a role ('forward.lhs', ..., 'wgrad.rhs').

        Example:
            >>> get("nvfp4").operand("forward.rhs").format.block
            (16, 16)
        """
        if role not in ROLES:
            raise ValueError(f"role={role!r} is not valid; allowed: {', '.join(ROLES)}")
        gemm, side = role.split(".")
        return getattr(getattr(self, gemm), side)

    def operands(self) -> dict[str, Operand]:
        """Every role's Operand, in :data:`ROLES` order."""
        return {r: self.operand(r) for r in ROLES}

    @property
    def quantizes(self) -> bool:
        """Whether any GEMM operand leaves high precision."""
        return any(op.quantized for op in self.operands().values())

    # ---- deriving -----------------------------------------------------------------------
    def replace(self, **changes: Any) -> Recipe:
        """A copy with fields changed (validated again); the name is kept unless given.

        Example:
            >>> get("mxfp4").replace(name="mxfp4_attn", attention=True).attention
            True
        """
        return replace(self, **changes)

    def with_operands(self, roles: str | tuple[str, ...] = "all", **changes: Any) -> Recipe:
        """A copy whose operands in ``roles`` have ``changes`` applied.

        ``roles``: a role ('dgrad.lhs'), a tensor ('x', 'w', 'dy': every role
        that quantizes it), a GEMM ('forward', 'dgrad', 'wgrad'), 'backward'
        or 'all', or a tuple of these.  ``changes`` are Operand fields; an
        Operand replaces the operand whole (``operand=Operand(...)``).

        Example:
            >>> r = get("mxfp4").with_operands("w", operand=Operand())    # weights in high precision
            >>> r.forward.rhs.quantized, r.forward.lhs.quantized
            (False, True)
        """
        wanted: list[str] = []
        for key in (roles,) if isinstance(roles, str) else roles:
            if key in ROLES:
                wanted.append(key)
            elif key in _GROUPS:
                wanted.extend(_GROUPS[key])
            else:
                raise ValueError(
                    f"roles={key!r} is not valid; allowed: {', '.join(ROLES)}, "
                    f"{', '.join(_GROUPS)}"
                )
        whole = changes.pop("operand", None)
        if whole is not None and not isinstance(whole, Operand):
            raise TypeError(f"operand= must be an Operand, got {type(whole).__name__}")
        # Hadamard on one side only would be refused: change both sides of a GEMM together.
        new: dict[str, Operand] = {}
        for role in dict.fromkeys(wanted):
            op = whole if whole is not None else self.operand(role)
            new[role] = op.replace(**changes) if changes else op
        gemms = {}
        for g in ("forward", "dgrad", "wgrad"):
            lhs = new.get(f"{g}.lhs", getattr(self, g).lhs)
            rhs = new.get(f"{g}.rhs", getattr(self, g).rhs)
            gemms[g] = Gemm(lhs, rhs)
        return replace(self, **gemms)

    # ---- display ------------------------------------------------------------------------
    def describe(self) -> str:
        """A printable table: one row per operand, then the other decisions.

        Example:
            >>> print(get("fp8_current").describe())  # doctest: +ELLIPSIS
            recipe fp8_current: ...
            role         tensor  operand
            forward.lhs  x       float8_e4m3fn, tensor_current, nearest_even
            ...
            wgrad.lhs    dy      float8_e5m2, tensor_current, nearest_even
            ...
        """
        lines = [f"recipe {self.name}: {self.description}".rstrip(": ")]
        lines.append(f"{'role':<13}{'tensor':<8}operand")
        for role, op in self.operands().items():
            lines.append(f"{role:<13}{TENSORS[role]:<8}{op.describe()}")
        mr = self.master_rounding.name.lower()
        lines.append(f"{'master weights':<21}{_fmt_name(self.master_weights) if self.master_weights else 'float32'}"
                     + (f" ({mr} updates)" if self.master_weights else ""))
        if self.weight_noise is not None:
            lines[-1] += f" (the noised weights: {self.weight_noise.param_dtype})"
        lines.append(f"{'optimizer m, v':<21}"
                     f"{_fmt_name(self.optimizer_m) if self.optimizer_m else 'float32'}, "
                     f"{_fmt_name(self.optimizer_v) if self.optimizer_v else 'float32'}")
        lines.append(f"{'accumulator':<21}{self.accumulator}")
        lines.append(f"{'attention GEMMs':<21}{'as the layers' if self.attention else 'high precision'}")
        if self.weight_noise is not None:
            lines.append(f"{'weight noise':<21}{self.weight_noise.describe()}")
        if self.source:
            lines.append(f"{'source':<21}{self.source}")
        return "\n".join(lines)

    def summary(self) -> str:
        """A one-line summary of the x / w / dy formats (what ``floatsim recipes`` lists).

        Example:
            >>> get("nvfp4").summary()
            'x nvfp4 | w nvfp4_16x16 | dy nvfp4 sr | rht wgrad'
            >>> get("fp8_delayed").summary()
            'x e4m3/delayed | w e4m3/delayed | dy e5m2/delayed'
        """
        ops = self.operands()
        if self.weight_noise is not None:
            c = self.weight_noise
            return (f"w pqt {_short(c.format)} {c.noise.name} noise, {c.param_dtype} "
                    "parameters" + (" | operands quantized" if self.quantizes else ""))
        if not self.quantizes:
            return "all high precision"
        parts = []
        for t, roles in (("x", _GROUPS["x"]), ("w", _GROUPS["w"]), ("dy", _GROUPS["dy"])):
            seen = []
            for r in roles:
                op = ops[r]
                s = _short(op.format)
                if op.scaling in (Scaling.TENSOR_CURRENT, Scaling.TENSOR_DELAYED, Scaling.ROW):
                    s += {"tensor_current": "/tensor", "tensor_delayed": "/delayed",
                          "row": "/row"}[op.scaling.value]
                if op.rounding is Rounding.STOCHASTIC:
                    s += " sr"
                if s not in seen:
                    seen.append(s)
            parts.append(f"{t} {' / '.join(seen)}")
        had = [g for g in ("forward", "dgrad", "wgrad") if getattr(self, g).lhs.hadamard]
        if had:
            parts.append("rht " + ",".join(had) if len(had) < 3 else "rht all")
        return " | ".join(parts)


# ---- the registry -------------------------------------------------------------------------
_REGISTRY: dict[str, Recipe] = {}


def register(recipe: Recipe, *, overwrite: bool = False) -> None:
    """Add a recipe to the registry under its name.

    Example:
        >>> register(get("bf16"))
        Traceback (most recent call last):
        ...
        ValueError: a recipe named 'bf16' is registered already; pass overwrite=True to replace it
    """
    if not isinstance(recipe, Recipe):
        raise TypeError(f"register() takes a Recipe, got {type(recipe).__name__}")
    if recipe.name in _REGISTRY and not overwrite:
        raise ValueError(f"a recipe named {recipe.name!r} is registered already; pass "
                         "overwrite=True to replace it")
    _REGISTRY[recipe.name] = recipe


def unregister(name: str) -> None:
    """Remove a recipe added with :func:`register` (the built-in ones stay)."""
    if name in _BUILTIN:
        raise ValueError(f"{name!r} is a built-in recipe and cannot be removed")
    get(name)
    del _REGISTRY[name]


def names() -> list[str]:
    """Every registered recipe name, built-in ones first.

    Example:
        >>> names()[:3]
        ['fp32', 'bf16', 'fp8_delayed']
    """
    return list(_REGISTRY)


def get(spec: Recipe | str) -> Recipe:
    """A recipe by name, or ``spec`` itself.

    Example:
        >>> get("mxfp6")
        Traceback (most recent call last):
        ...
        ValueError: unknown recipe 'mxfp6'; did you mean ...mxfp6_e3m2...? Known recipes: fp32, bf16, ...
    """
    if isinstance(spec, Recipe):
        return spec
    if not isinstance(spec, str):
        raise TypeError(f"a recipe is a floatsim.recipes.Recipe or a name (str), got "
                        f"{type(spec).__name__}")
    key = spec.strip()
    if key in _REGISTRY:
        return _REGISTRY[key]
    close = difflib.get_close_matches(key, names(), n=3, cutoff=0.6)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    raise ValueError(f"unknown recipe {spec!r}{hint} Known recipes: {', '.join(names())}")


def table() -> str:
    """Every recipe with its roles, one a line (what ``floatsim recipes`` prints).

    Example:
        >>> print(table())  # doctest: +ELLIPSIS
        recipe ...
        fp32 ...all high precision...
        ...
    """
    w = max(len(n) for n in _REGISTRY) + 2
    rows = [f"{'recipe':<{w}}roles (x: input, w: weight, dy: output gradient)"]
    for r in _REGISTRY.values():
        rows.append(f"{r.name:<{w}}{r.summary()}")
        if r.description:
            rows.append(f"{'':<{w}}  {r.description}")
    rows.append("")
    rows.append("`floatsim recipes NAME` prints one recipe's table of roles.")
    return "\n".join(rows)


# ---- the named recipes --------------------------------------------------------------------
def _same(op: Operand) -> dict[str, Gemm]:
    return {"forward": Gemm(op, op), "dgrad": Gemm(op, op), "wgrad": Gemm(op, op)}


def _hybrid(fwd: Operand, grad: Operand) -> dict[str, Gemm]:
    """x and w in ``fwd``, dy in ``grad`` (TE's Format.HYBRID pattern)."""
    return {"forward": Gemm(fwd, fwd), "dgrad": Gemm(grad, fwd), "wgrad": Gemm(grad, fwd)}


def _mx(elem_block: str, rounding: Rounding | str = "nearest_even", **kw: Any) -> Operand:
    return Operand(blocks.format(elem_block), rounding=rounding, scaling=Scaling.BLOCK, **kw)


def _weight_only(name: str, fmt: str) -> Recipe:
    w = Operand(fmt, scaling=Scaling.TENSOR_CURRENT)
    return Recipe(
        name=name, forward=Gemm(HIGH, w), dgrad=Gemm(HIGH, w), wgrad=Gemm(),
        description=f"weight-only QAT: W rounded to {_lookup_format(fmt)} (per-tensor scale, "
                    "nearest-even) in forward and dgrad, straight-through to FP32 master "
                    "weights; the baseline of the pseudo-quantization study",
        source="round-to-nearest QAT with STE (issue 27's FP6/FP8 weight baselines)",
    )


def _pqt(name: str, fmt: str) -> Recipe:
    return Recipe(
        name=name, weight_noise=PQTConfig(fmt, "r"),
        description=f"pseudo-quantization training of the weights for {_lookup_format(fmt)}: "
                    "R noise (9 bits) at the per-tensor scaled target's spacing, one BF16 "
                    "cast, BF16 parameters; operands in FP32 (floatsim_torch.pqt)",
        source="Ahn & Yoo 2025, 'Gaussian Weight Sampling for Scalable, Efficient and Stable "
               "Pseudo-Quantization Training' (arXiv 2505.11170; our reading, docs/pqt.md)",
    )


def _builtin() -> list[Recipe]:
    e4m3, e5m2 = "float8_e4m3fn", "float8_e5m2"
    delayed = dict(scaling=Scaling.TENSOR_DELAYED, amax_history=1024, amax_algo="max")
    nv_sr = _mx("nvfp4", "stochastic")
    nv_x = _mx("nvfp4")
    nv_w = _mx("nvfp4_16x16")
    q_fwd = _mx("mxfp4_e2m1", hadamard=32)
    q_bwd = _mx("mxfp4_e2m1", "stochastic", hadamard=32)
    return [
        Recipe("fp32", description="every GEMM operand in float32 (the reference)",
               source="no quantization"),
        Recipe("bf16", **_same(Operand("bfloat16")),
               description="every GEMM operand rounded to bfloat16, FP32 accumulation",
               source="torch.autocast(dtype=torch.bfloat16) GEMM inputs"),
        Recipe("fp8_delayed",
               **_hybrid(Operand(e4m3, **delayed), Operand(e5m2, **delayed)),
               description="E4M3 x and w, E5M2 gradients, per-tensor scales from a 1024-step "
                           "amax history (max)",
               source="TransformerEngine DelayedScaling(fp8_format=HYBRID, "
                      "amax_history_len=1024, amax_compute_algo='max', margin=0)"),
        Recipe("fp8_current",
               **_hybrid(Operand(e4m3, scaling=Scaling.TENSOR_CURRENT),
                         Operand(e5m2, scaling=Scaling.TENSOR_CURRENT)),
               description="E4M3 x and w, E5M2 gradients, per-tensor scales from the "
                           "current amax",
               source="TransformerEngine Float8CurrentScaling(fp8_format=HYBRID); torchao "
                      "Float8LinearConfig 'tensorwise'"),
        Recipe("fp8_rowwise",
               **_same(Operand(blocks.scaled(e4m3, "e8m0", rule="rceil"), scaling=Scaling.ROW)),
               description="E4M3 everywhere, one power-of-two scale per row along the "
                           "reduction dimension (2**ceil(log2(amax/448)))",
               source="torchao Float8LinearConfig.from_recipe_name('rowwise') "
                      "(axiswise e4m3, round_scales_to_power_of_2=True)"),
        Recipe("mxfp8", **_same(_mx("mxfp8_e4m3")),
               description="MXFP8 E4M3 (E8M0 scale per 32 along the reduction dim) everywhere",
               source="TransformerEngine MXFP8BlockScaling(fp8_format=E4M3); torchao MXFP8 "
                      "training (scale_calculation_mode FLOOR); OCP MX v1.0"),
        Recipe("mxfp6_e3m2", **_same(_mx("mxfp6_e3m2")),
               description="MXFP6 E3M2 everywhere",
               source="OCP MX v1.0; Rouhani et al. 2023, 'Microscaling Data Formats for Deep "
                      "Learning' (MXFP6 training)"),
        Recipe("mxfp6_e2m3", **_hybrid(_mx("mxfp6_e2m3"), _mx("mxfp6_e3m2")),
               description="MXFP6 E2M3 x and w, E3M2 gradients (the range goes to the gradients, "
                           "as FP8's hybrid recipes do)",
               source="OCP MX v1.0; Rouhani et al. 2023"),
        Recipe("mxfp4", **_same(_mx("mxfp4_e2m1")),
               description="MXFP4 E2M1 everywhere, nearest-even (no Hadamard, no SR)",
               source="OCP MX v1.0; torchao MX training with elem_dtype float4_e2m1fn_x2"),
        Recipe("mxfp4_quartet",
               forward=Gemm(q_fwd, q_fwd), dgrad=Gemm(q_bwd, q_bwd), wgrad=Gemm(q_bwd, q_bwd),
               description="MXFP4 with a 32-wide random Hadamard on every GEMM; stochastic "
                           "rounding in the backward GEMMs (QuEST's clipping scale is not "
                           "modelled: the OCP FLOOR scale is used)",
               source="Castro et al. 2025, 'Quartet: Native FP4 Training Can Be Optimal for "
                      "Large Language Models' (IST-DASLab)"),
        Recipe("nvfp4",
               forward=Gemm(nv_x, nv_w), dgrad=Gemm(nv_sr, nv_w),
               wgrad=Gemm(nv_sr.replace(hadamard=16), nv_x.replace(hadamard=16)),
               description="NVFP4 (E2M1, UE4M3 per 16, FP32 tensor scale); 16x16 weight tiles; "
                           "SR on gradients; 16-wide random Hadamard on the wgrad operands",
               source="TransformerEngine NVFP4BlockScaling() defaults; NVIDIA 2025, "
                      "'Pretraining Large Language Models with NVFP4' (arXiv 2509.25149)"),
        _weight_only("fp8_e4m3_weights", e4m3),
        _weight_only("fp6_e3m2_weights", "float6_e3m2fn"),
        _weight_only("fp6_e2m3_weights", "float6_e2m3fn"),
        _pqt("pqt_e3m2", "float6_e3m2fn"),
        _pqt("pqt_e2m3", "float6_e2m3fn"),
        _pqt("pqt_e4m3", e4m3),
    ]


for _r in _builtin():
    register(_r)
_BUILTIN = frozenset(_REGISTRY)
