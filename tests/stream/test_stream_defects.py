"""Regressions of the streamer's own defects: reused modules, a ReLU after a softplus of
negative beta, conditioning made under inference mode, inference mode left on after an
exception, stale weights after an in-place update, and wrong inputs."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from atrous import nn as ann
from atrous.errors import SpecError
from atrous.stream import stream


def _full(model: nn.Module, x: torch.Tensor, **kw: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return model(x, **kw)


def _streamed(s, x: torch.Tensor, **kw: torch.Tensor) -> torch.Tensor:
    parts = [s.push(x[:, :, :5], **kw), s.push(x[:, :, 5:6], **kw), s.push(x[:, :, 6:], **kw), s.flush()]
    return torch.cat(parts, 2)


def test_a_module_reused_in_a_sequential_is_applied_every_time() -> None:
    torch.manual_seed(0)
    relu = nn.ReLU()
    conv = ann.CausalConv1d(2, 2, 3, dilation=2)
    for model in (
        nn.Sequential(ann.CausalConv1d(2, 2, 3), relu, ann.CausalConv1d(2, 2, 3), relu),
        nn.Sequential(conv, nn.Tanh(), conv),  # a tied convolution
    ):
        model = model.eval().double()
        s = stream(model)
        x = torch.randn(1, 2, 30, dtype=torch.float64) - 0.5
        assert torch.allclose(_streamed(s, x), _full(model, x), atol=1e-12)
        s.reset()
        assert torch.allclose(torch.stack([s.step(x[:, :, t]) for t in range(30)], 2), _full(model, x), atol=1e-12)


def test_relu_after_softplus_with_negative_beta_is_kept() -> None:
    torch.manual_seed(1)
    model = nn.Sequential(ann.CausalConv1d(1, 2, 3), nn.Softplus(beta=-1.0), nn.ReLU()).eval().double()
    s = stream(model)
    x = torch.randn(1, 1, 20, dtype=torch.float64)
    got = torch.stack([s.step(x[:, :, t]) for t in range(20)], 2)
    assert torch.allclose(got, _full(model, x), atol=1e-12)


def test_conditioning_made_under_inference_mode() -> None:
    torch.manual_seed(2)
    wn = ann.WaveNet(1, 4, residual_channels=4, layers_per_cycle=3, cycles=1, global_cond_channels=3).eval()
    s = stream(wn, batch_size=2)
    with torch.inference_mode():
        g = torch.randn(2, 3)  # an inference tensor, as a speaker embedding usually is
    x = torch.randn(2, 1, 6)
    got = torch.stack([s.step(x[:, :, t], g=g) for t in range(6)], 2)
    assert torch.allclose(got, _full(wn, x, g=g.clone()), atol=1e-5)
    assert s.push(x, g=g).shape == (2, 4, 6)


def test_an_exception_inside_step_leaves_no_inference_mode_behind() -> None:
    tcn = ann.TCN(2, [3], kernel_size=2, dropout=0.0).eval()
    s = stream(tcn)
    assert s._fast is not None  # the generated step

    class Broken:  # the step's counter fails halfway through the body, as a bad kernel would
        @property
        def t(self) -> int:
            assert torch.is_inference_mode_enabled()  # inside the guard
            raise RuntimeError("boom")

    env = s._fast.env
    counter, env["_st"] = env["_st"], Broken()
    try:
        with pytest.raises(RuntimeError, match="boom") as info:
            s.step(torch.zeros(1, 2))
        kept = info.value.__traceback__  # a notebook or a logger keeps the traceback alive
        assert kept is not None
        assert not torch.is_inference_mode_enabled()
        w = torch.ones(2, requires_grad=True)
        (w * 2).sum().backward()  # autograd still works in the user's code
        assert w.grad is not None
    finally:
        env["_st"] = counter
    assert s.step(torch.zeros(1, 2)).shape == (1, 3)


def test_stale_weights_are_noticed() -> None:
    torch.manual_seed(3)
    model = nn.Sequential(ann.CausalConv1d(2, 2, 3), nn.ReLU(), nn.Conv1d(2, 2, 1)).eval()
    s = stream(model)
    x = torch.randn(1, 2, 12)
    s.push(x)
    with torch.no_grad():
        model[2].weight.mul_(3.0)  # in place, no refresh()
    s.reset()
    assert torch.allclose(s.push(x), _full(model, x), atol=1e-5)
    model[0].weight = nn.Parameter(torch.randn_like(model[0].weight))  # replaced
    s.reset()
    assert torch.allclose(s.push(x), _full(model, x), atol=1e-5)


def test_wrong_inputs_are_refused_in_one_line() -> None:
    tcn = ann.TCN(2, [3], kernel_size=2, dropout=0.0).eval()
    s = stream(tcn, batch_size=2)
    for bad, pattern in (
        (lambda: stream("model"), "torch.nn.Module"),
        (lambda: stream(tcn, batch_size=0), "batch_size"),
        (lambda: stream(tcn, sample_rate=-1), "sample_rate"),
        (lambda: s.push(torch.zeros(3, 2, 4)), "push"),
        (lambda: s.push(torch.zeros(2, 3, 4)), "push"),
        (lambda: s.step(torch.zeros(2, 3)), r"(B, C_in)"),
        (lambda: s.reset(torch.ones(3, dtype=torch.bool)), "mask"),
        (lambda: s.load_state_dict({"x": torch.zeros(1)}), "state_dict"),
        (lambda: s.generate(-1), "n must be"),
    ):
        with pytest.raises(SpecError) as info:
            bad()
        assert pattern in str(info.value) and "\n" not in str(info.value)


def test_lookahead_models_refuse_step_and_masks_but_push() -> None:
    model = nn.Sequential(nn.Conv1d(1, 1, 3, padding=1)).eval()
    s = stream(model)
    assert s.latency == 1
    with pytest.raises(SpecError, match="latency 1"):
        s.step(torch.zeros(1, 1))
    with pytest.raises(SpecError, match="reset\\(mask\\)"):
        s.reset(torch.ones(1, dtype=torch.bool))
    with pytest.raises(SpecError, match="generate"):
        s.generate(3)
    assert s.push(torch.zeros(1, 1, 4)).shape == (1, 1, 3)
    s.flush()
    with pytest.raises(SpecError, match="ended"):
        s.push(torch.zeros(1, 1, 4))
    s.reset()
    assert s.push(torch.zeros(1, 1, 4)).shape == (1, 1, 3)


def test_state_dict_of_the_generic_engine_round_trips() -> None:
    torch.manual_seed(5)
    model = nn.Sequential(
        nn.Conv1d(1, 2, 5, stride=2, padding=2), nn.ConvTranspose1d(2, 1, 4, stride=2, padding=1)
    ).eval()
    s = stream(model)
    x = torch.randn(1, 1, 40)
    a = s.push(x[:, :, :17])
    state = s.state_dict()
    b = torch.cat([s.push(x[:, :, 17:]), s.flush()], 2)
    s2 = stream(model)
    s2.load_state_dict(state)
    c = torch.cat([s2.push(x[:, :, 17:]), s2.flush()], 2)
    assert torch.equal(b, c)
    assert torch.allclose(torch.cat([a, b], 2), _full(model, x), atol=1e-5)
    other = stream(nn.Sequential(nn.Conv1d(1, 1, 3, padding=1)).eval())
    with pytest.raises(SpecError, match="does not belong to this streaming plan"):
        other.load_state_dict(state)


def test_latency_covers_every_phase_of_a_long_period() -> None:
    """A causal encoder-decoder with hop 512 times its outputs with a period of 512 samples;
    the latency is the worst lag over the whole period (an observed oracle: one sample at a
    time, the input samples pushed minus the outputs returned), not over a shorter window:
    here only phase 0 of each block waits for its own sample (lag 0; the other phases are
    final before their time)."""
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.ConstantPad1d((511, 0), 0.0),
        nn.Conv1d(1, 2, 512, stride=512),
        nn.ConvTranspose1d(2, 1, 512, stride=512),
    ).eval()
    s = stream(model, input_shape=(1, 1, 1024))
    x = torch.randn(1, 1, 512 * 4)
    emitted, worst, outs = 0, None, []
    for t in range(x.shape[2]):
        y = s.push(x[:, :, t : t + 1])
        outs.append(y)
        emitted += y.shape[2]
        worst = (t + 1 - emitted) if worst is None else max(worst, t + 1 - emitted)
    assert s.latency == worst
    full = model(x)
    got = torch.cat([*outs, s.flush()], dim=2)
    torch.testing.assert_close(got, full, rtol=0, atol=1e-5)
