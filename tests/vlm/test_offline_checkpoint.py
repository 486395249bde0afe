"""An unreadable offline-VLM training checkpoint is one error line naming it, like the other
training loops' (``clip2nerf.utils.checkpoint``)."""

import pytest

from clip2nerf.errors import UserError
from clip2nerf.vlm.offline import OfflineVLMConfig
from clip2nerf.vlm.train_offline import OfflineTrainConfig, prepare_offline

TINY = OfflineVLMConfig(image_tower="cnn", image_size=16, channels=(4,), convs_per_stage=1)


def test_unreadable_checkpoint_is_one_error_line(fake_data, tmp_path, monkeypatch):
    from clip2nerf.utils.train_loop import TrainLoop

    tcfg = OfflineTrainConfig(epochs=2, batch_size=8, views_per_epoch=2, val_split=None)
    real = TrainLoop.save

    def save_then_die(loop, done):  # interrupted right after the first epoch's checkpoint
        real(loop, done)
        raise KeyboardInterrupt

    monkeypatch.setattr(TrainLoop, "save", save_then_die)
    with pytest.raises(KeyboardInterrupt):
        prepare_offline(fake_data, tmp_path / "m", TINY, tcfg, device="cpu", progress=False,
                        log=lambda m: None)
    monkeypatch.setattr(TrainLoop, "save", real)
    (ckpt,) = tmp_path.glob(".m.train-*/checkpoint.pt")
    ckpt.write_bytes(b"\x80\x02garbage")
    with pytest.raises(UserError, match="unreadable checkpoint.*delete it") as info:
        prepare_offline(fake_data, tmp_path / "m", TINY, tcfg, device="cpu", progress=False,
                        log=lambda m: None)
    assert str(ckpt) in str(info.value) and "\n" not in str(info.value)
