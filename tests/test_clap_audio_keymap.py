"""CLAP's HTSAT audio branch, named as the AudioLDM checkpoint names it -> transformers' ClapAudioModelWithProjection.

The official-named state dict is written out here key by key from HTSAT's modules (LAION CLAP /
AudioLDM htsat.py: bn0, patch_embed, Swin blocks with fused qkv, PatchMerging, tscam_conv, head,
the torchlibrosa extractors and CLAP's audio_projection MLP), each entry paired with the
transformers name(s) it must land under. The pairs are this file's own table, not the mapper's.
Sizes: HTSAT-tiny's geometry (256 spectrogram side, 64 mels, 4x4 patches, window 8) with a few
channels, so the converted model also runs on real 10 s features.
"""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from foley_studio.engines.rms2sound.controlnet import clap_audio_keymap as cak  # noqa: E402
from foley_studio.engines.rms2sound.controlnet.keymap import MappingError  # noqa: E402

P = "cond_stage_model.model."
EMBED, DEPTHS, HEADS, WINDOW, SPEC, MELS, PATCH, JOINT = 8, (2, 2), (1, 2), 8, 256, 64, 4, 16
ENC = "audio_model.audio_encoder."


def swin_index(w: int) -> "torch.Tensor":
    """Relative-position index of a w x w window, as Swin defines it."""
    ys, xs = torch.meshgrid(torch.arange(w), torch.arange(w), indexing="ij")
    flat = torch.stack([ys.flatten(), xs.flatten()])
    rel = (flat[:, :, None] - flat[:, None, :]).permute(1, 2, 0) + (w - 1)
    return rel[..., 0] * (2 * w - 1) + rel[..., 1]


