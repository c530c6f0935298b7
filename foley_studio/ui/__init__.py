"""The Qt editor (DESIGN.md, "ui/"): the only package that imports PySide6, pyqtgraph,
superqt and sounddevice.

Importing this package imports nothing from Qt, so `foley_studio.ui.cli_hook` can be
used by the headless CLI; Qt loads when a module below (app, main_window, ...) does.
"""
