"""floatsim.recipes: the named recipes say what their sources say; validation; the CLI."""

from __future__ import annotations

import pytest

import floatsim as fs
from floatsim import recipes
from floatsim.cli import main
from floatsim.recipes import ROLES, Gemm, Operand, Recipe, Scaling

ASKED = ["fp32", "bf16", "fp8_delayed", "fp8_current", "fp8_rowwise", "mxfp8", "mxfp6_e3m2",
         "mxfp6_e2m3", "mxfp4", "nvfp4", "mxfp4_quartet", "fp8_e4m3_weights",
         "fp6_e3m2_weights", "fp6_e2m3_weights", "pqt_e3m2", "pqt_e2m3", "pqt_e4m3"]


def test_every_asked_recipe_is_registered_with_a_source() -> None:
    assert set(ASKED) <= set(recipes.names())
    for name in recipes.names():
        r = recipes.get(name)
        assert r.name == name and r.source and r.description
        assert r.accumulator == "fp32" and not r.attention   # TE keeps attention out (fp8_dpa)


def test_fp32_quantizes_nothing_and_bf16_everything() -> None:
    assert not recipes.get("fp32").quantizes
    bf16 = recipes.get("bf16")
    assert all(op.format == fs.format("bfloat16") and op.scaling is Scaling.NONE
               for op in bf16.operands().values())


def test_fp8_delayed_is_te_delayed_scaling_hybrid() -> None:
    # TE DelayedScaling(fp8_format=HYBRID, amax_history_len=1024, amax_compute_algo="max")
    r = recipes.get("fp8_delayed")
    for role, op in r.operands().items():
        want = "float8_e5m2" if role.startswith(("dgrad.lhs", "wgrad.lhs")) else "float8_e4m3fn"
        assert op.format.name == want, role
        assert (op.scaling, op.amax_history, op.amax_algo, op.margin) == (
            Scaling.TENSOR_DELAYED, 1024, "max", 0)
    cur = recipes.get("fp8_current")
    assert {op.scaling for op in cur.operands().values()} == {Scaling.TENSOR_CURRENT}


def test_fp8_rowwise_is_torchao_rowwise() -> None:
    # torchao 'rowwise': e4m3 for input, weight and grad_output, one power-of-two scale
    # per row along the reduction dimension.
    for op in recipes.get("fp8_rowwise").operands().values():
        bf = op.block_format
        assert op.scaling is Scaling.ROW and bf.element.name == "float8_e4m3fn"
        assert bf.scale.name == "float8_e8m0fnu" and bf.rule.value == "rceil" and bf.block is None


def test_nvfp4_is_te_nvfp4_block_scaling() -> None:
    r = recipes.get("nvfp4")
    ops = r.operands()
    assert ops["forward.rhs"].format.block == (16, 16) == ops["dgrad.rhs"].format.block
    for role in ("forward.lhs", "dgrad.lhs", "wgrad.lhs", "wgrad.rhs"):
        bf = ops[role].format
        assert bf.block == (16,) and bf.scale.name == "ue4m3" and bf.tensor_format.name == "float32"
    # stochastic rounding on the gradient dy only; Hadamard (16) on the wgrad operands only
    assert {role for role, op in ops.items() if op.rounding is fs.Rounding.STOCHASTIC} == {
        "dgrad.lhs", "wgrad.lhs"}
    assert {role for role, op in ops.items() if op.hadamard} == {"wgrad.lhs", "wgrad.rhs"}
    assert ops["wgrad.lhs"].hadamard == 16


def test_quartet_and_mx_recipes() -> None:
    q = recipes.get("mxfp4_quartet")
    for role, op in q.operands().items():
        assert op.format.name == "mxfp4_e2m1" and op.hadamard == 32
        want = fs.Rounding.NEAREST_EVEN if role.startswith("forward") else fs.Rounding.STOCHASTIC
        assert op.rounding is want, role
    for name, elems in (("mxfp8", {"mxfp8_e4m3"}), ("mxfp6_e3m2", {"mxfp6_e3m2"}),
                        ("mxfp6_e2m3", {"mxfp6_e2m3", "mxfp6_e3m2"}), ("mxfp4", {"mxfp4_e2m1"})):
        ops = recipes.get(name).operands()
        assert {op.format.name for op in ops.values()} == elems
        assert all(op.scaling is Scaling.BLOCK and op.format.block == (32,) for op in ops.values())


def test_weight_only_recipes_quantize_only_the_weight() -> None:
    for name, fmt in (("fp8_e4m3_weights", "float8_e4m3fn"), ("fp6_e3m2_weights", "float6_e3m2fn"),
                      ("fp6_e2m3_weights", "float6_e2m3fn")):
        ops = recipes.get(name).operands()
        assert {r for r, op in ops.items() if op.quantized} == {"forward.rhs", "dgrad.rhs"}
        assert ops["forward.rhs"] == ops["dgrad.rhs"] and ops["forward.rhs"].format.name == fmt


def test_pqt_recipes_hold_weight_noise_and_high_precision_operands() -> None:
    for name, fmt in (("pqt_e3m2", "float6_e3m2fn"), ("pqt_e2m3", "float6_e2m3fn"),
                      ("pqt_e4m3", "float8_e4m3fn")):
        r = recipes.get(name)
        assert not r.quantizes and r.weight_noise.format.name == fmt
        assert r.weight_noise.noise.name == "r9" and r.weight_noise.param_dtype == "bfloat16"
        assert "weight noise         target " + fmt in r.describe()
        assert r.summary() == f"w pqt {name[4:]} r9 noise, bfloat16 parameters"
    assert recipes.get("fp32").weight_noise is None


