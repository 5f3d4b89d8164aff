"""ASPP, the Yu-Koltun context module, DRN's degridding tail and the HDC block.

Receptive fields are checked twice: against ``atrous.geometry`` (the numbers the modules
report) and against autograd. For the autograd check every convolution gets positive weights
(``1 / numel``) and no bias, the norms run in eval mode with their default statistics (a
positive scale), dropout is off and the input is positive, so every ReLU passes and nothing
cancels: the gradient of the centre output pixel w.r.t. the input is nonzero exactly on the
input positions that pixel depends on.
"""

from __future__ import annotations

import io
import warnings

import numpy as np
import pytest
import torch
from torch import nn

from atrous.errors import SpecError
from atrous.geometry import ConvSpec, coverage, hdc, receptive_field
from atrous.nn.aspp import ASPP, ASPPPooling
from atrous.nn.context import ContextModule, DegriddingTail
from atrous.nn.conv import ConvNd
from atrous.nn.hdc import GriddingWarning, HDCBlock

DT = torch.float64
YU_KOLTUN = [3, 5, 9, 17, 33, 65, 67, 67]


# --------------------------------------------------------------------------- helpers


@torch.no_grad()
def positive(module: nn.Module) -> nn.Module:
    """Positive conv weights, no biases, eval mode (norms: default stats), float64."""
    module.to(DT).eval()
    for m in module.modules():
        if isinstance(m, ConvNd):
            m.weight.fill_(1.0 / m.weight.numel())
            if m.bias is not None:
                m.bias.zero_()
    return module


def reach(module: nn.Module, size: int, channels: int, seed: int = 0) -> np.ndarray:
    """Boolean ``(size, size)`` mask of the input pixels the centre output pixel depends on."""
    g = torch.Generator().manual_seed(seed)
    x = (torch.rand(1, channels, size, size, generator=g, dtype=DT) + 0.5).requires_grad_()
    y = module(x)
    c = size // 2
    y[:, :, c, c].sum().backward()
    assert x.grad is not None
    return (x.grad.abs().sum(dim=(0, 1)) > 0).numpy()


def extent(mask: np.ndarray) -> tuple[int, int]:
    """Per-axis length of the bounding box of the nonzeros."""
    out = []
    for axis in range(2):
        idx = np.flatnonzero(mask.any(axis=1 - axis))
        out.append(int(idx[-1] - idx[0] + 1))
    return tuple(out)  # type: ignore[return-value]


