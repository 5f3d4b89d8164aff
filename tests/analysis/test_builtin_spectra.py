"""The builtin reference networks (atrous.analysis.builtin) and the spectra of dilated kernels
(atrous.analysis.spectra).

Networks: parameter counts against torchvision's published numbers, forward shapes on the
default inputs (on the meta device where a real forward is expensive) and real forwards on
small inputs, the named VGG-16 layers against DESIGN section 4's receptive-field table.

Spectra: DESIGN section 4's fact, ``H_d(w) = H(d w)``, checked three independent ways (a
direct sum, an index map onto the undilated grid, numpy's FFT of the zero-inserted kernel),
then the cut-off relation ``cutoff(k, d) == cutoff(k, 1) / d`` and the alias-free strides.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torch import nn

from atrous.analysis import builtin, spectra
from atrous.analysis.builtin import BUILTIN, DEFAULT_INPUT, get_builtin
from atrous.analysis.spectra import (
    alias_free_stride,
    aspp_alias_free_strides,
    band_limit,
    cutoff,
    dtft,
    frequency_response,
    magnitude_response,
    response_2d,
    rule_of_thumb_stride,
)
from atrous.errors import SpecError
from atrous.geometry import ConvSpec, PoolSpec, hdc, receptive_field
from atrous.reference import dilate_kernel

# torchvision's published parameter counts (the weights' "num_params" metadata)
VGG16_PARAMS = 138_357_544
RESNET50_PARAMS = 25_557_032
# deeplabv3_resnet50: 42,004,074 with the auxiliary FCNHead(1024, 21), which holds
# 1024*256*9 + 2*256 + 256*21 + 21 = 2,365,205 of them
DEEPLABV3_RESNET50_NO_AUX_PARAMS = 42_004_074 - 2_365_205

EXPENSIVE = {"vgg16", "resnet50", "deeplab-aspp", "wavenet"}


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def meta_forward(model: nn.Module, shape: tuple[int, ...]) -> torch.Tensor:
    state = {**dict(model.named_parameters()), **dict(model.named_buffers())}
    return torch.func.functional_call(
        model, {k: v.to("meta") for k, v in state.items()}, (torch.empty(shape, device="meta"),)
    )


@pytest.fixture(scope="module")
def vgg() -> nn.Module:
    return builtin.vgg16()


@pytest.fixture(scope="module")
def resnet() -> nn.Module:
    return builtin.resnet50()


@pytest.fixture(scope="module")
def deeplab() -> nn.Module:
    return builtin.deeplab_aspp()


# =========================================================================== builtin


def test_registry_names_and_inputs():
    assert set(BUILTIN) == set(DEFAULT_INPUT)
    assert set(BUILTIN) >= {
        "vgg16",
        "resnet50",
        "deeplab-aspp",
        "fcn-decoder",
        "fcn-decoder-k3",
        "wavenet",
        "tcn",
        "context",
        "gridding-222",
        "hdc-125",
    }
    assert DEFAULT_INPUT["deeplab-aspp"] == (1, 3, 224, 224)
    assert DEFAULT_INPUT["wavenet"] == (1, 1, 4096)
    assert DEFAULT_INPUT["tcn"] == (1, 2, 600)


def test_get_builtin_unknown_names_the_valid_ones():
    with pytest.raises(SpecError) as err:
        get_builtin("vgg19")
    assert "'vgg19'" in str(err.value)
    for name in BUILTIN:
        assert name in str(err.value)
    with pytest.raises(SpecError):
        get_builtin(None)  # type: ignore[arg-type]
    with pytest.raises(ValueError):  # SpecError is a ValueError
        get_builtin("")


def test_parameter_counts_match_torchvision(vgg, resnet, deeplab):
    assert n_params(vgg) == VGG16_PARAMS
    assert n_params(resnet) == RESNET50_PARAMS
    assert n_params(deeplab) == DEEPLABV3_RESNET50_NO_AUX_PARAMS
    # dilation changes no weight
    assert n_params(builtin.resnet50(replace_stride_with_dilation=(False, True, True))) == RESNET50_PARAMS


@pytest.mark.parametrize("name", sorted(BUILTIN))
def test_every_builtin_runs_on_its_default_input(name, vgg, resnet, deeplab):
    model = {"vgg16": vgg, "resnet50": resnet, "deeplab-aspp": deeplab}.get(name) or get_builtin(name)
    assert isinstance(model, nn.Module)
    assert not any(m.training for m in model.modules()), "builtins come in eval mode"
    shape = DEFAULT_INPUT[name]
    if name in EXPENSIVE:
        y = meta_forward(model, shape)
    else:
        with torch.no_grad():
            y = model(torch.randn(shape))
        assert torch.isfinite(y).all()
    expected = {
        "vgg16": (1, 1000),
        "resnet50": (1, 1000),
        "deeplab-aspp": (1, 21, 224, 224),
        "fcn-decoder": (1, 21, 64, 64),
        "fcn-decoder-k3": (1, 21, 64, 64),
        "wavenet": (1, 256, 4096),
        "tcn": (1, 24, 600),
        "context": (1, 21, 64, 64),
        "gridding-222": (1, 16, 64, 64),
        "hdc-125": (1, 16, 64, 64),
    }[name]
    assert tuple(y.shape) == expected


@torch.no_grad()
def test_real_forwards_on_small_inputs(vgg, resnet, deeplab):
    assert tuple(vgg(torch.randn(2, 3, 32, 32)).shape) == (2, 1000)
    assert tuple(resnet(torch.randn(1, 3, 64, 64)).shape) == (1, 1000)
    y = deeplab(torch.randn(1, 3, 65, 47))  # odd sizes: the final upsampling restores them
    assert tuple(y.shape) == (1, 21, 65, 47)
    assert torch.isfinite(y).all()
    assert tuple(builtin.wavenet()(torch.randn(1, 1, 64)).shape) == (1, 256, 64)


def test_builders_are_deterministic_and_leave_the_global_rng_alone():
    state = torch.random.get_rng_state()
    a, b = builtin.context(), get_builtin("context")
    assert torch.equal(torch.random.get_rng_state(), state)
    for (na, pa), (nb, pb) in zip(a.state_dict().items(), b.state_dict().items(), strict=True):
        assert na == nb
        assert torch.equal(pa, pb)
    c = builtin.context(seed=1)
    assert not torch.equal(a.conv1.weight, c.conv1.weight)


def test_vgg16_named_layers_and_receptive_fields(vgg):
    children = dict(vgg.features.named_children())
    convs = [f"conv{b}_{i}" for b, n in zip(range(1, 6), (2, 2, 3, 3, 3), strict=True) for i in range(1, n + 1)]
    assert len(convs) == 13
    for name in convs:
        conv = children[name]
        assert isinstance(conv, nn.Conv2d)
        assert conv.kernel_size == (3, 3) and conv.padding == (1, 1) and conv.stride == (1, 1)
        assert isinstance(children["relu" + name[4:]], nn.ReLU)
    for b in range(1, 6):
        pool = children[f"pool{b}"]
        assert isinstance(pool, nn.MaxPool2d) and pool.kernel_size == 2 and pool.stride == 2
    assert [n for n in children if n.startswith(("conv", "pool"))] == [
        *convs[:2], "pool1", *convs[2:4], "pool2", *convs[4:7], "pool3", *convs[7:10], "pool4", *convs[10:], "pool5",
    ]  # fmt: skip
    assert isinstance(vgg.avgpool, nn.AdaptiveAvgPool2d)
    fcs = dict(vgg.classifier.named_children())
    assert (fcs["fc6"].in_features, fcs["fc6"].out_features) == (25088, 4096)
    assert (fcs["fc7"].in_features, fcs["fc8"].out_features) == (4096, 1000)
    # the named layers reproduce DESIGN section 4's table through atrous.geometry
    specs, names = [], []
    for name, m in vgg.features.named_children():
        if isinstance(m, nn.Conv2d):
            specs.append(ConvSpec(m.kernel_size[0], m.stride[0], m.padding[0], m.dilation[0]))
        elif isinstance(m, nn.MaxPool2d):
            specs.append(PoolSpec(m.kernel_size, m.stride))
        else:
            continue
        names.append(name)
    table = {
        "conv1_1": (3, 1, 1), "pool1": (6, 2, 2), "conv2_1": (10, 2, 4), "pool2": (16, 4, 6),
        "conv3_1": (24, 4, 10), "conv3_2": (32, 4, 14), "pool3": (44, 8, 18), "conv4_1": (60, 8, 26),
        "conv4_2": (76, 8, 34), "pool4": (100, 16, 42), "conv5_1": (132, 16, 58), "conv5_2": (164, 16, 74),
        "pool5": (212, 32, 90),
    }  # fmt: skip
    fields = dict(zip(names, receptive_field(specs), strict=True))
    for name, (size, jump, pad) in table.items():
        f = fields[name]
        assert (f.size, f.jump, -f.start) == (size, jump, pad), name


def test_resnet_dilation_replaces_strides(resnet):
    assert tuple(meta_forward(resnet.eval(), (1, 3, 224, 224)).shape) == (1, 1000)
    assert resnet.layer2[0].conv2.stride == (2, 2) and resnet.layer2[0].conv1.stride == (1, 1)  # v1.5
    for flags, stride, dils in [
        ((False, False, False), 32, [1, 1, 1]),
        ((False, False, True), 16, [1, 2, 2]),
        ((False, True, True), 8, [2, 4, 4]),
    ]:
        net = builtin.ResNet((3, 4, 6, 3), None, flags)
        assert tuple(meta_forward(net, (1, 3, 224, 224)).shape) == (1, 2048, 224 // stride, 224 // stride)
        # the first block keeps the previous dilation, as torchvision does
        assert [b.conv2.dilation[0] for b in net.layer4] == dils
        for block in net.modules():
            if isinstance(block, builtin.Bottleneck):
                assert block.conv2.padding == block.conv2.dilation
    with pytest.raises(SpecError):
        builtin.ResNet(replace_stride_with_dilation=(True, True))


def test_deeplab_structure(deeplab):
    assert [b.conv2.dilation[0] for b in deeplab.backbone.layer4] == [1, 2, 2]
    assert deeplab.backbone.fc is None
    feats = meta_forward(deeplab.backbone, (1, 3, 224, 224))
    assert tuple(feats.shape) == (1, 2048, 14, 14)  # output stride 16
    assert deeplab.aspp.rates == (6, 12, 18)
    branches = dict(deeplab.aspp.branches.named_children())
    assert branches["branch0"][0].kernel_size == (1, 1)
    for i, rate in enumerate((6, 12, 18), start=1):
        conv = branches[f"branch{i}"][0]
        assert conv.kernel_size == (3, 3) and conv.dilation == (rate, rate) and conv.padding == (rate, rate)
    assert isinstance(branches["pooling"].pool, nn.AdaptiveAvgPool2d)
    assert deeplab.aspp.project[0].in_channels == 5 * 256
    assert isinstance(deeplab.aspp.project[3], nn.Dropout) and deeplab.aspp.project[3].p == 0.5
    assert deeplab.classifier.out_channels == 21


def _ones_transposed_overlap(model: nn.Module) -> torch.Tensor:
    up = model.up1
    conv = nn.ConvTranspose2d(1, 1, up.kernel_size, up.stride, up.padding, up.output_padding, bias=False)
    nn.init.ones_(conv.weight)
    with torch.no_grad():
        return conv(torch.ones(1, 1, 8, 8))[0, 0]


def test_fcn_decoders_checkerboard():
    even, odd = get_builtin("fcn-decoder"), get_builtin("fcn-decoder-k3")
    for up in (even.up3, even.up2, even.up1):
        assert (up.kernel_size, up.stride, up.padding, up.output_padding) == ((4, 4), (2, 2), (1, 1), (0, 0))
    for up in (odd.up3, odd.up2, odd.up1):
        assert (up.kernel_size, up.stride, up.padding, up.output_padding) == ((3, 3), (2, 2), (1, 1), (1, 1))
    # all-ones weights on a constant input: even overlap is flat inside, k=3 alternates 1, 2, 4
    inner_even = _ones_transposed_overlap(even)[1:-1, 1:-1]
    assert torch.all(inner_even == 4)
    inner_odd = _ones_transposed_overlap(odd)[:-1, :-1]
    assert sorted(set(inner_odd.flatten().tolist())) == [1.0, 2.0, 4.0]
    # a period-2 pattern in each axis: 1-d overlaps alternate 1, 2
    assert torch.equal(inner_odd[2:, 2:], inner_odd[:-2, :-2])
    assert inner_odd[0, 0] * inner_odd[1, 1] == inner_odd[0, 1] * inner_odd[1, 0] == 4


def test_sequence_models():
    assert builtin.wavenet().receptive_field == 3070
    assert builtin.tcn().receptive_field == 1 + 2 * 7 * (2**8 - 1)


def test_context_module_and_identity_init():
    model = builtin.context()
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert [c.dilation[0] for c in convs] == [1, 1, 2, 4, 8, 16, 1, 1]
    assert [c.kernel_size[0] for c in convs] == [3] * 7 + [1]
    assert all(c.padding == c.dilation for c in convs[:7]) and convs[7].padding == (0, 0)
    fields = receptive_field([ConvSpec(c.kernel_size[0], 1, c.padding[0], c.dilation[0]) for c in convs])
    assert [f.size for f in fields] == [3, 5, 9, 17, 33, 65, 67, 67]
    ident = builtin.context(identity_init=True)
    x = torch.rand(1, 21, 20, 20)
    with torch.no_grad():
        assert torch.equal(ident(x), x)


def _input_support(model: nn.Module, size: int = 41) -> set[tuple[int, int]]:
    """Offsets from the centre of the input positions the centre output depends on (positive
    weights, no bias, positive input: nothing cancels)."""
    model = model.double()
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.Conv2d):
                m.weight.fill_(1.0 / m.weight[0].numel())
                m.bias.zero_()
    x = torch.rand(1, 3, size, size, dtype=torch.float64, requires_grad=True)
    c = size // 2
    model(x)[0, :, c, c].sum().backward()
    ys, xs = torch.nonzero(x.grad.abs().sum(1)[0], as_tuple=True)
    return {(int(a) - c, int(b) - c) for a, b in zip(ys, xs, strict=True)}


def test_gridding_versus_hdc():
    grid, hybrid = get_builtin("gridding-222"), get_builtin("hdc-125")
    assert [m.dilation[0] for m in grid.modules() if isinstance(m, nn.Conv2d)] == [2, 2, 2]
    assert [m.dilation[0] for m in hybrid.modules() if isinstance(m, nn.Conv2d)] == [1, 2, 5]
    assert not hdc([2, 2, 2], 3).ok and hdc([1, 2, 5], 3).ok
    # 2, 2, 2: a 13x13 window read on a period-2 grid only; 1, 2, 5: the full 17x17 window
    assert _input_support(grid) == {(a, b) for a in range(-6, 7, 2) for b in range(-6, 7, 2)}
    assert _input_support(hybrid) == {(a, b) for a in range(-8, 9) for b in range(-8, 9)}


# =========================================================================== spectra

RNG = np.random.default_rng(20240607)
KERNELS = [RNG.standard_normal(k) for k in (1, 2, 3, 4, 5, 7)]


def direct_response(kernel: np.ndarray, w: np.ndarray) -> np.ndarray:
    """``sum_t k[t] exp(-i w t)``, written out with a Python loop over taps."""
    out = np.zeros(w.shape, dtype=np.complex128)
    for t, tap in enumerate(kernel):
        out += tap * (np.cos(w * t) - 1j * np.sin(w * t))
    return out


@pytest.mark.parametrize("d", [1, 2, 3, 4, 5])
@pytest.mark.parametrize("ki", range(len(KERNELS)))
def test_dilated_response_is_undilated_at_d_w(ki, d):
    k = KERNELS[ki]
    n = 257
    w, h_d = frequency_response(k, d, n)
    assert w.shape == h_d.shape == (n,)
    assert w[0] == 0.0 and w[-1] == np.pi
    # (1) the undilated response evaluated at d * w, computed directly
    np.testing.assert_allclose(h_d, direct_response(k, d * w), rtol=0, atol=1e-12)
    # (2) the undilated response on the same grid, compressed by d and mirrored/repeated:
    #     d*w_j = pi * (d j) / (n - 1); fold d j into [0, 2 (n - 1)), then H(2 pi - v) = conj H(v)
    _, h_1 = frequency_response(k, 1, n)
    m = (d * np.arange(n)) % (2 * (n - 1))
    folded = np.where(m <= n - 1, h_1[np.minimum(m, n - 1)], np.conj(h_1[np.clip(2 * (n - 1) - m, 0, n - 1)]))
    np.testing.assert_allclose(h_d, folded, rtol=0, atol=1e-11)
    # the magnitude is periodic with period 2 pi / d: d copies of the undilated one over [0, 2 pi)
    _, mag = magnitude_response(k, d, n)
    np.testing.assert_allclose(mag, np.abs(h_d))
    # the same through dtft at arbitrary frequencies
    v = RNG.uniform(-4, 4, size=(3, 5))
    np.testing.assert_allclose(dtft(k, v, d), direct_response(k, d * v), atol=1e-12)


@pytest.mark.parametrize("d", [1, 2, 3, 5])
def test_dilated_response_is_fft_of_zero_inserted_kernel(d):
    for k in KERNELS:
        n = 129
        _, h = frequency_response(k, d, n)
        dilated = dilate_kernel(k, d)
        assert dilated.shape == (d * (len(k) - 1) + 1,)
        # w_j = pi j / (n - 1) = 2 pi j / L with L = 2 (n - 1): the first n FFT bins
        fft = np.fft.fft(dilated, 2 * (n - 1))[:n]
        np.testing.assert_allclose(h, fft, rtol=0, atol=1e-11)


def test_frequency_response_accepts_tensors_and_validates():
    w, h = frequency_response(torch.tensor([1.0, 2.0, 1.0], requires_grad=True), 2, n=9)
    np.testing.assert_allclose(h, direct_response(np.array([1.0, 2.0, 1.0]), 2 * w), atol=1e-12)
    for bad in ([], [[1.0, 2.0]], [1.0, np.nan], "abc", None):
        with pytest.raises(SpecError):
            frequency_response(bad)
    for d in (0, -1, 1.5, True):
        with pytest.raises(SpecError):
            frequency_response([1.0, 1.0], d)
    with pytest.raises(SpecError):
        frequency_response([1.0, 1.0], 1, n=1)


def test_response_2d_matches_direct_2d_dtft():
    k = RNG.standard_normal((3, 4))
    for dil in [(1, 1), (2, 3), (5, 2)]:
        n = 24
        w, mag = response_2d(k, dil, n)
        assert mag.shape == (n, n) and w.shape == (n,)
        assert w[n // 2] == 0.0 and np.isclose(w[0], -np.pi)
        wy, wx = np.meshgrid(w, w, indexing="ij")
        direct = sum(k[a, b] * np.exp(-1j * (wy * a * dil[0] + wx * b * dil[1])) for a in range(3) for b in range(4))
        np.testing.assert_allclose(mag, np.abs(direct), atol=1e-11)
    # separable kernels: the product of the 1-d dilated responses
    a, b = np.array([1.0, 2.0, 1.0]), np.array([1.0, -1.0])
    w, mag = response_2d(np.outer(a, b), (3, 2), 16)
    np.testing.assert_allclose(mag, np.outer(np.abs(dtft(a, w, 3)), np.abs(dtft(b, w, 2))), atol=1e-12)
    _, mag_int = response_2d(np.outer(a, b), 2, 16)
    _, mag_pair = response_2d(np.outer(a, b), (2, 2), 16)
    np.testing.assert_array_equal(mag_int, mag_pair)
    with pytest.raises(SpecError):
        response_2d(np.ones((3, 3)), 8, n=16)  # dilated extent 17 > 16
    with pytest.raises(SpecError):
        response_2d(np.ones(3))
    with pytest.raises(SpecError):
        response_2d(np.ones((3, 3)), (1, 2, 3))


BOX_CUTOFF = math.acos((3 / math.sqrt(2) - 1) / 2)  # |1 + 2 cos w| / 3 = 1/sqrt(2)


def test_cutoff_closed_forms():
    assert cutoff([1.0, 1.0, 1.0]) == pytest.approx(BOX_CUTOFF, abs=1e-14)
    assert cutoff([0.25, 0.5, 0.25]) == pytest.approx(2 * math.acos(2**-0.25), abs=1e-14)
    assert cutoff([0.5, 0.5]) == pytest.approx(math.pi / 2, abs=1e-14)  # |cos(w/2)| = 1/sqrt 2
    assert cutoff([0.5, 0.5], level=0.5) == pytest.approx(2 * math.pi / 3, abs=1e-14)
    # scale and sign do not matter
    assert cutoff([-3.0, -3.0, -3.0]) == pytest.approx(BOX_CUTOFF, abs=1e-14)


@pytest.mark.parametrize("ki", range(len(KERNELS)))
def test_cutoff_divides_by_dilation_exactly(ki):
    k = np.abs(KERNELS[ki]) + 0.1  # positive taps: |H(0)| is the maximum, a lowpass kernel
    if len(k) == 1:
        with pytest.raises(SpecError, match="never falls"):
            cutoff(k)
        return
    wc = cutoff(k)
    for d in range(1, 9):
        assert cutoff(k, d) == wc / d
    # it is the first crossing: above the level before it, at the level on it
    dc = abs(k.sum())
    assert abs(abs(dtft(k, wc)) - dc / math.sqrt(2)) < 1e-12 * dc
    before = np.linspace(0, wc, 2000, endpoint=False)
    assert np.all(np.abs(dtft(k, before)) > dc / math.sqrt(2))
    # and the dilated response crosses at wc / d
    for d in (2, 3, 7):
        assert abs(abs(dtft(k, wc / d, d)) - dc / math.sqrt(2)) < 1e-12 * dc


@given(
    st.lists(st.floats(0.05, 10.0), min_size=2, max_size=9),
    st.integers(1, 64),
    st.floats(0.05, 0.95),
)
def test_cutoff_relation_property(taps, d, level):
    try:
        wc = cutoff(taps, 1, level)
    except SpecError:  # |H| may stay above the level (e.g. [1, 4]: |H| >= 3/5): so it does dilated
        assert min(abs(dtft(taps, np.linspace(0, np.pi, 4096)))) > level * sum(taps) * (1 - 1e-9)
        with pytest.raises(SpecError, match="never falls"):
            cutoff(taps, d, level)
        return
    assert 0 < wc <= math.pi
    assert cutoff(taps, d, level) == wc / d


def test_cutoff_errors():
    with pytest.raises(SpecError, match=r"\|H\(0\)\|"):
        cutoff([1.0, -1.0])
    with pytest.raises(SpecError, match="zero"):
        cutoff([1.0, -2.0, 1.0], dilation=3)
    with pytest.raises(SpecError, match="zero"):
        cutoff([0.1, 0.2, -0.3])  # sums to 5.6e-17 in floating point
    with pytest.raises(SpecError, match="never falls"):
        cutoff([1.0])  # an impulse passes everything
    for level in (0.0, 1.0, -0.5, 2.0, "half"):
        with pytest.raises(SpecError, match="level"):
            cutoff([1.0, 1.0], level=level)
    with pytest.raises(SpecError, match="dilation"):
        cutoff([1.0, 1.0], dilation=0)


def test_rule_of_thumb_stride_examples():
    pi = math.pi
    assert rule_of_thumb_stride(1, pi) == 1
    assert rule_of_thumb_stride(5, pi) == 5
    assert rule_of_thumb_stride(1, pi / 2) == 2
    assert rule_of_thumb_stride(6, pi / 2) == 12
    assert rule_of_thumb_stride(4, pi / 3) == 12  # pi * 4 / (pi / 3) rounds to 11.999..., still 12
    assert rule_of_thumb_stride(3, pi / 7) == 21
    assert rule_of_thumb_stride(2, 1.0) == 6  # 2 pi = 6.28
    assert rule_of_thumb_stride(1, 0.9 * pi) == 1
    for r in range(1, 30):
        for wc in (0.3, 1.0, 2.2, BOX_CUTOFF):
            m = rule_of_thumb_stride(r, wc)
            assert wc / r <= pi / m and wc / r > pi / (m + 1)
    for bad_r in (0, -2, 1.5, "2"):
        with pytest.raises(SpecError, match="dilation"):
            rule_of_thumb_stride(bad_r, 1.0)
    for bad_wc in (0.0, -1.0, 3.2, float("nan"), float("inf"), "x", None):
        with pytest.raises(SpecError, match="cutoff"):
            rule_of_thumb_stride(2, bad_wc)
    assert band_limit(6, BOX_CUTOFF) == pytest.approx((2 * pi - BOX_CUTOFF) / 6)


def _path_magnitude_fft(stages, n_fft=1 << 16):
    """|H| of a path on [0, pi], independently: the FFT of the full impulse response (the
    zero-inserted kernels convolved with each other)."""
    h = np.array([1.0])
    for k, d in stages:
        h = np.convolve(h, dilate_kernel(np.asarray(k, dtype=np.float64), d))
    mag = np.abs(np.fft.rfft(h, n=n_fft))
    w = np.linspace(0.0, np.pi, mag.shape[0])
    return w, mag


def _largest_clean_stride(stages, level=spectra.HALF_POWER):
    w, mag = _path_magnitude_fft(stages)
    limit = level * mag[0] * (1 + 1e-9)
    m = 1
    while m < 400 and np.all(mag[w >= np.pi / (m + 1)] <= limit):
        m += 1
    return m


def test_alias_free_stride_is_the_largest_stride_the_whole_path_allows():
    rng = np.random.default_rng(3)
    checked = 0
    for _ in range(60):
        k = rng.uniform(0.2, 1.0, size=rng.integers(2, 6))
        d = int(rng.integers(1, 9))
        before = []
        if rng.random() < 0.7:
            before.append((rng.uniform(0.2, 1.0, size=rng.integers(2, 12)), int(rng.integers(1, 3))))
        stages = [*before, (k, d)]
        m = alias_free_stride(k, d, before=before)
        w, mag = _path_magnitude_fft(stages)
        above = w[mag > spectra.HALF_POWER * mag[0]]
        w_last = float(above[-1])  # the last frequency the path passes above the level (FFT grid)
        ratio = np.pi / w_last
        if w_last >= w[-1]:
            assert m == 1
        elif abs(ratio - round(ratio)) > 1e-3 * ratio:  # not on a knife's edge between two strides
            assert m == math.floor(ratio), (k, d, before, m, ratio)
        assert abs(m - _largest_clean_stride(stages)) <= 1
        checked += 1
    assert checked == 60


def test_dilated_box_counter_example():
    """A 3-tap box dilated by 6: the rule promises M = 19, but H(6w) is back at full gain at pi/3
    and 2 pi/3, so even a stride of 2 aliases: two different inputs give the same strided output."""
    box = np.ones(3)
    assert rule_of_thumb_stride(6, cutoff(box)) == 19
    assert alias_free_stride(box, 6) == 1
    assert abs(dtft(box, math.pi / 3, dilation=6)) == pytest.approx(3.0)  # |H(0)| = 3
    n = np.arange(240)
    branch = dilate_kernel(box, 6)
    low = np.convolve(np.cos(np.pi / 3 * n), branch, mode="valid")[::2]
    high = np.convolve(np.cos(2 * np.pi / 3 * n), branch, mode="valid")[::2]
    # after the branch and a stride of 2, the frequencies pi/3 and 2 pi/3 are indistinguishable
    spec_low, spec_high = np.abs(np.fft.rfft(low)), np.abs(np.fft.rfft(high))
    assert np.argmax(spec_low) == np.argmax(spec_high)
    assert np.max(spec_high) == pytest.approx(np.max(spec_low), rel=0.05)


def test_rule_holds_when_the_input_is_band_limited():
    """With a low-pass in front whose cut-off is below 2 pi/r - w_c/r, the whole-path stride is
    the rule's floor(pi r / w_c)."""
    box = np.ones(3)
    for r in (2, 3, 4, 6):
        b = band_limit(r, BOX_CUTOFF)
        taps = 255
        t = np.arange(taps) - (taps - 1) / 2
        fc = 0.85 * b
        lowpass = fc / np.pi * np.sinc(fc / np.pi * t) * np.blackman(taps)
        assert alias_free_stride(box, r, before=[(lowpass, 1)]) == rule_of_thumb_stride(r, BOX_CUTOFF), r
        assert alias_free_stride(box, r) == 1  # without it, no stride is alias-free


