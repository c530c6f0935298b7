"""Nothing loaded from a project, a weights file or a training cache runs code.

Each crafted file below would create a marker file if anything unpickled it the unsafe
way (its __reduce__ calls os.system, exec or open). Every loader must refuse it with one
clear line naming the file, and the marker must never appear. A scan of the source tree
keeps unsafe loading calls from coming back.
"""

import ast
import builtins
import json
import os
import pickle
import re
import struct
import sys
import types
from pathlib import Path

import numpy as np
import pytest

from foley_studio.core.errors import EngineError, ProjectError
from foley_studio.core.project import load as load_project

ROOT = Path(__file__).resolve().parent.parent


def payloads(marker: Path) -> dict:
    """Objects whose unpickling would create `marker`, one per way of running code."""

    class System:
        def __reduce__(self):
            return (os.system, (f"touch '{marker}'",))

    class Exec:
        def __reduce__(self):
            return (builtins.exec, (f"open({str(marker)!r}, 'w').close()",))

    class Open:
        def __reduce__(self):
            return (builtins.open, (str(marker), "w"))

    return {"os.system": System(), "exec": Exec(), "open": Open()}


def one_line_naming(exc: BaseException, path) -> str:
    text = str(exc)
    assert "\n" not in text and os.fspath(path) in text, text
    return text


# --- pickled PyTorch checkpoints (convert-weights' loader) -----------------------------------

torch = pytest.importorskip("torch")
from foley_studio.engines.weights import torch_load_tensors  # noqa: E402


@pytest.mark.parametrize("zipped", [True, False], ids=["zip", "legacy"])
@pytest.mark.parametrize("how", ["os.system", "exec", "open"])
def test_torch_checkpoint_that_runs_code_is_refused(tmp_path, how, zipped):
    marker = tmp_path / "ran"
    path = tmp_path / ("evil.ckpt" if zipped else "evil.pth")
    evil = {"state_dict": {"w": torch.zeros(2), "payload": payloads(marker)[how]}}
    torch.save(evil, path, _use_new_zipfile_serialization=zipped)
    with pytest.raises(EngineError) as info:
        torch_load_tensors(path)
    text = one_line_naming(info.value, path)
    assert "refused to load: " in text and " when unpickled" in text, text  # says what it wanted
    assert "Check the documentation" not in text and not marker.exists()


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
@pytest.mark.parametrize("protocol", [0, 2, 4, 5])
def test_plain_pickle_named_as_a_checkpoint_is_refused(tmp_path, protocol):
    marker = tmp_path / "ran"
    path = tmp_path / "model.ckpt"
    path.write_bytes(pickle.dumps({"w": payloads(marker)["os.system"]}, protocol=protocol))
    with pytest.raises(EngineError) as info:
        torch_load_tensors(path)
    one_line_naming(info.value, path)
    assert not marker.exists()


def test_stubbed_bookkeeping_names_are_never_resolved(tmp_path, monkeypatch):
    """Lightning checkpoints may name numpy/omegaconf classes; they become inert stubs, so a
    pickle that hides a function under such a name still runs nothing."""
    marker = tmp_path / "ran"
    fake = types.ModuleType("numpy.evil_helpers")

    def system(command):  # what a real import of the name would call
        os.system(command)

    system.__module__, system.__qualname__ = fake.__name__, "system"
    fake.system = system
    monkeypatch.setitem(sys.modules, fake.__name__, fake)

    class Hidden:
        def __reduce__(self):
            return (system, (f"touch '{marker}'",))

    path = tmp_path / "lightning.ckpt"
    torch.save({"state_dict": {"w": torch.ones(3)}, "hyper_parameters": Hidden()}, path)
    tensors = torch_load_tensors(path)  # the weights load, the bookkeeping is dropped
    assert list(tensors) == ["w"] and torch.equal(tensors["w"], torch.ones(3))
    assert not marker.exists()


# --- Video2RMS checkpoints: safetensors only -------------------------------------------------

def safetensors_with_header(path: Path, header: bytes) -> Path:
    path.write_bytes(struct.pack("<Q", len(header)) + header)
    return path