def geometry_mask(field, size: int) -> np.ndarray:
    """The exact support of the centre pixel, from a FieldND built with an input size."""
    rows, cols = field.support((size // 2, size // 2))
    mask = np.zeros((size, size), dtype=bool)
    mask[np.ix_(rows, cols)] = True
    return mask


# --------------------------------------------------------------------------- ASPP


@pytest.mark.parametrize("separable", [False, True])
@pytest.mark.parametrize("size", [(17, 17), (9, 14), (1, 1)])
def test_aspp_keeps_size(separable, size):
    torch.manual_seed(0)
    model = ASPP(3, 5, rates=(2, 4, 6), separable=separable).eval()
    y = model(torch.randn(2, 3, *size))
    assert y.shape == (2, 5, *size)
    assert model.branch_names == ("conv1x1", "rate2", "rate4", "rate6", "pool")


def test_aspp_defaults_and_padding():
    model = ASPP(4)
    assert model.rates == (6, 12, 18)
    assert model.out_channels == 256
    assert model.project[-1].p == 0.1
    for rate, branch in zip(model.rates, model.convs[1:-1], strict=True):
        conv = branch[0]
        assert conv.dilation == (rate, rate)
        assert conv.spec.resolve().pads == ((rate, rate), (rate, rate))  # padding = rate
    assert ASPP(4, 8, dropout=0.5).project[-1].p == 0.5


def test_aspp_receptive_field_values():
    rf = ASPP(4, 8).receptive_field
    assert rf == {"conv1x1": (1, 1), "rate6": (13, 13), "rate12": (25, 25), "rate18": (37, 37), "pool": "global"}
    rf = ASPP(4, 8, rates=(3, 5), separable=True).receptive_field
    assert rf == {"conv1x1": (1, 1), "rate3": (7, 7), "rate5": (11, 11), "pool": "global"}
    for name, layers in ASPP(4, 8).branch_layers().items():
        if layers is None:
            continue
        expected = receptive_field([layer.spec for layer in layers])[-1].size
        assert ASPP(4, 8).receptive_field[name] == expected


@pytest.mark.parametrize("separable", [False, True])
def test_aspp_receptive_field_autograd(separable):
    size = 41  # the largest branch (rate 18) reaches 37 pixels: all inside
    model = positive(ASPP(2, 3, separable=separable))
    fields = model.fields((size, size))
    for name, branch in zip(model.branch_names, model.convs, strict=True):
        mask = reach(branch, size, 2)
        if isinstance(branch, ASPPPooling):
            assert model.receptive_field[name] == "global"
            assert mask.all(), "the pooling branch reaches every pixel"
            continue
        assert extent(mask) == model.receptive_field[name], name
        # the exact tap set (holes included) is the geometry's support
        np.testing.assert_array_equal(mask, geometry_mask(fields[name], size), err_msg=name)
    # the whole module: the pooling branch makes every pixel reach the centre output ...
    assert reach(model, size, 2).all()
    # ... and without it (its projection weights zeroed) the reach is the union of the branches
    with torch.no_grad():
        out = model.out_channels
        model.project[0].weight[:, -out:] = 0
    union = np.zeros((size, size), dtype=bool)
    for f in fields.values():
        if f is not None:
            union |= geometry_mask(f, size)
    mask = reach(model, size, 2)
    np.testing.assert_array_equal(mask, union)
    assert extent(mask) == (37, 37)


def test_aspp_receptive_field_autograd_small_input():
    """Rates larger than the map: taps fall into the padding; the geometry knows it exactly."""
    size = 9
    model = positive(ASPP(2, 2, rates=(3, 6)))
    fields = model.fields((size, size))
    for name, branch in zip(model.branch_names[:-1], model.convs[:-1], strict=True):
        np.testing.assert_array_equal(reach(branch, size, 2), geometry_mask(fields[name], size), err_msg=name)
    assert fields["rate6"].support((4, 4)) == ((4,), (4,))  # only the centre tap stays inside


def test_aspp_matches_plain_torch_reference():
    """Same structure and names as torchvision's ASPP: its state_dict loads and outputs agree."""

    def cbr(cin, cout, k, d=1):
        return [
            nn.Conv2d(cin, cout, k, padding=d if k > 1 else 0, dilation=d, bias=False),
            nn.BatchNorm2d(cout),
            nn.ReLU(),
        ]

    class Pool(nn.Sequential):
        def forward(self, x):
            size = x.shape[-2:]
            for m in self:
                x = m(x)
            return nn.functional.interpolate(x, size=size, mode="bilinear", align_corners=False)

    class Ref(nn.Module):
        def __init__(self, cin, cout, rates):
            super().__init__()
            mods = [nn.Sequential(*cbr(cin, cout, 1))] + [nn.Sequential(*cbr(cin, cout, 3, r)) for r in rates]
            mods.append(Pool(nn.AdaptiveAvgPool2d(1), *cbr(cin, cout, 1)))
            self.convs = nn.ModuleList(mods)
            self.project = nn.Sequential(*cbr(len(mods) * cout, cout, 1), nn.Dropout(0.5))

        def forward(self, x):
            return self.project(torch.cat([c(x) for c in self.convs], dim=1))

    torch.manual_seed(1)
    ref = Ref(3, 4, (2, 5))
    for m in ref.modules():  # non-trivial norm statistics
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.5, 0.5)
    ours = ASPP(3, 4, rates=(2, 5), dropout=0.5)
    ours.load_state_dict(ref.state_dict())
    x = torch.randn(2, 3, 11, 13)
    torch.testing.assert_close(ours.eval()(x), ref.eval()(x), rtol=1e-5, atol=1e-6)


def test_aspp_bad_arguments():
    with pytest.raises(SpecError, match="distinct"):
        ASPP(4, 8, rates=(6, 6))
    with pytest.raises(SpecError, match=r"rates\[1\]"):
        ASPP(4, 8, rates=(6, 0))
    with pytest.raises(SpecError, match="dropout"):
        ASPP(4, 8, dropout=1.5)
    with pytest.raises(SpecError, match="in_channels"):
        ASPP(0, 8)


# torch's inductor imports torch.utils.mkldnn, which uses the deprecated torch.jit.script_method
@pytest.mark.filterwarnings("ignore:`torch.jit.script_method` is deprecated:DeprecationWarning")
@pytest.mark.slow
def test_aspp_torch_compile_matches_eager():
    torch.manual_seed(0)
    model = ASPP(3, 4, rates=(2, 3)).eval()
    x = torch.randn(2, 3, 12, 12)
    with torch.no_grad():
        eager = model(x)
        compiled = torch.compile(model)(x)
    torch.testing.assert_close(compiled, eager, atol=1e-5, rtol=1e-5)


@pytest.mark.filterwarnings("ignore:`torch.jit.script_method` is deprecated:DeprecationWarning")
@pytest.mark.parametrize("separable", [False, True])
@pytest.mark.slow
def test_aspp_onnx_export_matches_eager(tmp_path, separable):
    ort = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    torch.manual_seed(0)
    model = ASPP(3, 4, rates=(2, 3), separable=separable).eval()
    x = torch.randn(2, 3, 12, 12)
    path = tmp_path / "aspp.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (x,), str(path), dynamo=True, verbose=False)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (out,) = session.run(None, {session.get_inputs()[0].name: x.numpy()})
    with torch.no_grad():
        np.testing.assert_allclose(out, model(x).numpy(), atol=1e-4, rtol=0)


# --------------------------------------------------------------------------- context module


def test_context_module_numbers():
    basic = ContextModule(3)
    assert basic.dilations == (1, 1, 2, 4, 8, 16, 1, 1)
    assert basic.layer_receptive_fields == [(r, r) for r in YU_KOLTUN]
    assert basic.receptive_field == (67, 67)
    assert basic.widths == (3,) * 9
    large = ContextModule(2, "large")
    assert large.widths == (2, 4, 4, 8, 16, 32, 64, 64, 2)
    assert large.layer_receptive_fields == [(r, r) for r in YU_KOLTUN]
    # the same numbers straight from the geometry core
    specs = [ConvSpec(3, padding="same", dilation=d) for d in (1, 1, 2, 4, 8, 16, 1)] + [ConvSpec(1)]
    assert [f.size for f in receptive_field(specs)] == YU_KOLTUN
    for conv, d in zip(basic.convs[:-1], (1, 1, 2, 4, 8, 16, 1), strict=True):
        assert conv.spec.resolve().pads == ((d, d), (d, d))  # padding = dilation


@pytest.mark.parametrize("variant", ["basic", "large"])
def test_context_module_keeps_size(variant):
    model = ContextModule(2, variant, init="default")
    assert model(torch.randn(2, 2, 13, 7)).shape == (2, 2, 13, 7)


@pytest.mark.parametrize("variant", ["basic", "large"])
def test_context_module_receptive_field_autograd(variant):
    size = 69
    model = positive(ContextModule(1, variant))
    for n, rf in enumerate(YU_KOLTUN, start=1):
        mask = reach(nn.Sequential(*model.convs[:n]), size, 1)
        assert extent(mask) == model.layer_receptive_fields[n - 1] == (rf, rf)
        assert mask.sum() == rf * rf  # 1, 1, 2, 4, 8, 16, 1 leaves no holes
    assert extent(reach(model, size, 1)) == model.receptive_field == (67, 67)


def test_identity_init_basic_is_exact_identity():
    model = ContextModule(4).to(DT)
    conv = model.convs[2]
    assert torch.equal(conv.weight[:, :, 1, 1], torch.eye(4, dtype=DT))
    assert conv.weight.abs().sum() == 4 and conv.bias.abs().sum() == 0
    x = torch.rand(2, 4, 23, 19, dtype=DT)
    torch.testing.assert_close(model(x), x, atol=1e-12, rtol=0)


def test_identity_init_large():
    c = 2
    x = torch.rand(2, c, 16, 16, dtype=DT)
    # without noise the paper's formula is exactly the identity, and after layer i every map b
    # holds (C / C_i) * x[floor(b C / C_i)]
    exact = ContextModule(c, "large", noise=0.0).to(DT)
    h = x
    for i, conv in enumerate(exact.convs):
        h = conv(h)
        h = exact.relu(h) if i < 7 else h
        width = exact.widths[i + 1]
        groups = torch.arange(width) * c // width
        torch.testing.assert_close(h, x[:, groups] * (c / width), atol=1e-12, rtol=0)
    torch.testing.assert_close(h, x, atol=1e-12, rtol=0)
    # with the paper's noise (sigma = 1e-3 C / C_{i+1}) it stays close to the identity
    noisy = ContextModule(c, "large", generator=torch.Generator().manual_seed(0)).to(DT)
    w = noisy.convs[3].weight.detach()  # C_3 = 8 -> C_4 = 16 channels
    scale = c / noisy.widths[4]
    same_group = (torch.arange(16)[:, None] * c // 16) == (torch.arange(8)[None, :] * c // 8)
    assert torch.equal(w[:, :, 1, 1][same_group], torch.full((16 * 8 // c,), scale, dtype=DT))
    eps = torch.cat([w[:, :, 1, 1][~same_group], w.flatten(2)[:, :, [0, 1, 2, 3, 5, 6, 7, 8]].flatten()])
    assert 0.8e-3 * scale < eps.std().item() < 1.2e-3 * scale  # eps ~ N(0, sigma^2), sigma = 1e-3 C / C_{i+1}
    rel = (noisy(x) - x).norm() / x.norm()
    assert rel < 0.05


def test_context_module_bad_arguments():
    with pytest.raises(SpecError, match="variant"):
        ContextModule(2, "huge")
    with pytest.raises(SpecError, match="init"):
        ContextModule(2, init="zeros")
    with pytest.raises(SpecError, match="noise"):
        ContextModule(2, "large", noise=-1.0)


# --------------------------------------------------------------------------- DRN tail


@pytest.mark.parametrize(("arch", "dilations", "rfs"), [("C", (2, 2, 1, 1), [5, 9, 11, 13]), ("D", (2, 1), [5, 7])])
def test_degridding_tail(arch, dilations, rfs):
    tail = DegriddingTail(2, 3, arch=arch)
    assert tail.dilations == dilations
    assert tail.layer_receptive_fields == [(r, r) for r in rfs]
    assert tail.receptive_field == (rfs[-1], rfs[-1])
    assert tail(torch.randn(2, 2, 10, 12)).shape == (2, 3, 10, 12)
    # no residual connections: the output is the plain chain of conv-BN-ReLU
    assert all(isinstance(m, (ConvNd, nn.BatchNorm2d, nn.ReLU)) for m in tail)
    size = 17
    mask = reach(positive(tail), size, 2)
    assert extent(mask) == tail.receptive_field
    np.testing.assert_array_equal(mask, geometry_mask(tail.fields((size, size))[-1], size))
    assert mask.sum() == rfs[-1] ** 2  # the dilation-1 level fills the dilation-2 grid: no holes


# --------------------------------------------------------------------------- HDC block


def test_hdc_block_accepts_1_2_5():
    block = HDCBlock(3, [1, 2, 5])
    assert block.hdc == hdc([1, 2, 5], 3) and block.hdc.ok and block.hdc.covered
    assert block.rates == (1, 2, 5)
    assert block.receptive_field == (17, 17)
    assert block(torch.randn(2, 3, 10, 10)).shape == (2, 3, 10, 10)
    mask = reach(positive(block), 21, 3)
    assert extent(mask) == (17, 17) and mask.sum() == 17 * 17  # no holes


@pytest.mark.parametrize(
    ("rates", "problem"),
    [([2, 2, 2], "rates share the factor 2"), ([2, 4, 8], "M2=4 > kernel_size=3; rates share the factor 2")],
)
def test_hdc_block_refuses_gridding(rates, problem):
    with pytest.raises(SpecError, match=problem) as info:
        HDCBlock(3, rates)
    assert str(tuple(rates)) in str(info.value) and "exact coverage: holes" in str(info.value)
    with pytest.warns(GriddingWarning, match=problem):
        block = HDCBlock(3, rates, on_gridding="warn")
    assert issubclass(GriddingWarning, UserWarning)
    # the holes are real: the autograd reach of the centre pixel is the geometry's checkerboard
    size = 2 * sum(rates) + 5
    mask = reach(positive(block), size, 3)
    np.testing.assert_array_equal(mask, geometry_mask(block.fields((size, size))[-1], size))
    c = coverage(rates, 3)
    assert extent(mask) == (c.size, c.size) and mask.sum() == (c.size - len(c.holes)) ** 2


def test_hdc_block_needs_rule_and_coverage():
    with pytest.raises(SpecError, match="exact coverage: holes"):
        HDCBlock(2, [2, 3])  # passes the paper's rule, leaves holes
    with pytest.raises(SpecError, match="M2=5 > kernel_size=4"):
        HDCBlock(2, [1, 1, 7], kernel_size=4)  # no holes, fails the paper's rule
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        HDCBlock(2, [1, 2, 3])  # both pass: no warning either


def test_hdc_block_options_and_bad_arguments():
    block = HDCBlock(2, [1, 2], kernel_size=4, norm=False)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in block.modules())
    assert all(c.bias is not None for c in block.convs)
    assert block.receptive_field == (10, 10)
    assert block(torch.randn(1, 2, 9, 9)).shape == (1, 2, 9, 9)
    with pytest.raises(SpecError, match="on_gridding"):
        HDCBlock(2, [1, 2, 5], on_gridding="ignore")
    with pytest.raises(SpecError, match="kernel_size"):
        HDCBlock(2, [1, 2, 5], kernel_size=1)
    with pytest.raises(SpecError, match=r"dilations\[1\]"):
        HDCBlock(2, [1, 0])


# --------------------------------------------------------------------------- all modules


def _modules():
    return {
        "aspp": lambda: ASPP(3, 4, rates=(2, 3)),
        "aspp_separable": lambda: ASPP(3, 4, rates=(2, 3), separable=True),
        "context_basic": lambda: ContextModule(3),
        "context_large": lambda: ContextModule(3, "large"),
        "tail": lambda: DegriddingTail(3),
        "hdc": lambda: HDCBlock(3, [1, 2, 5]),
    }


@pytest.mark.parametrize("name", list(_modules()))
def test_gradient_flows(name):
    torch.manual_seed(0)
    model = _modules()[name]().train()
    x = torch.randn(2, 3, 12, 12, requires_grad=True)
    model(x).square().mean().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
    for pname, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), pname


@pytest.mark.parametrize("name", list(_modules()))
def test_state_dict_round_trip(name):
    torch.manual_seed(0)
    build = _modules()[name]
    model = build()
    model.train()(torch.randn(2, 3, 12, 12))  # move the norms' running statistics
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    buffer.seek(0)
    torch.manual_seed(123)
    clone = build()
    clone.load_state_dict(torch.load(buffer, weights_only=True))
    x = torch.randn(2, 3, 12, 12)
    with torch.no_grad():
        torch.testing.assert_close(clone.eval()(x), model.eval()(x), rtol=0, atol=0)
