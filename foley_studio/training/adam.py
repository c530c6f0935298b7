"""Adam (Kingma & Ba), the same arithmetic as torch.optim.Adam's single-tensor path.

Why not torch.optim.Adam: its first use imports torch._dynamo (about 2.5 s on this 2-core
machine, in every training run and every test process), and its state dict is
keyed by position; this one is keyed by parameter name and is plain tensors, so it goes
straight into safetensors for resuming. A test checks it against the textbook update (it
also matched torch.optim.Adam to 1e-7 over five steps when written).
"""

from __future__ import annotations

import torch


class Adam:
    def __init__(self, named_params, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8):
        self.params: dict[str, torch.nn.Parameter] = {n: p for n, p in named_params if p.requires_grad}
        self.lr, self.betas, self.eps = float(lr), (float(betas[0]), float(betas[1])), float(eps)
        self.steps = 0
        self.exp_avg = {n: torch.zeros_like(p) for n, p in self.params.items()}
        self.exp_avg_sq = {n: torch.zeros_like(p) for n, p in self.params.items()}

    def zero_grad(self) -> None:
        for p in self.params.values():
            p.grad = None

    @torch.no_grad()
    def step(self) -> None:
        self.steps += 1
        beta1, beta2 = self.betas
        bias_correction1 = 1 - beta1 ** self.steps
        bias_correction2_sqrt = (1 - beta2 ** self.steps) ** 0.5
        step_size = self.lr / bias_correction1
        for name, p in self.params.items():
            if p.grad is None:
                continue
            m, v = self.exp_avg[name], self.exp_avg_sq[name]
            m.lerp_(p.grad, 1 - beta1)
            v.mul_(beta2).addcmul_(p.grad, p.grad, value=1 - beta2)
            denom = (v.sqrt() / bias_correction2_sqrt).add_(self.eps)
            p.addcdiv_(m, denom, value=-step_size)

    def state_tensors(self) -> dict[str, torch.Tensor]:
        out = {}
        for name in self.params:
            out[f"exp_avg.{name}"] = self.exp_avg[name]
            out[f"exp_avg_sq.{name}"] = self.exp_avg_sq[name]
        return out

    def hyper(self) -> dict:
        return {"lr": self.lr, "betas": list(self.betas), "eps": self.eps, "steps": self.steps}

    def load(self, tensors: dict[str, torch.Tensor], hyper: dict) -> None:
        """Restore from state_tensors() + hyper(); KeyError/ValueError on a mismatch."""
        expected = set(self.state_tensors())
        if set(tensors) != expected:
            missing = sorted(expected - set(tensors))
            extra = sorted(set(tensors) - expected)
            raise ValueError(f"missing {missing[:1]} unexpected {extra[:1]}")
        with torch.no_grad():
            for name in self.params:
                for table, key in ((self.exp_avg, "exp_avg"), (self.exp_avg_sq, "exp_avg_sq")):
                    value = tensors[f"{key}.{name}"]
                    if value.shape != table[name].shape:
                        raise ValueError(f"{key}.{name} has shape {list(value.shape)}")
                    table[name].copy_(value)
        self.lr, self.eps, self.steps = float(hyper["lr"]), float(hyper["eps"]), int(hyper["steps"])
        self.betas = (float(hyper["betas"][0]), float(hyper["betas"][1]))
