"""Procedural ShapeNet-like objects (13 classes), their ray-cast renders, and the dataset writer."""

from clip2nerf.data.synth.camera import CameraConfig, backproject, look_at, project
from clip2nerf.data.synth.classes import CLASSES, make_object
from clip2nerf.data.synth.objects import SynthObject
from clip2nerf.data.synth.presets import list_presets, load_preset
from clip2nerf.data.synth.preview import contact_sheet, write_contact_sheet
from clip2nerf.data.synth.render import MeshRenderer
from clip2nerf.data.synth.writer import (
    SynthConfig,
    SynthReport,
    generate_dataset,
    object_id,
    render_object,
)

__all__ = [
    "CLASSES", "CameraConfig", "MeshRenderer", "SynthConfig", "SynthObject", "SynthReport",
    "backproject", "contact_sheet", "generate_dataset", "list_presets", "load_preset", "look_at",
    "make_object", "object_id", "project", "render_object", "write_contact_sheet",
]
