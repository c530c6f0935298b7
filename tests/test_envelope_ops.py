import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from foley_studio.core import envelope_ops as ops

SETTINGS = settings(max_examples=60, deadline=None)

levels = st.floats(0.0, 1.0, width=32)
envelopes = arrays(np.float32, st.integers(1, 80), elements=levels)


@st.composite
def env_and_span(draw):
    v = draw(envelopes)
    a = draw(st.integers(0, len(v)))
    b = draw(st.integers(a, len(v)))
    return v, (a, b)


def outside_same(a, b, span):
    s, e = span
    return np.array_equal(a[:s], b[:s]) and np.array_equal(a[e:], b[e:])


SPAN_OPS = [
    lambda v, sp: ops.scale(v, sp, 1.7),
    lambda v, sp: ops.scale_db(v, sp, -6.0),
    lambda v, sp: ops.smooth(v, sp, 5),
    lambda v, sp: ops.gate(v, sp, 0.3),
    lambda v, sp: ops.erase(v, sp),
]


# --- properties --------------------------------------------------------------------------


@SETTINGS
@given(env_and_span(), st.sampled_from(range(len(SPAN_OPS))))
def test_span_ops_leave_outside_untouched_and_stay_in_range(vs, which):
    v, span = vs
    before = v.copy()
    out = SPAN_OPS[which](v, span)
    assert np.array_equal(v, before)  # input never modified
    assert out is not v and out.dtype == np.float32 and out.shape == v.shape
    assert outside_same(out, v, span)
    assert np.all((out >= 0) & (out <= 1))


@SETTINGS
@given(env_and_span(), st.floats(0.1, 10.0))
def test_scale_then_inverse_restores_where_not_clipped(vs, k):
    v, span = vs
    back = ops.scale(ops.scale(v, span, k), span, 1.0 / k)
    a, b = span
    unclipped = v[a:b] * k <= 1.0
    np.testing.assert_allclose(back[a:b][unclipped], v[a:b][unclipped], rtol=1e-6, atol=1e-12)


@SETTINGS
@given(env_and_span(), st.floats(0.0, 1.0))
def test_gate_leaves_nothing_below_threshold(vs, t):
    v, (a, b) = vs
    seg = ops.gate(v, (a, b), t)[a:b]
    assert np.all((seg == 0) | (seg >= np.float32(t)))


@SETTINGS
@given(env_and_span())
def test_erase_zeroes_span(vs):
    v, (a, b) = vs
    out = ops.erase(v, (a, b))
    assert not out[a:b].any() and outside_same(out, v, (a, b))


@SETTINGS
@given(env_and_span(), st.integers(-100, 100))
def test_shift_preserves_content_when_nothing_is_pushed_out(vs, off):
    v, (a, b) = vs
    out = ops.shift(v, (a, b), off)
    if 0 <= a + off and b + off <= len(v):
        np.testing.assert_array_equal(out[a + off : b + off], v[a:b])
        # moved content plus what stayed outside source and destination
        rest = np.ones(len(v), bool)
        rest[a:b] = False
        rest[a + off : b + off] = False
        assert math.isclose(out.sum(dtype=np.float64),
                            v[a:b].sum(dtype=np.float64) + v[rest].sum(dtype=np.float64),
                            rel_tol=1e-9, abs_tol=1e-9)
    touched = (min(a, a + off), max(b, b + off))
    assert outside_same(out, v, (max(touched[0], 0), min(touched[1], len(v))))


@SETTINGS
@given(env_and_span())
def test_paste_of_copy_is_identity(vs):
    v, (a, b) = vs
    clip = ops.copy(v, (a, b))
    assert np.array_equal(ops.paste(v, a, clip), v)
    assert np.array_equal(ops.paste(v, a, clip, mode="max"), v)


@SETTINGS
@given(envelopes, st.data())
def test_span_of_change_is_exact(v, data):
    other = v.copy()
    idx = data.draw(st.lists(st.integers(0, len(v) - 1), max_size=5))
    for i in idx:
        other[i] = np.float32(1.0) - other[i] if other[i] != 0.5 else 0.0
    span = ops.span_of_change(v, other)
    changed = np.flatnonzero(v != other)
    if len(changed) == 0:
        assert span is None
    else:
        assert span == (changed[0], changed[-1] + 1)
        assert outside_same(v, other, span)
        assert v[span[0]] != other[span[0]] and v[span[1] - 1] != other[span[1] - 1]


@SETTINGS
@given(envelopes, st.integers(0, 79), levels, st.integers(1, 5), st.floats(0.0, 0.5))
def test_insert_hit_only_raises_levels(v, frame, peak, attack, decay):
    frame = frame % len(v)
    out = ops.insert_hit(v, frame, peak, attack_frames=attack, decay_s=decay)
    assert np.all(out >= v) and np.all(out <= 1)
    assert np.array_equal(out[:frame], v[:frame])


