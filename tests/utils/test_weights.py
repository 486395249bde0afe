import pytest
import torch
from safetensors.torch import save_file

from clip2nerf.errors import UserError
from clip2nerf.utils.weights import load_checked_state_dict


def _expected():
    return {"w": torch.zeros(2, 3), "n": torch.zeros((), dtype=torch.int64)}


def test_accepts_matching_weights(tmp_path):
    save_file({"w": torch.ones(2, 3), "n": torch.tensor(4)}, str(tmp_path / "m.safetensors"))
    state = load_checked_state_dict(tmp_path / "m.safetensors", _expected(), "test model")
    assert state["w"].sum() == 6 and int(state["n"]) == 4


@pytest.mark.parametrize("tensors,message", [
    ({"w": torch.ones(3, 2), "n": torch.tensor(0)}, "shape"),
    ({"w": torch.ones(2, 3, dtype=torch.float64), "n": torch.tensor(0)}, "float64"),
    ({"w": torch.full((2, 3), float("nan")), "n": torch.tensor(0)}, "NaN"),
    ({"w": torch.ones(2, 3)}, "missing"),
])
def test_refuses_mismatches(tmp_path, tensors, message):
    path = tmp_path / "m.safetensors"
    save_file(tensors, str(path))
    with pytest.raises(UserError, match=message):
        load_checked_state_dict(path, _expected(), "test model")


def test_missing_and_corrupt_files(tmp_path):
    with pytest.raises(UserError, match="not found"):
        load_checked_state_dict(tmp_path / "none.safetensors", _expected(), "test model")
    (tmp_path / "bad.safetensors").write_bytes(b"not safetensors")
    with pytest.raises(UserError, match="corrupt test model"):
        load_checked_state_dict(tmp_path / "bad.safetensors", _expected(), "test model")
