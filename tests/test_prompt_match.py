"""Prompt -> sound source: keyword matcher, embedding matcher, fallback, cache, blends."""

import numpy as np
import pytest

from foley_studio.engines.rms2sound import prompt_match
from foley_studio.engines.rms2sound.prompt_match import EMBEDDER, PromptMatcher, concepts
from foley_studio.engines.rms2sound.sources import Source, builtin_sources

OBVIOUS = {
    "footsteps on gravel": {"steps_gravel"},
    "heavy wooden door": {"door_slam"},
    "glass breaking": {"impact_glass"},
    "someone walking in the snow": {"steps_snow"},
    "a knife hitting a metal pan": {"impact_metal"},
    "crumpling a sheet of paper": {"paper"},
    "a campfire crackling": {"fire_crackle"},
    "car engine idling": {"engine_hum"},
    "dripping tap": {"water_drips"},
    "creaky door opening": {"door_creak"},
    "wind howling": {"wind"},
    "heavy rain": {"rain"},
    "splash into a pool": {"water_splash"},
    "walking on a wooden floor": {"steps_wood"},
    "a punch to the face": {"punch"},
}


@pytest.fixture(scope="module")
def candidates():
    return list(builtin_sources().values())


def _top(result):
    return result[0][0]


def _valid(result):
    assert 1 <= len(result) <= 2
    assert abs(sum(w for _, w in result) - 1.0) < 1e-9
    assert all(w > 0 for _, w in result)


@pytest.mark.parametrize("prompt", sorted(OBVIOUS))
def test_keyword_matcher_maps_obvious_prompts(candidates, prompt):
    result = PromptMatcher("keyword").match(prompt, candidates)
    _valid(result)
    assert _top(result) in OBVIOUS[prompt], result


def test_keyword_stems_and_synonyms():
    assert {"step", "gravel"} <= concepts("Footsteps on GRAVEL!")
    assert "slam" in concepts("slammed")
    assert "wind" in concepts("stormy")
    assert "glass" in concepts("a bottle shatters")


def test_unknown_or_empty_prompt_gets_the_default(candidates):
    matcher = PromptMatcher("keyword")
    assert matcher.match("", candidates) == [("impact_wood", 1.0)]
    assert matcher.match("qwzx vbnm", candidates) == [("impact_wood", 1.0)]


def test_close_scores_blend_the_top_two():
    srcs = [Source("a", "alpha", lambda r, s: None, lambda r, s, n: None),
            Source("b", "beta", lambda r, s: None, lambda r, s, n: None),
            Source("c", "gamma", lambda r, s: None, lambda r, s, n: None)]
    blended = prompt_match.blend(np.array([0.80, 0.79, 0.1]), srcs, close=0.04, soft=0.02)
    _valid(blended)
    assert [sid for sid, _ in blended] == ["a", "b"] and blended[0][1] > blended[1][1]
    assert prompt_match.blend(np.array([0.8, 0.5, 0.1]), srcs, close=0.04, soft=0.02) == [("a", 1.0)]


def test_results_are_cached_per_prompt(candidates, monkeypatch):
    matcher = PromptMatcher("keyword")
    first = matcher.match("glass breaking", candidates)
    monkeypatch.setattr(prompt_match, "keyword_scores", lambda *a: pytest.fail("not cached"))
    assert matcher.match("  Glass   breaking ", candidates) == first


def test_auto_falls_back_to_keywords_when_the_model_cannot_load(candidates, monkeypatch):
    def broken(*_):
        raise RuntimeError("no model here")

    monkeypatch.setattr(EMBEDDER, "embed", broken)
    matcher = PromptMatcher("auto")
    assert _top(matcher.match("footsteps on gravel", candidates)) == "steps_gravel"
    assert matcher.last_method == "keyword"


def test_a_matching_user_sample_wins(candidates):
    sample = Source("sample:gravel.wav:1234", "footsteps on gravel recorded in a park",
                    lambda r, s: None, lambda r, s, n: None)
    result = PromptMatcher("keyword").match("footsteps on gravel", candidates + [sample])
    assert _top(result) == sample.id


@pytest.fixture(scope="module")
def embedding_ready():
    try:
        EMBEDDER.load()
    except Exception as exc:
        pytest.skip(f"embedding model cannot load here: {exc}")


@pytest.mark.slow
@pytest.mark.parametrize("prompt", sorted(OBVIOUS))
def test_embedding_matcher_maps_obvious_prompts(embedding_ready, candidates, prompt):
    matcher = PromptMatcher("embedding")
    result = matcher.match(prompt, candidates)
    _valid(result)
    assert matcher.last_method == "embedding"
    assert OBVIOUS[prompt] & {sid for sid, _ in result}, result
