"""The paper's optimiser: AdamW without weight decay, linear warm-up then linear decay to zero."""

from __future__ import annotations

import math

import torch


def adamw(params: list[torch.nn.Parameter], lr: float, weight_decay: float = 0.0) -> torch.optim.AdamW:
    """AdamW with default betas and eps (PEFT/transformers defaults), no weight decay unless asked."""
    return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)


def linear_schedule(optimizer: torch.optim.Optimizer, total_steps: int,
                    warmup: float = 0.06) -> torch.optim.lr_scheduler.LambdaLR:
    """LR factor rising linearly over ceil(warmup·total) steps, then falling linearly to 0 at `total`."""
    warm = math.ceil(warmup * total_steps)

    def factor(step: int) -> float:
        if step < warm:
            return step / max(1, warm)
        return max(0.0, (total_steps - step) / max(1, total_steps - warm))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
