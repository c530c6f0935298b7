"""Engines: Video2RMS (picture -> envelope) and RMS2Sound (envelope + prompt -> audio)."""
