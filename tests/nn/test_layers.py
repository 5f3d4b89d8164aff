"""atrous.nn convolution layers: torch compatibility, module == functional, causality."""

import io

import pytest
import torch
from torch import nn

from atrous import functional as AF
from atrous import nn as ann
from atrous.errors import SpecError
from atrous.geometry import ConvSpec, layer_output_size, receptive_field


def test_same_init_and_state_dict_as_torch():
    for ours, theirs, args in [
        (ann.Conv1d, nn.Conv1d, (4, 2, 5)),
        (ann.Conv2d, nn.Conv2d, (4, 6, 3)),
        (ann.Conv3d, nn.Conv3d, (2, 4, 3)),
        (ann.ConvTranspose2d, nn.ConvTranspose2d, (4, 6, 3)),
    ]:
        torch.manual_seed(0)
        a = ours(*args, groups=2)
        torch.manual_seed(0)
        b = theirs(*args, groups=2)
        for name, p in b.named_parameters():
            torch.testing.assert_close(getattr(a, name), p, rtol=0, atol=0)
        a.load_state_dict(b.state_dict())
        b.load_state_dict(a.state_dict())
        assert list(a.state_dict()) == list(b.state_dict())


def test_loaded_torch_weights_give_torch_outputs():
    t = nn.Conv2d(3, 5, 3, stride=2, padding=1, dilation=2)
    a = ann.Conv2d(3, 5, 3, stride=2, padding=1, dilation=2)
    a.load_state_dict(t.state_dict())
    x = torch.randn(2, 3, 17, 16)
    torch.testing.assert_close(a(x), t(x))
    tt = nn.ConvTranspose2d(3, 5, 4, stride=2, padding=1, output_padding=1, dilation=2)
    at = ann.ConvTranspose2d(3, 5, 4, stride=2, padding=1, output_padding=1, dilation=2)
    at.load_state_dict(tt.state_dict())
    torch.testing.assert_close(at(x), tt(x))
    torch.testing.assert_close(at(x, output_size=(38, 35)), tt(x, output_size=(38, 35)))


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(padding="same", stride=2, dilation=3),
        dict(padding=((2, 0), (1, 3))),
        dict(padding=1, padding_mode="reflect"),
        dict(padding="full", padding_mode="circular"),
        dict(padding="causal", dilation=2, padding_mode="replicate"),
    ],
)
def test_module_equals_functional(kwargs):
    layer = ann.Conv2d(4, 6, 3, groups=2, **kwargs)
    x = torch.randn(2, 4, 12, 11)
    expected = AF.conv(
        x, layer.weight, layer.bias, layer.stride, layer.spec.padding, layer.dilation, 2, layer.padding_mode
    )
    torch.testing.assert_close(layer(x), expected)
    assert layer(x).shape[2:] == layer_output_size(layer.spec, (12, 11))


def test_transposed_module_equals_functional():
    layer = ann.ConvTranspose1d(4, 2, 3, stride=2, padding=((2, 1),), output_padding=1)
    x = torch.randn(2, 4, 9)
    torch.testing.assert_close(layer(x), AF.conv_transpose(x, layer.weight, layer.bias, 2, ((2, 1),), 1, 1, 1))
    assert layer(x).shape[-1] == 8 * 2 - 3 + 2 + 1 + 1
    same = ann.ConvTranspose1d(4, 2, 3, stride=3, padding="same")
    assert same(x).shape[-1] == 27


def test_spec_receptive_field_and_repr():
    layer = ann.Conv2d(2, 4, 3, dilation=(2, 4), padding="same")
    assert layer.spec == ConvSpec(3, 1, "same", (2, 4), ndim=2)
    assert layer.receptive_field == (5, 9)
    text = repr(layer)
    assert "effective_kernel=(5, 9)" in text and "receptive_field=(5, 9)" in text and "padding=same" in text
    fields = receptive_field([ann.Conv1d(1, 1, 3, dilation=d) for d in (1, 2, 4)])
    assert [f.size for f in fields] == [3, 7, 15]


def test_causal_conv_is_causal():
    torch.manual_seed(0)
    c = ann.CausalConv1d(2, 3, 3, dilation=4)
    assert c.context == 8 and c.receptive_field == 9 and c.spec.resolve().pads == ((8, 0),)
    x = torch.randn(1, 2, 30)
    y = c(x)
    x2 = x.clone()
    x2[..., 20:] += 1.0
    y2 = c(x2)
    torch.testing.assert_close(y[..., :20], y2[..., :20])
    assert not torch.allclose(y[..., 20:], y2[..., 20:])
    # output t depends exactly on t-8, t-4, t
    x = torch.zeros(1, 2, 30, requires_grad=True)
    c(x)[0, 0, 25].backward()
    assert torch.nonzero(x.grad.abs().sum(1)[0]).flatten().tolist() == [17, 21, 25]


def test_save_load_roundtrip():
    layer = ann.Conv1d(2, 3, 3, padding="same", dilation=2)
    buf = io.BytesIO()
    torch.save(layer.state_dict(), buf)
    buf.seek(0)
    other = ann.Conv1d(2, 3, 3, padding="same", dilation=2)
    other.load_state_dict(torch.load(buf, weights_only=True))
    x = torch.randn(1, 2, 10)
    torch.testing.assert_close(layer(x), other(x))


def test_layer_errors():
    with pytest.raises(SpecError, match="in_channels=3 must be divisible by groups=2"):
        ann.Conv1d(3, 4, 3, groups=2)
    with pytest.raises(SpecError, match="padding_mode='reflect' is not defined for a transposed"):
        ann.ConvTranspose1d(3, 4, 3, padding_mode="reflect")
    with pytest.raises(SpecError, match="kernel_size must be an integer >= 1, got 0"):
        ann.Conv2d(3, 4, 0)
    with pytest.raises(SpecError, match="minimum input size is 9"):
        ann.Conv1d(1, 1, 3, dilation=4)(torch.randn(1, 1, 5))
