"""A small GPT-style language model for the demo, the studies and the benchmarks.

Pre-LayerNorm transformer blocks (causal self-attention through
``F.scaled_dot_product_attention``, a 4x GELU MLP), learned token and position
embeddings, an untied output head; every GEMM is an ``nn.Linear`` (plus the
two attention GEMMs, which ``emulate`` reaches with ``recipe.attention``).
Sizes by name in :data:`SIZES`.

Example:
    >>> import torch
    >>> model = GPT(GPTConfig.named("tiny", vocab_size=97))
    >>> logits = model(torch.zeros(2, 16, dtype=torch.long))
    >>> logits.shape, model.num_params() < 100_000
    (torch.Size([2, 16, 97]), True)
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["GPT", "SIZES", "GPTConfig"]


@dataclass(frozen=True)
class GPTConfig:
    """Model shape: vocabulary, context length, layers, heads, width."""

    vocab_size: int = 97
    block_size: int = 64
    n_layer: int = 2
    n_head: int = 2
    n_embd: int = 64

    def __post_init__(self) -> None:
        for name in ("vocab_size", "block_size", "n_layer", "n_head", "n_embd"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"{name}={v!r} must be an int >= 1")
        if self.n_embd % self.n_head:
            raise ValueError(f"n_embd={self.n_embd} must be a multiple of n_head={self.n_head}")

    @classmethod
    def named(cls, size: str, **changes: int) -> GPTConfig:
        """A preset of :data:`SIZES`, with fields changed.

        Example:
            >>> GPTConfig.named("small").n_layer
            4
        """
        if size not in SIZES:
            raise ValueError(f"size={size!r} is not valid; allowed: {', '.join(SIZES)}")
        return replace(SIZES[size], **changes)


#: Named sizes: 'tiny' (CI), 'small' (the demo), 'medium' (the demo's longer
#: run), '10m' (the CPU benchmark, ~10.8M parameters), 'gpt2' (GPT-2 small's
#: shape, ~124M with its 50257-token vocabulary).
SIZES: dict[str, GPTConfig] = {
    "tiny": GPTConfig(block_size=32, n_layer=2, n_head=2, n_embd=32),
    "small": GPTConfig(block_size=64, n_layer=4, n_head=4, n_embd=128),
    "medium": GPTConfig(block_size=128, n_layer=6, n_head=6, n_embd=192),
    "10m": GPTConfig(block_size=256, n_layer=6, n_head=6, n_embd=384),
    "gpt2": GPTConfig(vocab_size=50257, block_size=1024, n_layer=12, n_head=12, n_embd=768),
}


class SelfAttention(nn.Module):
    """Causal multi-head self-attention: one qkv Linear, SDPA, an output Linear."""

    def __init__(self, cfg: GPTConfig) -> None:
        super().__init__()
        self.n_head = cfg.n_head
        self.qkv = nn.Linear(cfg.n_embd, 3 * cfg.n_embd)
        self.proj = nn.Linear(cfg.n_embd, cfg.n_embd)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, c = x.shape
        q, k, v = self.qkv(x).view(b, t, 3, self.n_head, c // self.n_head).permute(2, 0, 3, 1, 4)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return self.proj(y.transpose(1, 2).reshape(b, t, c))


class Block(nn.Module):
    """x + attn(ln(x)), then x + mlp(ln(x))."""

    def __init__(self, cfg: GPTConfig) -> None:
        super().__init__()
        self.ln1 = nn.LayerNorm(cfg.n_embd)
        self.attn = SelfAttention(cfg)
        self.ln2 = nn.LayerNorm(cfg.n_embd)
        self.fc = nn.Linear(cfg.n_embd, 4 * cfg.n_embd)
        self.out = nn.Linear(4 * cfg.n_embd, cfg.n_embd)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln1(x))
        return x + self.out(F.gelu(self.fc(self.ln2(x))))


class GPT(nn.Module):
    """The model: ``forward(idx)`` gives logits; ``loss(idx, targets)`` the
    mean cross-entropy."""

    def __init__(self, cfg: GPTConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.tok = nn.Embedding(cfg.vocab_size, cfg.n_embd)
        self.pos = nn.Embedding(cfg.block_size, cfg.n_embd)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layer))
        self.ln_f = nn.LayerNorm(cfg.n_embd)
        self.lm_head = nn.Linear(cfg.n_embd, cfg.vocab_size, bias=False)
        self.apply(self._init)
        for name, p in self.named_parameters():   # GPT-2's scaled init of residual outputs
            if name.endswith(("proj.weight", "out.weight")):
                nn.init.normal_(p, std=0.02 / (2 * cfg.n_layer) ** 0.5)

    @staticmethod
    def _init(m: nn.Module) -> None:
        if isinstance(m, nn.Linear | nn.Embedding):
            nn.init.normal_(m.weight, std=0.02)
        if isinstance(m, nn.Linear) and m.bias is not None:
            nn.init.zeros_(m.bias)

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        t = idx.shape[-1]
        if t > self.cfg.block_size:
            raise ValueError(f"sequence length {t} exceeds block_size={self.cfg.block_size}")
        x = self.tok(idx) + self.pos(torch.arange(t, device=idx.device))
        for blk in self.blocks:
            x = blk(x)
        return self.lm_head(self.ln_f(x))

    def loss(self, idx: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        logits = self(idx)
        return F.cross_entropy(logits.flatten(0, -2).float(), targets.flatten())

    def num_params(self) -> int:
        """Parameters, embeddings included."""
        return sum(p.numel() for p in self.parameters())
