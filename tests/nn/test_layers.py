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


# --------------------------------------------------------------------------- attributes are the truth


ATTRIBUTE_CASES = [
    ("Conv1d", {}, "dilation", (4,)),
    ("Conv1d", {"padding": 1}, "dilation", 3),
    ("Conv1d", {"padding": 2}, "padding_mode", "reflect"),
    ("Conv2d", {"padding": 1}, "stride", (2, 1)),
    ("Conv2d", {}, "padding", (2, 1)),
    ("Conv2d", {"dilation": 2}, "padding", "same"),
    ("Conv2d", {"padding": 1, "padding_mode": "circular"}, "padding_mode", "zeros"),
    ("Conv3d", {"padding": 1}, "dilation", (1, 2, 1)),
    ("Conv3d", {}, "stride", 2),
    ("ConvTranspose1d", {"stride": 2}, "output_padding", 1),
    ("ConvTranspose1d", {"stride": 2, "output_padding": 1}, "dilation", 2),
    ("ConvTranspose2d", {"stride": 2, "padding": 1}, "padding", (0, 2)),
    ("ConvTranspose2d", {}, "stride", 3),
    ("ConvTranspose3d", {"stride": 2}, "dilation", 2),
]


@pytest.mark.parametrize("name, kwargs, attr, value", ATTRIBUTE_CASES)
def test_assigned_attributes_take_effect_as_in_torch(name, kwargs, attr, value):
    """``layer.<attr> = value`` gives what torch's layer gives after the same assignment and
    what a layer built with that value gives (torch's ``_ConvNd`` reads its attributes at
    forward time)."""
    ours_cls, theirs_cls = getattr(ann, name), getattr(nn, name)
    nd = int(name[-2])
    torch.manual_seed(0)
    ours = ours_cls(2, 4, 3, **kwargs)
    theirs = theirs_cls(2, 4, 3, **kwargs)
    theirs.load_state_dict(ours.state_dict())
    x = torch.randn(2, 2, *([9] * nd))
    setattr(ours, attr, value)
    setattr(theirs, attr, value)
    built = theirs_cls(2, 4, 3, **{**kwargs, attr: value})
    built.load_state_dict(ours.state_dict())
    y = ours(x)
    torch.testing.assert_close(y, built(x))
    torch.testing.assert_close(y, theirs(x))
    # the layer describes itself by the new value (spec, attribute, repr, receptive field)
    rebuilt = ours_cls(2, 4, 3, **{**kwargs, attr: value})
    assert ours.spec == rebuilt.spec and getattr(ours, attr) == getattr(rebuilt, attr)
    assert repr(ours) == repr(rebuilt) and ours.receptive_field == rebuilt.receptive_field


def test_the_issue_example_dilation_assigned_after_construction():
    m = ann.Conv1d(1, 1, 3)
    m.dilation = (4,)
    assert m(torch.randn(1, 1, 20)).shape[-1] == nn.Conv1d(1, 1, 3, dilation=4)(torch.randn(1, 1, 20)).shape[-1] == 12
    c = ann.CausalConv1d(2, 2, 3, dilation=1)
    c.dilation = 3
    assert c.context == 6 and c.spec.resolve().pads == ((6, 0),) and c(torch.randn(1, 2, 10)).shape[-1] == 10


@pytest.mark.parametrize("transposed", [False, True])
def test_assigned_weight_groups_and_bias_take_effect_as_in_torch(transposed):
    ours = (ann.ConvTranspose2d if transposed else ann.Conv2d)(4, 4, 3, padding=1)
    theirs = (nn.ConvTranspose2d if transposed else nn.Conv2d)(4, 4, 3, padding=1)
    w = torch.randn(4, 2, 3, 3)
    for m in (ours, theirs):
        m.weight = nn.Parameter(w.clone())
        m.groups = 2
        m.bias = None
    x = torch.randn(2, 4, 7, 8)
    torch.testing.assert_close(ours(x), theirs(x))
    assert "groups=2" in repr(ours) and "bias=False" in repr(ours)


