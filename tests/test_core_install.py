"""The core's layout and the defects a new user hit (issue 21), each with a
test that failed before its fix.  Runs in the full test venv and, in CI, in
a core-only install (no ml_dtypes, numba-cuda, torch or jax): each optional
import is exercised both ways, here by hiding a package from a subprocess.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import floatsim as fs

ROOT = Path(__file__).resolve().parent.parent


def _run(code: str, *, hide: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh interpreter in which ``hide`` cannot be imported."""
    prelude = "import sys\n" + "".join(f"sys.modules[{m!r}] = None\n" for m in hide)
    return subprocess.run([sys.executable, "-c", prelude + textwrap.dedent(code)],
                          capture_output=True, text=True, cwd=ROOT, timeout=600)


# ---- float64 inputs without ml_dtypes --------------------------------------------------


def test_float64_rounds_once_without_ml_dtypes() -> None:
    """cast.py compared x.dtype with a bfloat16 of None, which numpy answers
    True for float64: every float64 input went through float32 first."""
    proc = _run("""
        import numpy as np, floatsim as fs
        assert "ml_dtypes" not in [m for m, v in sys.modules.items() if v is not None]
        from floatsim import reference as ref
        x = np.array([1.0625 + 2**-24, -431.99999999999994])
        print(fs.quantize(x, "e4m3").tolist())
        print(fs.encode(x, "e4m3").tolist() == [ref.encode_value(v, "e4m3") for v in x.tolist()])
    """, hide=("ml_dtypes",))
    assert proc.returncode == 0, proc.stderr
    first, second = proc.stdout.splitlines()
    assert first == "[1.125, -416.0]"  # through float32 first: [1.0, -448.0]
    assert second == "True"


def test_bfloat16_is_unknown_without_ml_dtypes_and_never_equal_to_none() -> None:
    from floatsim import dtypes

    assert not dtypes.is_bfloat16(np.float64) and not dtypes.is_bfloat16(None)
    proc = _run("""
        import numpy as np
        from floatsim import dtypes
        print(dtypes.bfloat16(), sorted(str(d) for d in dtypes.float_dtypes()))
    """, hide=("ml_dtypes",))
    assert proc.stdout.strip() == "None ['float16', 'float32', 'float64']", proc.stderr


# ---- imports --------------------------------------------------------------------------------


def test_import_floatsim_loads_nothing_heavy() -> None:
    """``import floatsim`` imports numpy and floatsim only: numba, ml_dtypes and
    the kernels come at the first call (python -X importtime: docs/architecture.md)."""
    proc = _run("""
        import floatsim, floatsim.blocks, floatsim.cli
        heavy = ("numba", "llvmlite", "ml_dtypes", "torch", "jax", "tqdm", "floatsim.kernels.fast32",
                 "floatsim.cpu", "floatsim.gpu", "floatsim.reference")
        print([m for m in sys.modules if m.startswith(heavy)])
    """)
    assert proc.stdout.strip() == "[]", proc.stdout + proc.stderr


def test_gpu_array_without_numba_cuda_names_the_extra() -> None:
    """With numba and no numba-cuda, a GPU array reached numba.cuda.legacy_default_stream
    and died with an AttributeError."""
    proc = _run("""
        import numpy as np, floatsim as fs

        class FakeGpuArray:
            __cuda_array_interface__ = {"shape": (4,), "typestr": "<f4", "data": (0, False), "version": 3}
            dtype = np.dtype(np.float32)

        for call in (lambda a: fs.quantize(a, "e4m3"), lambda a: fs.blocks.quantize(a, "mxfp8"),
                     lambda a: fs.decode(a, "e4m3"), lambda a: fs.pack(a, 4)):
            try:
                call(FakeGpuArray())
            except ImportError as e:
                print("ImportError:", e)
    """, hide=("numba_cuda",))
    lines = proc.stdout.splitlines()
    assert len(lines) == 4, proc.stdout + proc.stderr
    assert all("pip install 'floatsim[cuda]'" in line for line in lines)


# ---- one result type for block encode -------------------------------------------------------


