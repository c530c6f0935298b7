"""Entry script of the PyInstaller bundle: `foley-studio COMMAND ...`, as the installed CLI.

`foley-studio gui [FILE]` opens the editor from the same executable, so the bundle has
one program for the command line and the desktop file.
"""

import multiprocessing
import sys

from foley_studio.cli import main

if __name__ == "__main__":
    multiprocessing.freeze_support()  # a frozen child process must not rerun the CLI
    sys.exit(main())