# --- hand-computed cases -----------------------------------------------------------------


def test_scale_and_clamp():
    v = np.array([0.1, 0.2, 0.6, 0.4], np.float32)
    np.testing.assert_allclose(ops.scale(v, (1, 3), 2.0), [0.1, 0.4, 1.0, 0.4], rtol=1e-6)


def test_scale_db_is_amplitude():
    v = np.full(3, 0.1, np.float32)
    np.testing.assert_allclose(ops.scale_db(v, (0, 3), 20.0), [1.0, 1.0, 1.0], rtol=1e-6)
    np.testing.assert_allclose(ops.scale_db(v, (0, 3), -20.0), [0.01] * 3, rtol=1e-5)


def test_draw_and_resampled_draw():
    v = np.zeros(6, np.float32)
    np.testing.assert_allclose(ops.draw(v, 4, [0.5, 0.6, 0.7]), [0, 0, 0, 0, 0.5, 0.6], rtol=1e-6)
    out = ops.draw(v, 1, [0.0, 1.0], length=4)
    assert out[0] == 0 and out[5] == 0
    assert np.all(np.diff(out[1:5]) >= 0) and out[1] == 0 and out[4] == 1
    np.testing.assert_array_equal(ops.draw(v, 0, [2.0, -1.0]), [1, 0, 0, 0, 0, 0])


def test_draw_points_polyline_and_doubling_back():
    v = np.full(10, 0.9, np.float32)
    out = ops.draw_points(v, [2, 6], [0.0, 0.4])
    np.testing.assert_allclose(out, [0.9, 0.9, 0, 0.1, 0.2, 0.3, 0.4, 0.9, 0.9, 0.9], atol=1e-7)
    out = ops.draw_points(np.zeros(10, np.float32), [1, 5, 3], [0, 1, 0])
    np.testing.assert_allclose(out, [0, 0, 0.25, 0, 0.5, 1, 0, 0, 0, 0])
    # fractional mouse positions round to frames; points past the end are dropped
    out = ops.draw_points(np.zeros(4, np.float32), [2.6, 10.0], [0.5, 0.5])
    np.testing.assert_allclose(out, [0, 0, 0, 0.5])
    np.testing.assert_allclose(ops.draw_points(np.zeros(3, np.float32), [1.2], [0.7]), [0, 0.7, 0])


def test_shift_hand_case():
    v = np.array([0, 0.1, 0.2, 0.3, 0, 0], np.float32)
    np.testing.assert_array_equal(ops.shift(v, (1, 4), 2), np.array([0, 0, 0, 0.1, 0.2, 0.3], np.float32))
    np.testing.assert_array_equal(ops.shift(v, (1, 4), -2), np.array([0.2, 0.3, 0, 0, 0, 0], np.float32))
    # overlap: destination wins over the silenced source
    np.testing.assert_array_equal(ops.shift(v, (1, 4), 1), np.array([0, 0, 0.1, 0.2, 0.3, 0], np.float32))


def test_gate_hand_case():
    v = np.array([0.05, 0.2, 0.09, 0.5], np.float32)
    np.testing.assert_array_equal(ops.gate(v, (0, 3), 0.1), np.array([0, 0.2, 0, 0.5], np.float32))
    assert np.array_equal(ops.gate(v, (0, 4), -1.0), v)  # a threshold below 0 gates nothing
    np.testing.assert_array_equal(ops.gate(v, (0, 4), 2.0), np.zeros(4, np.float32))


def test_integral_floats_are_frame_counts():
    v = np.zeros(20, np.float32)
    v[10] = 1.0
    assert np.array_equal(ops.smooth(v, (0, 20), 5.0), ops.smooth(v, (0, 20), 5))
    assert np.array_equal(ops.erase(v, (np.int64(8), 12.0)), np.zeros(20, np.float32))


def test_smooth_has_no_step_at_the_span_edges():
    v = np.zeros(60, np.float32)
    v[30] = 1.0  # a spike inside, flat zero outside
    out = ops.smooth(v, (20, 40), 9)
    assert out[30] < 0.5 and abs(out.sum() - 1.0) < 0.2
    assert out[20] < 0.05 and out[39] < 0.05  # edge frames barely moved
    flat = np.full(50, 0.4, np.float32)
    np.testing.assert_allclose(ops.smooth(flat, (10, 40), 7), flat, atol=1e-7)
    # width 0/1 is a no-op
    assert np.array_equal(ops.smooth(v, (0, 60), 1), v)


