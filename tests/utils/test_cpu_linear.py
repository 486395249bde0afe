"""The inference linear: oneDNN where it can, addmm otherwise, the same numbers either way."""

import subprocess
import sys

import pytest
import torch

from clip2nerf.utils.cpu_linear import linear, onednn_linear_available


def _inputs(n=300, d_in=64, d_out=128, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(n, d_in, generator=g), torch.randn(d_out, d_in, generator=g) / 8,
            torch.randn(d_out, generator=g))


@pytest.mark.parametrize("relu", [False, True])
def test_equals_addmm_up_to_float32_rounding(relu):
    x, w, b = _inputs()
    ref = x.double() @ w.double().T + b.double()
    ref = ref.relu() if relu else ref
    with torch.no_grad():
        fast = linear(x, w, b, relu=relu)
        plain = linear(x, w, b, relu=relu, use_onednn=False)
    # 64 products of unit-scale terms: float32 sums agree to ~64 * 2^-24 * |terms|
    for got in (fast, plain):
        assert got.dtype == torch.float32 and got.shape == (300, 128)
        torch.testing.assert_close(got.double(), ref, rtol=1e-5, atol=1e-5)
    if relu:
        assert (fast >= 0).all()


def test_gradients_take_the_autograd_path():
    x, w, b = _inputs()
    w.requires_grad_(True)
    y = linear(x, w, b, relu=True)
    assert y.grad_fn is not None  # oneDNN's op has no backward: addmm was used
    y.sum().backward()
    assert w.grad is not None and torch.isfinite(w.grad).all()


def test_other_dtypes_fall_back():
    x, w, b = (t.double() for t in _inputs())
    with torch.no_grad():
        got = linear(x, w, b, relu=True)
    assert got.dtype == torch.float64
    torch.testing.assert_close(got, torch.relu(x @ w.T + b))


def test_the_environment_switch_turns_onednn_off():
    code = ("from clip2nerf.utils.cpu_linear import onednn_linear_available as a; "
            "print(a())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={"CLIP2NERF_ONEDNN_LINEAR": "0", "PATH": ""}, check=True)
    assert out.stdout.strip() == "False"


def test_onednn_is_found_in_this_torch_build():
    # torch 2.13.0's CPU wheel (pinned) ships oneDNN: the fast path must not silently vanish.
    assert torch.backends.mkldnn.is_available()
    assert onednn_linear_available()


def test_onednn_disabled_takes_the_addmm_path_within_the_block():
    from clip2nerf.utils import cpu_linear

    x, w, b = _inputs()
    calls = []
    real = cpu_linear._OP
    cpu_linear._OP = lambda *a: calls.append(1) or real(*a)
    try:
        with torch.no_grad():
            with cpu_linear.onednn_disabled():
                linear(x, w, b)
            assert calls == []
            linear(x, w, b)
        assert calls == [1]
    finally:
        cpu_linear._OP = real