@pytest.mark.parametrize("name", fs.blocks.names())
def test_block_decode_takes_what_encode_returns(name: str) -> None:
    """``fs.blocks.encode`` returned 2 or 3 items by format, so decode(*encode(x, f), f)
    failed for nvfp4; now one BlockCodes type for every format."""
    bf = fs.blocks.format(name)
    x = np.random.default_rng(1).standard_normal((4, 64))
    if bf.rule is fs.blocks.ScaleRule.MINMAX:
        x = np.abs(x)
    codes = fs.blocks.encode(x, bf)
    assert isinstance(codes, fs.blocks.BlockCodes) and len(codes) == 4
    assert np.array_equal(fs.blocks.decode(codes, bf, dtype=np.float64),
                          fs.blocks.quantize(x, bf, out_dtype=np.float64), equal_nan=True)


def test_block_decode_argument_errors() -> None:
    codes = fs.blocks.encode(np.ones((1, 32)), "mxfp8")
    with pytest.raises(TypeError, match="pass the format second"):
        fs.blocks.decode(codes, codes.scales, "mxfp8")
    with pytest.raises(TypeError, match=r"\(codes, bfmt\) or \(elements, scales, bfmt\)"):
        fs.blocks.decode(codes.elements, codes.scales)


# ---- hints ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("spec", "pattern"), [
    ("fp8", r"'fp8' is ambiguous.*float8_e4m3fn \(e4m3\), float8_e5m2 \(e5m2\)"),
    ("fp6", r"'fp6' is ambiguous.*float6_e2m3fn \(e2m3\), float6_e3m2fn \(e3m2\)"),
    ("e1m0", r"'e1m0' is not a valid format: .*has no nonzero finite value"),
    ("mxfp4_e2m1", r"'mxfp4_e2m1' is not an element format: .*floatsim.blocks.quantize"),
    ("nvfp4", r"'nvfp4' is not an element format"),
])
def test_format_hints(spec: str, pattern: str) -> None:
    """'fp8' suggested fp4, 'fp6' fp64, 'e1m0' e8m0, and block format names
    did not point to floatsim.blocks."""
    with pytest.raises(ValueError, match=pattern):
        fs.quantize(np.ones(2), spec)


def test_block_format_object_in_element_call_points_to_blocks() -> None:
    with pytest.raises(TypeError, match="is a block format: use floatsim.blocks"):
        fs.quantize(np.ones(2), fs.blocks.format("nvfp4"))


def test_cli_info_knows_block_formats(capsys: pytest.CaptureFixture[str]) -> None:
    from floatsim.cli import main

    assert main(["info", "nvfp4", "mxfp4"]) == 0
    out = capsys.readouterr().out
    assert "ue4m3" in out and "4.4375" in out and "4.25" in out
    assert main(["info", "e4m3", "nvfp4"]) == 2


# ---- the kernel ABI -----------------------------------------------------------------------------


def test_kernel_codes_follow_the_enums() -> None:
    from floatsim.cpu.blocks import MX_F32_KERNELS
    from floatsim.cpu.elementwise import F32_KERNELS
    from floatsim.kernels import abi

    assert set(abi.ROUNDING_CODE) == set(fs.Rounding) and set(abi.RULE_CODE) == set(fs.blocks.ScaleRule)
    short = {"NEAREST_EVEN": "rne", "NEAREST_AWAY": "rna", "TOWARD_ZERO": "rtz", "UP": "rup",
             "DOWN": "rdn", "ODD": "odd", "STOCHASTIC": "sr"}
    for mode, code in abi.ROUNDING_CODE.items():
        assert F32_KERNELS[code].py_func.__name__ == f"f32_{short[mode.name]}"
        assert MX_F32_KERNELS[code].py_func.__name__ == f"mx_f32_{short[mode.name]}"


# ---- the numba cache ------------------------------------------------------------------------------