def test_insert_hit_shape():
    out = ops.insert_hit(np.zeros(100, np.float32), 10, 0.8, attack_frames=2, decay_s=0.1)
    assert out[9] == 0 and out[10] == pytest.approx(0.4) and out[11] == pytest.approx(0.8)
    tau = 0.1 * 125
    assert out[11 + 5] == pytest.approx(0.8 * math.exp(-5 / tau), rel=1e-5)
    # combined with existing by max
    base = np.full(100, 0.5, np.float32)
    hit = ops.insert_hit(base, 10, 0.8)
    assert hit[10] == pytest.approx(0.8) and hit[99] == 0.5 and hit[9] == 0.5
    assert ops.insert_hit(base, 10, 3.0).max() == 1.0  # a peak above full scale is clipped


def test_paste_modes_and_truncation():
    v = np.array([0.2, 0.2, 0.2, 0.2], np.float32)
    np.testing.assert_allclose(ops.paste(v, 2, [0.1, 0.9, 0.9]), [0.2, 0.2, 0.1, 0.9])
    np.testing.assert_allclose(ops.paste(v, 2, [0.1, 0.9], mode="max"), [0.2, 0.2, 0.2, 0.9])


def test_span_clamping():
    v = np.full(5, 0.5, np.float32)
    np.testing.assert_array_equal(ops.erase(v, (-3, 2)), [0, 0, 0.5, 0.5, 0.5])
    np.testing.assert_array_equal(ops.erase(v, (3, 99)), [0.5, 0.5, 0.5, 0, 0])
    assert np.array_equal(ops.erase(v, (7, 9)), v)


def test_span_of_change_cases():
    a = np.zeros(5, np.float32)
    assert ops.span_of_change(a, a.copy()) is None
    b = a.copy()
    b[1] = b[3] = 1
    assert ops.span_of_change(a, b) == (1, 4)
    with pytest.raises(ValueError, match="equal-length"):
        ops.span_of_change(a, np.zeros(4))


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda v: ops.scale(v, (3, 1), 2.0), "start 3 is after its end 1"),
        (lambda v: ops.scale(v, (0, 2), float("nan")), "scale factor must be a finite number"),
        (lambda v: ops.scale(v, (0, 2), -1.0), "scale factor must be >= 0"),
        (lambda v: ops.scale_db(v, (0, 2), float("inf")), "gain in dB must be a finite"),
        (lambda v: ops.smooth(v, (0, 2), -3), "smoothing width must be >= 0"),
        (lambda v: ops.smooth(v, (0, 2), 2.5), "smoothing width must be an integer"),
        (lambda v: ops.gate(v, (0, 2), float("nan")), "gate threshold must be a finite number"),
        (lambda v: ops.erase(v, (0.5, 2)), "span start must be an integer"),
        (lambda v: ops.erase(v, ("0", 2)), "span start must be an integer"),
        (lambda v: ops.erase(v, 3), "span must be a (start, end) pair"),
        (lambda v: ops.insert_hit(v, 10, 0.5), "hit frame 10 is outside"),
        (lambda v: ops.insert_hit(v, 1, -0.5), "hit peak must be >= 0"),
        (lambda v: ops.insert_hit(v, 1, 0.5, attack_frames=0), "attack must be at least 1"),
        (lambda v: ops.insert_hit(v, 1, 0.5, decay_s=-1), "decay time must be within"),
        (lambda v: ops.paste(v, 0, [0.1], mode="add"), 'paste mode must be "replace" or "max"'),
        (lambda v: ops.paste(v, 9, [0.1]), "paste position 9 is outside"),
        (lambda v: ops.draw(v, 0, [0.1, float("nan")]), "stroke has NaN"),
        (lambda v: ops.draw_points(v, [0, 1], [0.5]), "2 frames but 1 levels"),
        (lambda v: ops.shift(v, (0, 2), 1.5), "shift offset must be an integer"),
    ],
)
def test_bad_arguments_say_what_is_wrong(call, message):
    with pytest.raises(ValueError) as info:
        call(np.full(5, 0.5, np.float32))
    assert message in str(info.value)


def test_importing_the_edit_operations_does_not_load_scipy():
    """scipy.ndimage costs ~0.5 s of the editor's start-up; only the first smooth may pay it."""
    import subprocess
    import sys

    code = ("import sys, numpy as np\n"
            "import foley_studio.core.envelope_ops as ops\n"
            "assert 'scipy' not in sys.modules, 'scipy loaded at import'\n"
            "ops.smooth(np.ones(50, np.float32), (5, 30), 5)\n"
            "assert 'scipy.ndimage' in sys.modules\n")
    subprocess.run([sys.executable, "-c", code], check=True)
