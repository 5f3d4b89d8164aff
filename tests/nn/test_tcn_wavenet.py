"""TCN and WaveNet: published receptive fields, geometry == autograd support, causality."""

import pytest
import torch
from torch import nn

from atrous import nn as ann
from atrous.errors import SpecError
from atrous.geometry import tcn_receptive_field


def _support(model, x, t, head=lambda y: y):
    x = x.clone().requires_grad_(True)
    head(model(x))[..., t].sum().backward()
    return torch.nonzero(x.grad.abs().sum(dim=(0, 1))).flatten().tolist()


def test_tcn_receptive_field_formula():
    assert ann.TCN(2, [24] * 8, kernel_size=8).receptive_field == 3571 == tcn_receptive_field(8, 8)
    for n in (1, 3, 5):
        for k in (2, 3, 7):
            assert ann.TCN(1, [4] * n, kernel_size=k).receptive_field == tcn_receptive_field(n, k)


def test_tcn_field_equals_autograd_support():
    torch.manual_seed(0)
    tcn = ann.TCN(2, [3, 4, 4], kernel_size=3, weight_norm=False).double().eval()
    for p in tcn.parameters():
        nn.init.uniform_(p, 0.1, 1.0)  # positive: ReLUs pass, no cancellation
    n = 40
    field = tcn.field(input_size=n)
    assert field.size == 29
    x = torch.rand(1, 2, n, dtype=torch.float64) + 0.1
    for t in (0, 5, 28, 29, 39):
        assert _support(tcn, x, t) == list(field.support(t)) == list(range(max(0, t - 28), t + 1))


def test_tcn_options():
    tcn = ann.TCN(3, [8, 8, 8, 8], kernel_size=2, dilations="reset:2", skip_connections=True, dropout=0.1)
    assert tcn.dilations == (1, 2, 1, 2)
    assert tcn.receptive_field == 1 + 2 * 1 * (1 + 2 + 1 + 2)
    assert tcn(torch.randn(2, 3, 20)).shape == (2, 8, 20)
    explicit = ann.TCN(3, [8, 16], kernel_size=3, dilations=[1, 5])
    assert explicit.blocks[0].downsample is not None and explicit.blocks[1].downsample is not None
    assert explicit.receptive_field == 1 + 2 * 2 * 6
    # weight norm is a parametrization
    assert torch.nn.utils.parametrize.is_parametrized(explicit.blocks[0].conv1)
    with pytest.raises(SpecError, match="dilations has 1 entries, expected 2"):
        ann.TCN(3, [8, 8], dilations=[1])
    with pytest.raises(SpecError, match="dilations must be 'exponential', 'reset:N'"):
        ann.TCN(3, [8, 8], dilations="linear")
    with pytest.raises(SpecError, match="dropout must be in"):
        ann.TCN(3, [8], dropout=1.5)


def test_tcn_causal():
    torch.manual_seed(1)
    tcn = ann.TCN(2, [8, 8], kernel_size=3).eval()
    x = torch.randn(1, 2, 50)
    y = tcn(x)
    x2 = x.clone()
    x2[..., 30:] = torch.randn(1, 2, 20)
    torch.testing.assert_close(tcn(x2)[..., :30], y[..., :30])


def test_wavenet_receptive_fields():
    assert ann.WaveNet(residual_channels=4, layers_per_cycle=10, cycles=1).receptive_field == 1024
    assert ann.WaveNet(residual_channels=4, layers_per_cycle=10, cycles=3).receptive_field == 3070
    assert ann.WaveNet(residual_channels=4, kernel_size=3, layers_per_cycle=4, cycles=2).receptive_field == 1 + 2 * 30


def test_wavenet_field_equals_autograd_support():
    torch.manual_seed(0)
    net = ann.WaveNet(1, 4, residual_channels=4, layers_per_cycle=4, cycles=2).double()
    net.head[0] = nn.Identity()  # the head's ReLUs could zero a gradient; the geometry is unchanged
    net.head[2] = nn.Identity()
    n = 50
    field = net.field(input_size=n)
    assert field.size == 31
    x = torch.randn(1, 1, n, dtype=torch.float64)
    for t in (0, 10, 30, 49):
        assert _support(net, x, t) == list(field.support(t))


def test_wavenet_conditioning():
    torch.manual_seed(0)
    net = ann.WaveNet(1, 8, residual_channels=8, layers_per_cycle=3, cycles=1, cond_channels=5, global_cond_channels=3)
    x, c, g = torch.randn(2, 1, 30), torch.randn(2, 5, 30), torch.randn(2, 3)
    y = net(x, c, g)
    assert y.shape == (2, 8, 30)
    assert not torch.allclose(y, net(x, c, torch.randn(2, 3)))
    assert not torch.allclose(y, net(x, torch.randn(2, 5, 30), g))
    # local conditioning is used at time t only (1x1): changing c after t leaves earlier outputs
    c2 = c.clone()
    c2[..., 20:] += 1
    torch.testing.assert_close(net(x, c2, g)[..., :20], y[..., :20])
    with pytest.raises(SpecError, match="pass c of shape"):
        net(x, None, g)
    with pytest.raises(SpecError, match="pass g of shape"):
        net(x, c)


def test_wavenet_trains():
    torch.manual_seed(0)
    net = ann.WaveNet(1, 2, residual_channels=8, layers_per_cycle=3, cycles=1)
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    x = torch.randn(4, 1, 32)
    target = (torch.roll(x, 3, dims=-1)[:, 0] > 0).long()  # the sign 3 steps back: inside the field
    first = None
    for _ in range(60):
        loss = nn.functional.cross_entropy(net(x), target)
        opt.zero_grad()
        loss.backward()
        opt.step()
        first = first if first is not None else loss.item()
    assert loss.item() < 0.5 * first
