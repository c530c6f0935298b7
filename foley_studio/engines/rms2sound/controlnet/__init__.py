"""The `controlnet` RMS2Sound engine (AudioLDM-S + Video-Foley RMS-ControlNet, diffusers).

Registry target: "foley_studio.engines.rms2sound.controlnet.engine:ControlNetEngine".
Importing this package (or engine.py) never imports torch; model.py and sampler.py do,
and load only when a render needs them.
"""


def __getattr__(name: str):
    if name == "ControlNetEngine":
        from foley_studio.engines.rms2sound.controlnet.engine import ControlNetEngine

        return ControlNetEngine
    raise AttributeError(name)
