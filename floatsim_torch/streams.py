"""Stochastic-rounding streams for a training loop.

Stochastic rounding in floatsim draws the random word of element ``i`` from
a counter-based generator keyed by ``(seed, i, stream)`` (docs/semantics.md):
the same triple gives the same word on CPU, CUDA, numpy and torch.  A
training loop needs fresh words at every call yet a reproducible run, so
each call gets its own ``stream`` under one ``seed``.  :class:`RandomStream`
hands those out in order and is checkpointed with the model.

Under DistributedDataParallel, data-dependent tensors (activations,
gradients) should round with different words on every rank: give each rank
``RandomStream(seed, rank=rank, world_size=world_size)``; its streams are
``k * world_size + rank`` for the k-th call, distinct across ranks and
steps.  Tensors that are replicated (the weights every rank holds) should
round identically on every rank: draw their streams from a second
``RandomStream(seed2)`` without a rank.

Streams stay below 2**31: the backward of a quantize op uses ``stream ^
2**31`` by default (:mod:`floatsim_torch.autograd`), so forward and backward
words never coincide.

Example:
    >>> import torch, floatsim_torch as ft
    >>> rs = ft.RandomStream(1234, rank=1, world_size=4)
    >>> rs.next(), rs.next()
    ((1234, 1), (1234, 5))
    >>> y = ft.quantize(torch.full((3,), 1.0625), "e4m3", "sr", **rs.kwargs())
    >>> state = rs.state_dict(); state["counter"]
    3
"""

from __future__ import annotations

from typing import Any

import torch

__all__ = ["RandomStream"]

_LIMIT = 1 << 31


def _int(v: Any, what: str, lo: int, hi: int) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or not lo <= v < hi:
        raise ValueError(f"{what}={v!r} must be an int in {lo}..{hi - 1}")
    return v


class RandomStream:
    """Hands out ``(seed, stream)`` pairs, one per stochastic-rounding call.

    Args:
        seed: the Philox key, an int in 0..2**64-1 (fixed for the run).
        rank: this process's rank (DDP); streams are ``k * world_size + rank``.
        world_size: the number of ranks that draw from the same seed.
        counter: how many pairs were handed out already (resume from a step).
    """

    def __init__(self, seed: int, *, rank: int = 0, world_size: int = 1, counter: int = 0) -> None:
        self.seed = _int(seed, "seed", 0, 1 << 64)
        self.world_size = _int(world_size, "world_size", 1, _LIMIT)
        self.rank = _int(rank, "rank", 0, self.world_size)
        self.counter = _int(counter, "counter", 0, _LIMIT)

    def next(self) -> tuple[int, int]:
        """The next ``(seed, stream)`` pair."""
        stream = self.counter * self.world_size + self.rank
        if stream >= _LIMIT:
            raise OverflowError(
                f"RandomStream(seed={self.seed}) has handed out every stream below 2**31; "
                "start a new one with another seed"
            )
        self.counter += 1
        return self.seed, stream

    def stream_at(self, k: int | torch.Tensor) -> int | torch.Tensor:
        """The stream of the ``k``-th pair, ``k * world_size + rank``, without
        handing it out (the counter does not move).  ``k`` may be an integer
        tensor (a step counter kept in a buffer): the stream is then computed
        by torch operations, so that it is a value of a compiled graph rather
        than a constant to recompile for, and wraps at 2**31.

        Example:
            >>> import torch
            >>> rs = RandomStream(5, rank=1, world_size=2)
            >>> rs.stream_at(10), rs.stream_at(torch.tensor(10)).item(), rs.counter
            (21, 21, 0)
        """
        if isinstance(k, torch.Tensor):
            return torch.remainder(k * self.world_size + self.rank, _LIMIT)
        stream = _int(k, "k", 0, _LIMIT) * self.world_size + self.rank
        if stream >= _LIMIT:
            raise OverflowError(f"stream_at({k}) is beyond 2**31 streams of {self!r}")
        return stream

    def __iter__(self) -> RandomStream:
        return self

    def __next__(self) -> tuple[int, int]:
        return self.next()

    def kwargs(self) -> dict[str, int]:
        """The next pair as ``dict(seed=..., stream=...)`` for a quantize call."""
        seed, stream = self.next()
        return {"seed": seed, "stream": stream}

    def state_dict(self) -> dict[str, int]:
        """What :meth:`load_state_dict` restores (save it with the model)."""
        return {"seed": self.seed, "counter": self.counter, "rank": self.rank,
                "world_size": self.world_size}

    def load_state_dict(self, state: dict[str, int]) -> None:
        """Continue from a :meth:`state_dict`.  The rank and world size stay
        this object's own (a run may resume on another number of ranks);
        the counter and seed come from ``state``."""
        missing = {"seed", "counter"} - set(state)
        if missing:
            raise KeyError(f"state lacks {sorted(missing)}; it must come from state_dict()")
        self.seed = _int(state["seed"], "seed", 0, 1 << 64)
        self.counter = _int(state["counter"], "counter", 0, _LIMIT)

    def __repr__(self) -> str:
        return (f"RandomStream(seed={self.seed}, rank={self.rank}, world_size={self.world_size}, "
                f"counter={self.counter})")
