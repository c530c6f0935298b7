"""Training on the user's own media (`foley-studio train ...`).

Kept import-light: the CLI builds its parser from training.cli without loading numpy,
OpenCV or torch; trainers import those when they run.
"""

VIDEO2RMS_DEFAULT_EPOCHS = 30
