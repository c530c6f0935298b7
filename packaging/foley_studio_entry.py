"""Entry script of the PyInstaller bundle: `foley-studio COMMAND ...`, as the installed CLI.

`foley-studio gui [FILE]` opens the editor from the same executable, so the bundle has
one program for the command line and the desktop file. The same program is also the
motion engine's worker process (`--motion-worker`, started by the engine itself on long
clips): a frozen app has no interpreter to run `-m` with.
"""

import multiprocessing
import sys

from foley_studio.cli import main
from foley_studio.engines.video2rms import motion_worker

if __name__ == "__main__":
    multiprocessing.freeze_support()  # a frozen child process must not rerun the CLI
    if sys.argv[1:2] == [motion_worker.WORKER_ARG]:
        sys.exit(motion_worker.main())
    sys.exit(main())