def test_learned_engine_refuses_pickles_and_crafted_headers(tmp_path):
    from foley_studio.engines.video2rms.learned.checkpoint import ModelConfig, read_config
    from foley_studio.engines.video2rms.learned.engine import LearnedEngine

    marker = tmp_path / "ran"
    for name in ("video2rms.safetensors", "model.ckpt"):
        path = tmp_path / name
        torch.save({"w": payloads(marker)["os.system"]}, path)
        ok, why = LearnedEngine(weights=str(path)).available()
        assert not ok and "not a safetensors file" in why and "\n" not in why
    folder = tmp_path / "folder"  # a weights folder resolves to folder/video2rms.safetensors
    folder.mkdir()
    (folder / "video2rms.safetensors").write_bytes(pickle.dumps(payloads(marker)["open"]))
    with pytest.raises(EngineError, match="not a safetensors file"):
        LearnedEngine(weights=str(folder)).predict(None)
    assert not marker.exists()

    meta = {"format": "foley-studio.video2rms"}
    crafted = {
        "deep nesting": b"[" * 100_000,
        "metadata not a table": json.dumps({"__metadata__": [1]}).encode(),
        "metadata values not text": json.dumps({"__metadata__": {"format": 1}}).encode(),
        "config of a giant network": json.dumps({"__metadata__": dict(
            meta, config=json.dumps(dict(ModelConfig().as_dict(), hidden=10**9)))}).encode(),
        "config with text numbers": json.dumps({"__metadata__": dict(
            meta, config=json.dumps(dict(ModelConfig().as_dict(), conv_layers="3")))}).encode(),
        "config nested deep": json.dumps({"__metadata__": dict(meta, config="[" * 100_000)}).encode(),
    }
    for case, header in crafted.items():
        path = safetensors_with_header(tmp_path / "crafted.safetensors", header)
        with pytest.raises(EngineError) as info:
            read_config(str(path))
        one_line_naming(info.value, path)


# --- project files and training caches -------------------------------------------------------

@pytest.mark.parametrize("protocol", [0, 4])
def test_pickle_given_as_a_project_is_refused(tmp_path, protocol):
    marker = tmp_path / "ran"
    path = tmp_path / "scene.foley"
    path.write_bytes(pickle.dumps(payloads(marker)["os.system"], protocol=protocol))
    with pytest.raises(ProjectError) as info:
        load_project(path)
    assert "not UTF-8 text" in str(info.value) or "not valid JSON" in str(info.value)
    one_line_naming(info.value, path)
    assert not marker.exists()


def test_training_cache_with_an_object_array_is_not_unpickled(tmp_path):
    from foley_studio.training.video2rms_data import _read_cache

    marker = tmp_path / "ran"
    path = tmp_path / "cache.npz"
    evil = np.array([payloads(marker)["os.system"]], dtype=object)
    np.savez(path, key=np.array("k"), features=evil, rms=evil, target=evil, classes=evil)
    assert _read_cache(str(path), "k") is None  # treated as damaged: recomputed
    assert not marker.exists()
    path.write_bytes(pickle.dumps(payloads(marker)["open"]))  # a bare pickle named .npz
    assert _read_cache(str(path), "k") is None
    assert not marker.exists()


# --- the source tree -------------------------------------------------------------------------

def python_sources():
    for folder in ("foley_studio", "scripts", "packaging"):
        yield from sorted((ROOT / folder).rglob("*.py"))


def calls(tree: ast.AST):
    """(dotted callee, keyword arguments, line) of every call."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            name = ast.unparse(node.func)
            kw = {k.arg: ast.unparse(k.value) for k in node.keywords if k.arg}
            yield name, kw, node.lineno


UNSAFE_MODULES = {"pickle", "cPickle", "dill", "joblib", "shelve", "marshal", "cloudpickle"}


def unsafe_loading(source: str, rel: str) -> list[str]:
    problems = []
    tree = ast.parse(source)
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            problems += [f"{rel}:{node.lineno}: imports {n}" for n in names
                         if n.split(".")[0] in UNSAFE_MODULES]
    for name, kw, line in calls(tree):
        where = f"{rel}:{line}: {name}("
        if name in ("eval", "exec", "compile", "__import__"):  # builtins, not model.eval()
            problems.append(where + ") runs code")
        if name.endswith("torch.load") and kw.get("weights_only") != "True":
            problems.append(where + ") without weights_only=True")
        if re.fullmatch(r"(np|numpy)\.load", name) and kw.get("allow_pickle") != "False":
            problems.append(where + ") without allow_pickle=False")
        if kw.get("allow_pickle") == "True" or kw.get("trust_remote_code") == "True":
            problems.append(where + ") allows code from a file")
        if name.endswith("yaml.load") and "SafeLoader" not in kw.get("Loader", ""):
            problems.append(where + ") without SafeLoader")
    return problems


def test_source_tree_has_no_unsafe_loading():
    problems = []
    for path in python_sources():
        problems += unsafe_loading(path.read_text(encoding="utf-8"), str(path.relative_to(ROOT)))
    assert not problems, "\n".join(problems)


def test_the_scan_catches_what_it_looks_for():
    bad = ["import pickle", "from dill import loads", "eval('1')", "exec('x=1')", "torch.load(p)",
           "torch.load(p, weights_only=False)", "np.load(p)", "np.load(p, allow_pickle=True)",
           "m.from_pretrained(p, trust_remote_code=True)", "yaml.load(s)"]
    for line in bad:
        assert unsafe_loading(line, "x.py"), line
    fine = ["model.eval()", "app.exec()", "torch.load(p, map_location='cpu', weights_only=True)",
            "np.load(p, allow_pickle=False)", "yaml.load(s, Loader=yaml.SafeLoader)"]
    for line in fine:
        assert not unsafe_loading(line, "x.py"), line
