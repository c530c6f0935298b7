"""The Video2RMS network (torch). Imported only inside methods: importing the engine or
listing engines never loads torch.

In the spirit of the paper's encoder (temporal convolutions -> BiLSTM -> 64 classes per
RMS frame), sized for cheap hand-made features instead of 2048-d CNN embeddings:

    features (B, T, F) at 125 Hz
    -> standardise (mean/std of the training set, stored as buffers)
    -> 1x1 conv to `hidden` channels
    -> residual blocks: dilated conv (kernel 5) + LayerNorm over channels + ReLU + dropout
    -> BiLSTM
    -> linear to 64 logits per frame

Differences from the release, on purpose: features are resampled to 125 Hz before the
network instead of a Linear(300 -> 1250) over time, so any clip length works; the
normalisation is per frame (LayerNorm), not BatchNorm, so a quiet clip is never scaled up
by statistics of its own; no ReLU on the logits.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from foley_studio.engines.video2rms.learned.checkpoint import ModelConfig
from foley_studio.engines.video2rms.learned.labels import smoothing_table


class _ConvBlock(nn.Module):
    def __init__(self, channels: int, kernel_size: int, dilation: int, dropout: float):
        super().__init__()
        self.conv = nn.Conv1d(channels, channels, kernel_size, padding=dilation * (kernel_size - 1) // 2,
                              dilation=dilation)
        self.norm = nn.LayerNorm(channels)
        self.dropout = dropout

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, T)
        y = self.norm(self.conv(x).transpose(1, 2)).transpose(1, 2)
        return x + F.dropout(F.relu(y), self.dropout, self.training)


class Video2RMSNet(nn.Module):
    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        self.register_buffer("input_mean", torch.zeros(config.n_features))
        self.register_buffer("input_std", torch.ones(config.n_features))
        self.input = nn.Conv1d(config.n_features, config.hidden, 1)
        self.blocks = nn.ModuleList(
            _ConvBlock(config.hidden, config.kernel_size, d, config.dropout) for d in config.dilations
        )
        self.lstm = nn.LSTM(config.hidden, config.lstm_hidden, num_layers=config.lstm_layers,
                            batch_first=True, bidirectional=True)
        self.head = nn.Linear(2 * config.lstm_hidden, config.num_classes)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """(B, T, F) features -> (B, T, num_classes) logits."""
        x = (features - self.input_mean) / self.input_std
        x = self.input(x.transpose(1, 2))
        for block in self.blocks:
            x = block(x)
        x, _ = self.lstm(x.transpose(1, 2))
        return self.head(x)

    def set_normalisation(self, mean: np.ndarray, std: np.ndarray) -> None:
        with torch.no_grad():
            self.input_mean.copy_(torch.as_tensor(mean, dtype=torch.float32))
            self.input_std.copy_(torch.as_tensor(np.maximum(std, 1e-3), dtype=torch.float32))

    def set_class_prior(self, counts: np.ndarray) -> None:
        """Start the output at the training set's class frequencies (mostly silence in
        real footage), so the first epochs learn when it is loud, not that it is quiet."""
        prior = (np.asarray(counts, np.float64) + 1.0) / (np.sum(counts) + len(counts))
        with torch.no_grad():
            self.head.bias.copy_(torch.as_tensor(np.log(prior), dtype=torch.float32))


def gls_cross_entropy(logits: torch.Tensor, target: torch.Tensor, blur_range: int = 2) -> torch.Tensor:
    """Mean over frames of -sum_c w_c log p_c with the release's smoothed labels w (labels.py)."""
    table = torch.from_numpy(np.array(smoothing_table(logits.shape[-1], blur_range))).to(logits.device)
    return -(F.log_softmax(logits, dim=-1) * table[target]).sum(dim=-1).mean()


def pick_device(device: str = "auto") -> torch.device:
    if device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    return torch.device(device)


@torch.no_grad()
def predict_probs(model: Video2RMSNet, features: np.ndarray, chunk: int = 1000, context: int = 125,
                  device: torch.device | None = None, on_chunk=None) -> np.ndarray:
    """(T, C) class probabilities of a whole clip, in chunks of `chunk` frames that each see
    `context` frames either side (1 s: far more than the features' reach), so memory stays
    bounded on long clips and cancellation can act between chunks. Clips up to
    chunk + 2 * context frames run in one piece."""
    model.eval()
    device = device or next(model.parameters()).device
    n = len(features)
    out = np.zeros((n, model.config.num_classes), np.float32)
    if n == 0:
        return out
    if n <= chunk + 2 * context:
        spans = [(0, n)]
    else:
        spans = [(a, min(a + chunk, n)) for a in range(0, n, chunk)]
    for i, (a, b) in enumerate(spans):
        if on_chunk is not None:
            on_chunk(i, len(spans))
        lo, hi = max(0, a - context), min(n, b + context)
        x = torch.from_numpy(np.ascontiguousarray(features[lo:hi], dtype=np.float32))[None].to(device)
        probs = torch.softmax(model(x)[0].float(), dim=-1).cpu().numpy()
        out[a:b] = probs[a - lo:b - lo]
    return out


def state_shapes(model: nn.Module) -> dict[str, list[int]]:
    return {k: list(v.shape) for k, v in model.state_dict().items()}
