"""The ensemble report needs captions (its members' multimodal mappers, the text recall): a
caption-less dataset (every nf2vec tree) is refused with one line before any member trains."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from clip2nerf.errors import UserError
from clip2nerf.evaluation.ensemble import own_member, prepare_member


def test_a_caption_less_dataset_is_refused_before_training():
    art = SimpleNamespace(captions=None)
    with pytest.raises(UserError, match="no captions"):
        own_member(art)
    # refused before anything else is read: the paths and config are never touched
    with pytest.raises(UserError, match="no captions"):
        prepare_member(art, paths=None, m=1, cfg=None, train_nf2vec=None)