def test_get_unknown_lists_the_known_names() -> None:
    with pytest.raises(ValueError, match=r"unknown recipe 'mxfp5'.*Known recipes: fp32, bf16"):
        recipes.get("mxfp5")
    with pytest.raises(TypeError, match="a recipe is a floatsim.recipes.Recipe or a name"):
        recipes.get(3)  # type: ignore[arg-type]


def test_derive_register_and_unregister_in_five_lines() -> None:
    mine = recipes.get("mxfp8").replace(name="test_mx_e5m2_grads", description="d", source="s")
    mine = mine.with_operands("dy", operand=Operand("mxfp8_e5m2", scaling="block",
                                                     rounding="sr"))
    recipes.register(mine)
    try:
        got = recipes.get("test_mx_e5m2_grads")
        assert got.dgrad.lhs.format.name == "mxfp8_e5m2" and got.wgrad.lhs.rounding.name == "STOCHASTIC"
        assert got.forward == recipes.get("mxfp8").forward
        assert recipes.get("mxfp8").dgrad.lhs.format.name == "mxfp8_e4m3"   # untouched
        with pytest.raises(ValueError, match="registered already"):
            recipes.register(mine)
    finally:
        recipes.unregister("test_mx_e5m2_grads")
    assert "test_mx_e5m2_grads" not in recipes.names()
    with pytest.raises(ValueError, match="built-in"):
        recipes.unregister("fp32")


def test_with_operands_groups() -> None:
    r = recipes.get("fp8_current")
    assert r.with_operands("x", margin=2).operand("wgrad.rhs").margin == 2
    assert r.with_operands("backward", rounding="rtz").operand("forward.lhs").rounding.name == \
        "NEAREST_EVEN"
    with pytest.raises(ValueError, match="roles='y' is not valid"):
        r.with_operands("y", margin=1)
    # a Hadamard on one side of a GEMM alone is refused (it would change the product)
    with pytest.raises(ValueError, match="same Hadamard"):
        recipes.get("mxfp4").with_operands("dgrad.lhs", hadamard=32)
    assert recipes.get("mxfp4").with_operands("dgrad", hadamard=32).dgrad.rhs.hadamard == 32


@pytest.mark.parametrize(("kw", "match"), [
    (dict(format="e4m3", scaling="block"), "needs a BlockFormat"),
    (dict(format="mxfp8", scaling="tensor_current"), "needs scaling='block'"),
    (dict(format=fs.blocks.scaled("e4m3"), scaling="block"), "whole-axis blocks"),
    (dict(format="nvfp4_16x16", scaling="block", hadamard=12), "hadamard=12 is not"),
    (dict(format="e4m3", sr_bits=4), "applies to rounding='stochastic' only"),
    (dict(format="e4m3", rounding="sr", sr_bits=0), r"sr_bits=0 must be an int in 1\.\.32"),
    (dict(format=None, scaling="row"), "takes no scaling or hadamard"),
    (dict(format="e4m3", scaling="tensor_delayed", amax_history=0), "amax_history=0"),
    (dict(format="e4m3", amax_algo="mean"), "amax_algo='mean' is not valid"),
    (dict(format="e4m3", scaling="rows"), "scaling='rows' is not valid"),
    (dict(format=fs.blocks.format("mxfp8").with_(block=(2, 4, 4)), scaling="block"),
     "rank-3 tile"),
    (dict(format=3), "a format is a floatsim.Format"),
    (dict(format="e16m2"), "format .e16m2. is not a valid format: ebits=16 is out of range"),
])
def test_operand_rejects(kw: dict, match: str) -> None:
    with pytest.raises((ValueError, TypeError), match=match):
        Operand(**kw)


def test_recipe_rejects() -> None:
    with pytest.raises(ValueError, match="name=''"):
        Recipe("")
    with pytest.raises(TypeError, match="forward must be a Gemm"):
        Recipe("x", forward=Operand())  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="master weights take an element Format|must be an element"):
        Recipe("x", master_weights="mxfp8")
    with pytest.raises(ValueError, match="role='fwd.lhs' is not valid"):
        recipes.get("fp32").operand("fwd.lhs")
    with pytest.raises(TypeError, match="weight_noise='e3m2' must be a floatsim.noise.PQTConfig"):
        Recipe("x", weight_noise="e3m2")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="Gemm.lhs must be an Operand"):
        Gemm("e4m3", Operand())  # type: ignore[arg-type]


def test_describe_lists_every_role() -> None:
    text = recipes.get("nvfp4").describe()
    for role in ROLES:
        assert role in text
    assert "nvfp4_16x16, block, nearest_even" in text and "hadamard 16" in text
    assert "TransformerEngine NVFP4BlockScaling" in text


def test_cli_recipes(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["recipes"]) == 0
    out = capsys.readouterr().out
    for name in ASKED:
        assert f"\n{name} " in out
    assert "x mxfp4_e2m1 | w mxfp4_e2m1 | dy mxfp4_e2m1" in out
    assert main(["recipes", "fp8_delayed", "mxfp8"]) == 0
    out = capsys.readouterr().out
    assert "recipe fp8_delayed" in out and "recipe mxfp8" in out and "history 1024" in out
    assert main(["recipes", "nope"]) == 2
    assert "unknown recipe 'nope'" in capsys.readouterr().err