def official_htsat(g: "torch.Generator", fused: bool = False) -> tuple[dict, list]:
    """({official key: tensor}, [(official key, [(transformers key, slice of dim 0 or None)])]).

    Dropped originals pair with an empty list.
    """
    sd, pairs = {}, []

    def add(orig, shape, targets, value=None):
        sd[P + orig] = torch.randn(shape, generator=g) * 0.1 if value is None else value
        pairs.append((P + orig, targets))

    b = "audio_branch."
    add(b + "spectrogram_extractor.stft.conv_real.weight", (9, 1, 16), [])
    add(b + "spectrogram_extractor.stft.conv_imag.weight", (9, 1, 16), [])
    add(b + "logmel_extractor.melW", (9, MELS), [])
    for n in ("weight", "bias", "running_mean"):
        add(f"{b}bn0.{n}", (MELS,), [(f"{ENC}batch_norm.{n}", None)])
    add(b + "bn0.running_var", (MELS,), [(ENC + "batch_norm.running_var", None)], torch.rand(MELS, generator=g) + 0.5)
    add(b + "bn0.num_batches_tracked", (), [(ENC + "batch_norm.num_batches_tracked", None)], torch.tensor(7))
    add(b + "patch_embed.proj.weight", (EMBED, 1, PATCH, PATCH), [(ENC + "patch_embed.proj.weight", None)])
    for n in ("proj.bias", "norm.weight", "norm.bias"):
        add(f"{b}patch_embed.{n}", (EMBED,), [(f"{ENC}patch_embed.{n}", None)])
    if fused:
        add(b + "patch_embed.mel_conv2d.weight", (EMBED, 1, PATCH, 3 * PATCH), [])
    side = SPEC // PATCH
    for i, (depth, heads) in enumerate(zip(DEPTHS, HEADS)):
        d, res = EMBED * 2 ** i, side // 2 ** i
        for j in range(depth):
            o, t = f"{b}layers.{i}.blocks.{j}.", f"{ENC}layers.{i}.blocks.{j}."
            for a, z in (("norm1", "layernorm_before"), ("norm2", "layernorm_after")):
                add(f"{o}{a}.weight", (d,), [(f"{t}{z}.weight", None)])
                add(f"{o}{a}.bias", (d,), [(f"{t}{z}.bias", None)])
            add(o + "attn.relative_position_bias_table", ((2 * WINDOW - 1) ** 2, heads),
                [(t + "attention.self.relative_position_bias_table", None)])
            add(o + "attn.relative_position_index", (), [(t + "attention.self.relative_position_index", None)],
                swin_index(WINDOW))
            thirds = [(f"{t}attention.self.{q}", slice(k * d, (k + 1) * d))
                      for k, q in enumerate(("query", "key", "value"))]
            add(o + "attn.qkv.weight", (3 * d, d), [(n + ".weight", s) for n, s in thirds])
            add(o + "attn.qkv.bias", (3 * d,), [(n + ".bias", s) for n, s in thirds])
            add(o + "attn.proj.weight", (d, d), [(t + "attention.output.dense.weight", None)])
            add(o + "attn.proj.bias", (d,), [(t + "attention.output.dense.bias", None)])
            add(o + "mlp.fc1.weight", (4 * d, d), [(t + "intermediate.dense.weight", None)])
            add(o + "mlp.fc1.bias", (4 * d,), [(t + "intermediate.dense.bias", None)])
            add(o + "mlp.fc2.weight", (d, 4 * d), [(t + "output.dense.weight", None)])
            add(o + "mlp.fc2.bias", (d,), [(t + "output.dense.bias", None)])
            if j % 2 and res > WINDOW:  # shifted blocks keep their window mask as a buffer
                n_win = (res // WINDOW) ** 2
                n = WINDOW ** 2
                add(o + "attn_mask", (n_win, n, n), [], torch.zeros(n_win, n, n))
        if i + 1 < len(DEPTHS):
            o, t = f"{b}layers.{i}.downsample.", f"{ENC}layers.{i}.downsample."
            add(o + "reduction.weight", (2 * d, 4 * d), [(t + "reduction.weight", None)])
            add(o + "norm.weight", (4 * d,), [(t + "norm.weight", None)])
            add(o + "norm.bias", (4 * d,), [(t + "norm.bias", None)])
    last = EMBED * 2 ** (len(DEPTHS) - 1)
    add(b + "norm.weight", (last,), [(ENC + "norm.weight", None)])
    add(b + "norm.bias", (last,), [(ENC + "norm.bias", None)])
    sf = SPEC // 2 ** (len(DEPTHS) - 1) // PATCH // (SPEC // MELS)
    add(b + "tscam_conv.weight", (5, last, sf, 3), [])
    add(b + "tscam_conv.bias", (5,), [])
    add(b + "head.weight", (5, 5), [])
    add(b + "head.bias", (5,), [])
    for k, z, shape in (("0", "linear1", (JOINT, last)), ("2", "linear2", (JOINT, JOINT))):
        add(f"audio_projection.{k}.weight", shape, [(f"audio_projection.{z}.weight", None)])
        add(f"audio_projection.{k}.bias", (JOINT,), [(f"audio_projection.{z}.bias", None)])
    add("audio_transform.sequential.0.weight", (JOINT, JOINT), [])
    add("logit_scale_a", (), [])
    return sd, pairs


def test_every_official_tensor_lands_where_the_table_says():
    from transformers import ClapAudioConfig, ClapAudioModelWithProjection

    sd, pairs = official_htsat(torch.Generator().manual_seed(0))
    assert cak.absent_reason(sd) == ""
    cfg, out = cak.clap_audio(sd)
    model = ClapAudioModelWithProjection(ClapAudioConfig(**cfg))
    model.load_state_dict(out, strict=True)  # nothing missing, nothing extra
    expected = {t for _, targets in pairs for t, _ in targets}
    assert set(out) == expected
    for orig, targets in pairs:
        for target, part in targets:
            want = sd[orig] if part is None else sd[orig][part]
            assert torch.equal(out[target], want), f"{orig} -> {target}"
    assert (cfg["depths"], cfg["num_attention_heads"], cfg["window_size"]) == ([2, 2], [1, 2], WINDOW)
    assert (cfg["spec_size"], cfg["num_mel_bins"], cfg["patch_stride"]) == (SPEC, MELS, [PATCH, PATCH])
    assert (cfg["hidden_size"], cfg["projection_dim"], cfg["mlp_ratio"]) == (16, JOINT, 4.0)
    assert cak.feature_extractor_config(cfg) == {
        "sampling_rate": 48_000, "fft_window_size": 1024, "hop_length": 480, "max_length_s": 10,
        "frequency_min": 50, "frequency_max": 14_000, "truncation": "rand_trunc", "padding": "repeatpad",
        "feature_size": MELS}


def test_split_qkv_attends_as_the_fused_original():
    """The thirds of qkv are query, key, value in that order, heads contiguous (htsat.py's reshape)."""
    from transformers import ClapAudioConfig, ClapAudioModelWithProjection

    sd, _ = official_htsat(torch.Generator().manual_seed(1))
    cfg, out = cak.clap_audio(sd)
    model = ClapAudioModelWithProjection(ClapAudioConfig(**cfg)).eval()
    model.load_state_dict(out, strict=True)
    o = P + "audio_branch.layers.1.blocks.0.attn."
    w, bias, table = sd[o + "qkv.weight"], sd[o + "qkv.bias"], sd[o + "relative_position_bias_table"]
    x = torch.randn(3, WINDOW ** 2, w.shape[1], generator=torch.Generator().manual_seed(2))
    heads, n, c = HEADS[1], WINDOW ** 2, w.shape[1]
    qkv = (x @ w.T + bias).reshape(3, n, 3, heads, c // heads).permute(2, 0, 3, 1, 4)
    q, k, v = qkv[0] * (c // heads) ** -0.5, qkv[1], qkv[2]
    rel = table[swin_index(WINDOW).view(-1)].view(n, n, -1).permute(2, 0, 1)
    want = ((q @ k.transpose(-2, -1) + rel).softmax(-1) @ v).transpose(1, 2).reshape(3, n, c)
    attn = model.audio_model.audio_encoder.layers[1].blocks[0].attention.self
    with torch.no_grad():
        got = attn(x)[0]
    assert torch.allclose(got, want, atol=1e-5)


def test_absent_fused_and_broken_branches():
    sd, _ = official_htsat(torch.Generator().manual_seed(3))
    text_only = {k: v for k, v in sd.items() if "audio_branch.patch_embed" not in k}
    assert "no CLAP audio branch" in cak.absent_reason(text_only)
    assert "no projection" in cak.absent_reason({k: v for k, v in sd.items() if "audio_projection" not in k})
    fused, _ = official_htsat(torch.Generator().manual_seed(3), fused=True)
    assert "fused HTSAT" in cak.absent_reason(fused)
    bad = dict(sd)
    bad[P + "audio_projection.0.weight"] = torch.zeros(JOINT, 24)
    with pytest.raises(MappingError, match="audio_projection.0 takes 24"):
        cak.clap_audio(bad)
    with pytest.raises(MappingError, match="absent"):
        cak.clap_audio({})
