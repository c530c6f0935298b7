"""Qt-free, torch-free core: numpy, scipy, soundfile, soxr and PyAV only."""