def test_alias_free_stride_errors():
    with pytest.raises(SpecError, match="DC gain"):
        alias_free_stride([1.0, -1.0])
    with pytest.raises(SpecError, match="DC gain"):
        alias_free_stride([1.0, 1.0], before=[([1.0, -1.0], 1)])
    with pytest.raises(SpecError, match="dilation"):
        alias_free_stride([1.0, 1.0], 0)
    with pytest.raises(SpecError, match="before"):
        alias_free_stride([1.0, 1.0], before=[[1.0, 1.0, 1.0]])
    with pytest.raises(SpecError, match="before"):
        alias_free_stride([1.0, 1.0], before="box")
    with pytest.raises(SpecError, match="level"):
        alias_free_stride([1.0, 1.0], level=1.5)
    assert alias_free_stride([1.0]) == 1  # an impulse passes pi at full gain


def test_aspp_strides_from_each_branchs_path():
    box = [1.0, 1.0, 1.0]
    assert aspp_alias_free_strides((6, 12, 18), box) == {6: 1, 12: 1, 18: 1}
    smooth = [([1.0] * 8, 1)]
    strides = aspp_alias_free_strides((6, 12, 18), box, before=smooth)
    assert strides == {r: alias_free_stride(box, r, before=smooth) for r in (6, 12, 18)}
    assert strides[18] < rule_of_thumb_stride(18, BOX_CUTOFF)  # the average does not band-limit enough for r=18
    with pytest.raises(SpecError):
        aspp_alias_free_strides((), box)
    with pytest.raises(SpecError):
        aspp_alias_free_strides((6, 0), box)
    with pytest.raises(SpecError):
        aspp_alias_free_strides("6", box)
    with pytest.raises(SpecError, match="DC gain"):
        aspp_alias_free_strides((6,), [1.0, -1.0])


def test_spectra_does_not_import_torch_at_module_level():
    import ast
    import inspect

    tree = ast.parse(inspect.getsource(spectra))
    top = [n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))]
    names = {a.name for n in top for a in n.names} | {n.module for n in top if isinstance(n, ast.ImportFrom)}
    assert not any(str(name).startswith("torch") for name in names)
