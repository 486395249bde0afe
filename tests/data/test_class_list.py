"""One class list and one prompt template (clip2nerf.classes), shared by synth, the ShapeNet
reader, classification and the offline VLM."""

import os
import subprocess
import sys
from pathlib import Path

from clip2nerf.classes import CLASS_SYNSETS, CLASSES, SYNSET_TO_CLASS, ZERO_SHOT_TEMPLATE


def test_synth_grammars_follow_the_class_list_in_order():
    from clip2nerf.data.synth.classes import CLASS_BUILDERS

    # The order seeds every synth object: it must not drift from the shared list.
    assert tuple(CLASS_BUILDERS) == CLASSES and len(CLASSES) == 13
    assert all(SYNSET_TO_CLASS[CLASS_SYNSETS[c]] == c for c in CLASSES)


def test_template_is_the_one_everywhere():
    from clip2nerf.apps import DEFAULT_TEMPLATE
    from clip2nerf.evaluation.config import EvalConfig
    from clip2nerf.vlm import ZERO_SHOT_TEMPLATE as VLM_TEMPLATE

    assert ZERO_SHOT_TEMPLATE.format("chair") == "a 3d model of a chair"
    assert DEFAULT_TEMPLATE == VLM_TEMPLATE == EvalConfig().template == ZERO_SHOT_TEMPLATE


def test_classify_lists_classes_without_loading_synth():
    code = ("import sys; from clip2nerf.apps.classify import default_classes; "
            "assert len(default_classes()) == 13; "
            "bad = {'trimesh', 'torch', 'clip2nerf.data.synth'} & set(sys.modules); "
            "assert not bad, bad")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[2] / "src")}
    subprocess.run([sys.executable, "-c", code], check=True, env=env)
