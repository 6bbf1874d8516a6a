"""emulate() under DistributedDataParallel: 2 CPU processes, gloo.

One SGD step on two ranks (each half of the batch) gives identical parameters on
both ranks, equal to a single process's step on the whole batch to float
tolerance.  Not bit for bit: DDP all-reduces each rank's FP32 weight gradient
(a GEMM over its own 64 tokens) and divides by 2, where one process sums all
128 tokens in one GEMM: the same products, added in a different order.  The
quantized operands themselves are the same: the recipe blocks the weight
gradient's operands along the tokens, and each rank's 64 tokens are two whole
blocks of 32, the same blocks the single process forms (with per-rank token
counts that are not a multiple of the block, even the quantization would differ).
"""

from __future__ import annotations

import os
import sys

import pytest

torch = pytest.importorskip("torch")
import torch.distributed as dist  # noqa: E402
import torch.multiprocessing as mp  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402

import floatsim_torch as fst  # noqa: E402

TOKENS, WORLD = 128, 2


def _model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(32, 64), nn.GELU(), nn.Linear(64, 32))


def _data() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    return torch.randn(TOKENS, 32, generator=g), torch.randint(0, 32, (TOKENS,), generator=g)


def _step(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> None:
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    F.cross_entropy(model(x), y).backward()
    opt.step()


def _worker(rank: int, port: int, out: str) -> None:
    torch.set_num_threads(1)
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=WORLD)
    try:
        model = fst.emulate(_model(), "mxfp8")
        ddp = nn.parallel.DistributedDataParallel(model)
        x, y = _data()
        part = slice(rank * TOKENS // WORLD, (rank + 1) * TOKENS // WORLD)
        _step(ddp, x[part], y[part])
        torch.save({k: v for k, v in model.state_dict().items()}, f"{out}.{rank}")
    finally:
        dist.destroy_process_group()


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.skipif(not dist.is_available() or sys.platform == "win32",
                    reason="torch.distributed with gloo is needed")
def test_ddp_two_ranks_match_one_process(tmp_path) -> None:
    out = str(tmp_path / "params")
    mp.spawn(_worker, args=(_free_port(), out), nprocs=WORLD, join=True)
    r0, r1 = (torch.load(f"{out}.{r}") for r in range(WORLD))
    for k in r0:
        assert torch.equal(r0[k], r1[k]), k                    # both ranks hold the same model
    torch.set_num_threads(1)
    single = fst.emulate(_model(), "mxfp8")
    _step(single, *_data())
    for k, v in single.state_dict().items():
        if k.endswith("floatsim_step"):
            assert int(v) == int(r0[k]) == 1
            continue
        torch.testing.assert_close(r0[k], v, rtol=1e-5, atol=1e-6, msg=k)
    before = _model().state_dict()
    assert any(not torch.equal(before[k], r0[k]) for k in before)   # the step did something
