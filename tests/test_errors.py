"""Every FoleyError prints as one line, even when a file name or a quoted library message
holds line breaks."""

from hypothesis import given
from hypothesis import strategies as st

from foley_studio.core.errors import FoleyError, MediaError


@given(message=st.text(max_size=40), path=st.none() | st.text(min_size=1, max_size=40))
def test_messages_are_one_line(message, path):
    text = str(MediaError(message, path))
    assert "\n" not in text and "\r" not in text
    if path is not None and "\n" not in path and "\r" not in path:
        assert text.startswith(path + ": ")


def test_line_breaks_are_shown_escaped_not_dropped():
    assert str(FoleyError("cannot\nread", "/clips/a\nb.mp4")) == "/clips/a\\nb.mp4: cannot\\nread"


def test_errors_survive_pickling_whole():
    # errors raised in worker processes (motion_segments.py) cross back by pickle
    import pickle

    from foley_studio.core.errors import EngineError, MediaError

    err = pickle.loads(pickle.dumps(MediaError("damaged video data after 3.00 s", "/clips/a.mp4")))
    assert type(err) is MediaError
    assert (err.path, err.problem) == ("/clips/a.mp4", "damaged video data after 3.00 s")
    assert str(err) == "/clips/a.mp4: damaged video data after 3.00 s"
    plain = pickle.loads(pickle.dumps(EngineError("no weights")))
    assert (plain.path, str(plain)) == (None, "no weights")