def test_assignments_are_checked_and_leave_the_layer_unchanged_on_error():
    m = ann.Conv1d(1, 1, 3, padding="same")
    with pytest.raises(SpecError, match="dilation must be an integer >= 1, got 0"):
        m.dilation = 0
    assert m.dilation == (1,) and m.padding == "same"
    with pytest.raises(SpecError, match="padding has 2 entries"):
        m.padding = (1, 2)
    assert m.padding == "same"
    with pytest.raises(SpecError, match="kernel_size cannot be assigned"):
        m.kernel_size = 5
    with pytest.raises(SpecError, match="padding_mode must be one of"):
        m.padding_mode = "mirror"
    assert m.padding_mode == "zeros"
    with pytest.raises(AttributeError):
        m.spec = ConvSpec(5)
    t = ann.ConvTranspose1d(1, 1, 3, stride=2, output_padding=1)
    with pytest.raises(SpecError, match="output_padding=1 on axis 0 must be smaller than stride"):
        t.stride = 1
    assert t.stride == (2,)
    with pytest.raises(SpecError, match="not defined for a transposed"):
        t.padding_mode = "reflect"
    with pytest.raises(SpecError, match="only valid for a transposed"):
        m.output_padding = 1


def test_the_nd_bases_are_not_built_themselves():
    for base, kind in ((ann.ConvNd, "Conv"), (ann.ConvTransposeNd, "ConvTranspose")):
        with pytest.raises(
            TypeError, match=rf"{base.__name__} is the N-d base class .* use {kind}1d, {kind}2d or {kind}3d"
        ):
            base(2, 4, 3)
    assert isinstance(ann.Conv2d(2, 4, 3), ann.ConvNd) and isinstance(ann.ConvTranspose1d(2, 4, 3), ann.ConvTransposeNd)


# --------------------------------------------------------------------------- TorchScript


SCRIPT_CASES = [
    (lambda: ann.Conv1d(2, 4, 3, dilation=4, padding="same"), (2, 2, 20)),
    (lambda: ann.Conv1d(2, 4, 3, padding=2, padding_mode="reflect"), (2, 2, 11)),
    (lambda: ann.Conv2d(2, 4, 3, padding=((1, 2), (0, 3)), dilation=2, groups=2), (2, 2, 11, 12)),
    (lambda: ann.Conv2d(2, 4, 3, padding="full", padding_mode="circular"), (1, 2, 8, 9)),
    (lambda: ann.Conv3d(2, 4, 3, padding=1, bias=False), (1, 2, 5, 6, 7)),
    (lambda: ann.CausalConv1d(2, 2, 3, dilation=2), (1, 2, 9)),
    (lambda: ann.Conv1d(2, 4, 3, padding=1), (2, 9)),  # unbatched
    (lambda: ann.ConvTranspose1d(2, 4, 3, stride=2, padding=1), (2, 5)),
    (lambda: ann.ConvTranspose2d(2, 4, 3, stride=2, padding=((1, 2), (0, 1)), output_padding=1), (2, 2, 5, 6)),
    (lambda: ann.ConvTranspose2d(2, 4, 4, stride=2, padding="same"), (1, 2, 5, 6)),
    (lambda: ann.ConvTranspose3d(2, 2, 3, stride=(1, 2, 2), padding=1, dilation=(2, 1, 1)), (1, 2, 4, 5, 3)),
]


@pytest.mark.parametrize("make, shape", SCRIPT_CASES)
def test_torch_jit_script_matches_eager_and_saves(make, shape, tmp_path):
    torch.manual_seed(0)
    layer = make().double()
    x = torch.randn(*shape, dtype=torch.float64)
    scripted = torch.jit.script(layer)
    torch.testing.assert_close(scripted(x), layer(x))
    assert list(scripted.state_dict()) == list(layer.state_dict())
    path = tmp_path / "layer.pt"
    torch.jit.save(scripted, str(path))
    torch.testing.assert_close(torch.jit.load(str(path))(x), layer(x))
    # attributes assigned before scripting are what the scripted module computes
    layer.dilation = 2
    torch.testing.assert_close(torch.jit.script(layer)(x), layer(x))


def test_torch_jit_script_of_a_model_with_atrous_layers():
    torch.manual_seed(0)
    model = nn.Sequential(
        ann.Conv1d(1, 4, 3, padding="same", dilation=2), nn.ReLU(), ann.CausalConv1d(4, 1, 2, dilation=4)
    )
    x = torch.randn(2, 1, 30)
    scripted = torch.jit.script(model)
    torch.testing.assert_close(scripted(x), model(x))
    # training the scripted module trains the layer (the parameters are shared)
    scripted(x).sum().backward()
    assert model[0].weight.grad is not None


def test_torch_jit_script_refuses_what_it_cannot_compute_clearly():
    with pytest.raises(SpecError, match=r"depends on the input size.*torch\.jit\.trace"):
        torch.jit.script(ann.Conv2d(2, 4, 3, stride=2, padding="same"))
    scripted = torch.jit.script(ann.ConvTranspose1d(2, 4, 3, stride=2))
    with pytest.raises(Exception, match="output_size is not available in a TorchScript module"):
        scripted(torch.randn(1, 2, 5), [12])
