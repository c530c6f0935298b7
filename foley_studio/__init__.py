"""Foley Studio: loudness envelopes from the picture, sound that follows them.

Importing the package is cheap on purpose: no torch, no Qt. Those load inside the
engines and the UI that need them.
"""

__version__ = "0.1.0"