def test_kernels_cache_outside_the_package_keyed_by_every_kernel_source(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Numba's cache sat in the source tree and missed edits to callees in other files."""
    from floatsim import cache
    from floatsim.cpu import elementwise

    path = Path(elementwise.quantize_flat._cache.cache_path)
    assert cache.cache_dir() in path.parents and cache.PACKAGE_DIR not in path.parents
    # a copy of the package whose philox.py (inlined by every SR kernel) changed
    copy = tmp_path / "floatsim"
    for src in cache.PACKAGE_DIR.rglob("*.py"):
        dst = copy / src.relative_to(cache.PACKAGE_DIR)
        dst.parent.mkdir(parents=True, exist_ok=True)
        dst.write_bytes(src.read_bytes())
    key = cache.source_key()
    monkeypatch.setattr(cache, "PACKAGE_DIR", copy)
    cache.source_key.cache_clear()
    try:
        assert cache.source_key() == key  # same sources, same key
        (copy / "kernels" / "philox.py").write_text((copy / "kernels" / "philox.py").read_text() + "\n# edit\n")
        cache.source_key.cache_clear()
        assert cache.source_key() != key
    finally:
        cache.source_key.cache_clear()


# ---- GPU launch settings and per-call plans (no GPU needed) -----------------------------------


def test_launch_settings_are_frozen_and_scoped() -> None:
    pytest.importorskip("numba_cuda")
    from floatsim.gpu import launch

    before = launch.settings()
    with launch.use_settings(elementwise=launch.Grid(64, 4, 256)) as s:
        assert launch.settings() is s and s.elementwise.threads == 64
    assert launch.settings() is before
    with pytest.raises(ValueError, match="multiple of 32"):
        launch.Grid(48, 4, 256, 32)


def test_plan_cache_is_bounded() -> None:
    pytest.importorskip("numba_cuda")
    from floatsim.gpu.plans import PlanCache

    c = PlanCache(3)
    for i in range(3):
        c.put(("shape", i), i)
    assert c.get(("shape", 0)) == 0  # now the most recently used
    for i in range(3, 10):  # e.g. a new sequence length every step
        c.put(("shape", i), i)
        assert len(c) == 3
    assert c.get(("shape", 1), None) is None and c.get(("shape", 9)) == 9


class _FakeTensor:
    """What plans.quantize reads of a CUDA torch tensor."""

    __module__ = "torch.fake"
    is_cuda = True
    dtype = "float32"
    shape = (8,)

    def __init__(self, device: int) -> None:
        self.device_index = device

    def get_device(self) -> int:
        return self.device_index

    def is_contiguous(self) -> bool:
        return True

    def data_ptr(self) -> int:
        return 4096

    def numel(self) -> int:
        return 8


def test_per_call_plans_serve_every_device(monkeypatch: pytest.MonkeyPatch) -> None:
    """The plans served device 0 only: on any other GPU (every DDP rank but 0)
    calls silently took the slow path.  Plans are now keyed by device."""
    pytest.importorskip("numba_cuda")
    from floatsim.gpu import plans

    made, launched = [], []

    class Prepared:
        def __init__(self, device: int) -> None:
            self.buf, self.lock, self.device = [0] * 64, contextlib.nullcontext(), device

        def launch(self, stream: int, blocks: int, threads: int) -> None:
            launched.append((self.device, stream))

    def make_plan(x, device, *args):  # noqa: ANN001, ANN002, ANN202
        made.append(device)
        return plans._Plan(Prepared(device), 20, False, 256, 1024, 1024, 16, None)

    class FakeTorch:
        @staticmethod
        def empty_like(x: _FakeTensor) -> _FakeTensor:
            return _FakeTensor(x.get_device())

    plans.clear()
    monkeypatch.setattr(plans, "SIMULATOR", False)
    monkeypatch.setattr(plans, "_make_plan", make_plan)
    monkeypatch.setattr(plans, "_torch", lambda: FakeTorch)
    monkeypatch.setattr(plans, "_T", FakeTorch)
    monkeypatch.setattr(plans, "_on", lambda device: contextlib.nullcontext())
    monkeypatch.setattr(plans, "current_stream", lambda device: 1000 + device)
    try:
        for dev in (1, 0, 1):
            y = plans.quantize(_FakeTensor(dev), "e4m3", "rne", None, None, False, None, 0, None)
            assert isinstance(y, _FakeTensor) and y.get_device() == dev
        assert made == [1, 0]  # one plan per device, reused
        assert launched == [(1, 1001), (0, 1000), (1, 1001)]
    finally:
        plans.clear()


def test_a_first_compile_says_so_once(tmp_path: Path) -> None:
    """From an empty cache the first call compiled for seconds without a word."""
    code = """
        import numpy as np, floatsim as fs
        fs.decode(np.arange(16, dtype=np.uint8), "e2m1")
        fs.decode(np.arange(16, dtype=np.uint8), "e2m1", np.float64)
    """
    import os

    env = dict(os.environ, FLOATSIM_CACHE_DIR=str(tmp_path))
    cold = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          cwd=ROOT, env=env, timeout=600)
    assert cold.returncode == 0, cold.stderr
    assert cold.stderr.count("floatsim: compiling kernels for this machine") == 1, cold.stderr
    assert str(tmp_path) in cold.stderr
    warm = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          cwd=ROOT, env=env, timeout=600)
    assert "compiling" not in warm.stderr, warm.stderr  # loaded from the cache: nothing to say
