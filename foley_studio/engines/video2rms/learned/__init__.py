"""The `learned` Video2RMS engine and its parts (features, labels, checkpoint format).

Nothing imported here loads torch; network.py and weights.py do, and are imported only
inside the methods that run the network.
"""

from foley_studio.engines.video2rms.learned.engine import LearnedEngine

__all__ = ["LearnedEngine"]
