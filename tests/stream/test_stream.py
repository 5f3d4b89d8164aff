"""atrous.stream: streaming equals model(full input) for every chunking; state, reset, export."""

import importlib.util
import random
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

import atrous.stream
from atrous import nn as ann
from atrous.errors import SpecError
from atrous.stream import Residual, Streamer, fast, register_pointwise, stream

TOL = {"atol": 1e-5, "rtol": 1e-5}


@pytest.fixture(autouse=True)
def _one_thread():
    """Thousands of tiny ops: one intra-op thread avoids waiting on a busy second core."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _chunks(T, rng, rf):
    """Random chunk sizes summing to T: ones, short chunks and one longer than the RF."""
    sizes, left = [], T
    long_done = False
    while left:
        r = rng.random()
        if not long_done and left > rf and r < 0.3:
            n = rng.randint(rf + 1, left)
            long_done = True
        elif r < 0.5:
            n = 1
        else:
            n = rng.randint(1, min(left, 9))
        n = min(n, left)
        sizes.append(n)
        left -= n
    return sizes


def _run(s, x, sizes, c=None, g=None):
    """Stream x (B, C, T) through s: chunks of one sample use step(), others push()."""
    outs, t = [], 0
    for n in sizes:
        if n == 1:
            ct = None if c is None else c[:, :, t]
            outs.append(s.step(x[:, :, t], ct, g).unsqueeze(2))
        else:
            cc = None if c is None else c[:, :, t : t + n]
            outs.append(s.push(x[:, :, t : t + n], cc, g))
        t += n
    return torch.cat(outs, 2)


def _full(model, *args):
    with torch.no_grad():
        return model(*args)


@pytest.fixture(params=[1, 64], ids=["span1", "span64"])
def span(request, monkeypatch):
    """Ring length: span 1 rewinds the rings as often as possible (every k-1 samples per phase)."""
    monkeypatch.setattr(fast, "RING_SPAN", request.param)
    return request.param


# -------------------------------------------------------------------------------------------
# exactness


@pytest.mark.parametrize("seed", range(4))
def test_random_tcn_every_chunking(seed, span):
    rng = random.Random(seed)
    torch.manual_seed(seed)
    cin = rng.choice([1, 3, 5])
    widths = [rng.choice([4, 5, 6]) for _ in range(rng.randint(1, 4))]
    k = rng.choice([2, 3, 4])
    dil = rng.choice(["exponential", "reset:2", [rng.randint(1, 5) for _ in widths]])
    tcn = ann.TCN(
        cin,
        widths,
        kernel_size=k,
        dilations=dil,
        skip_connections=rng.random() < 0.5,
        weight_norm=rng.random() < 0.7,
        activation=rng.choice([nn.ReLU, nn.GELU, nn.Tanh]),
    ).eval()
    for p in tcn.parameters():  # the paper's N(0, 0.01) makes everything tiny: use O(1) weights
        nn.init.normal_(p, 0.0, 0.4)
    B = rng.randint(1, 3)
    s = stream(tcn, batch_size=B)
    assert s.receptive_field == tcn.receptive_field
    T = s.receptive_field + rng.randint(20, 90)
    x = torch.randn(B, cin, T)
    ref = _full(tcn, x)
    for _trial in range(3):
        s.reset()
        torch.testing.assert_close(_run(s, x, _chunks(T, rng, s.receptive_field)), ref, **TOL)
    s.reset()
    torch.testing.assert_close(_run(s, x, [1] * T), ref, **TOL)  # step only
    s.reset()
    torch.testing.assert_close(s.push(x), ref, **TOL)  # one chunk


@pytest.mark.parametrize("seed", range(3))
def test_random_wavenet_with_conditioning(seed, span):
    rng = random.Random(100 + seed)
    torch.manual_seed(100 + seed)
    cond, gcond = rng.choice([(0, 0), (3, 0), (0, 2), (3, 2)])
    net = ann.WaveNet(
        in_channels=rng.choice([1, 4]),
        out_channels=rng.choice([5, 7]),
        residual_channels=rng.choice([4, 6]),
        gate_channels=rng.choice([None, 5]),
        skip_channels=rng.choice([None, 3]),
        kernel_size=rng.choice([2, 3]),
        layers_per_cycle=rng.randint(2, 4),
        cycles=rng.randint(1, 2),
        cond_channels=cond,
        global_cond_channels=gcond,
    ).eval()
    B = rng.randint(1, 3)
    s = stream(net, batch_size=B)
    assert s.receptive_field == net.receptive_field
    T = s.receptive_field + rng.randint(10, 70)
    x = torch.randn(B, net.input.in_channels, T)
    c = torch.randn(B, cond, T) if cond else None
    g = torch.randn(B, gcond) if gcond else None
    ref = _full(net, x, c, g)
    for _trial in range(3):
        s.reset()
        torch.testing.assert_close(_run(s, x, _chunks(T, rng, s.receptive_field), c, g), ref, **TOL)
    s.reset()
    torch.testing.assert_close(_run(s, x, [1] * T, c, g), ref, **TOL)


def test_every_split_of_a_short_input():
    """All 2^(T-1) ways to cut T = 9 samples into chunks (the receptive field is 7)."""
    torch.manual_seed(11)
    model = ann.TCN(2, [3, 3], kernel_size=2, dilations=[1, 2], skip_connections=True).eval()
    s = stream(model, batch_size=2)
    assert s.receptive_field == 7
    T = 9
    x = torch.randn(2, 2, T)
    ref = _full(model, x)
    for mask in range(2 ** (T - 1)):
        sizes, n = [], 1
        for i in range(T - 1):
            if mask >> i & 1:
                sizes.append(n)
                n = 1
            else:
                n += 1
        sizes.append(n)
        s.reset()
        torch.testing.assert_close(_run(s, x, sizes), ref, **TOL)


def test_sequential_with_pointwise_layers(span):
    torch.manual_seed(1)
    bn = nn.BatchNorm1d(6)
    with torch.no_grad():
        bn.running_mean.normal_()
        bn.running_var.uniform_(0.5, 2.0)
        bn.weight.normal_()
        bn.bias.normal_()
    model = nn.Sequential(
        nn.BatchNorm1d(3),  # before any conv: cannot be folded, stays an affine step
        ann.CausalConv1d(3, 6, 3, dilation=2),
        nn.ReLU(),
        nn.Conv1d(6, 6, 1),
        bn,  # folded into the 1x1 conv
        nn.Dropout(0.3),
        nn.PReLU(6),
        ann.CausalConv1d(6, 6, 2, dilation=3, groups=3),
        nn.LeakyReLU(0.1),
        ann.Conv1d(6, 4, 3, padding=((4, 0),), dilation=2),  # an explicit causal pair
        nn.GELU(approximate="tanh"),
        nn.Softmax(dim=1),
    )
    with torch.no_grad():
        model[0].running_mean.normal_()
        model[0].running_var.uniform_(0.5, 2.0)
    model.eval()
    s = stream(model, batch_size=2)
    assert s.receptive_field == 1 + 4 + 3 + 4
    x = torch.randn(2, 3, 80)
    ref = _full(model, x)
    rng = random.Random(0)
    for _ in range(3):
        s.reset()
        torch.testing.assert_close(_run(s, x, _chunks(80, rng, s.receptive_field)), ref, **TOL)


def test_residual_composition_and_registered_pointwise():
    class Square(nn.Module):
        def forward(self, x):
            return x * x

    register_pointwise(Square)
    torch.manual_seed(2)
    block = Residual(
        nn.Sequential(ann.CausalConv1d(4, 4, 3, dilation=2), Square(), ann.CausalConv1d(4, 4, 2, dilation=4)),
        shortcut=nn.Conv1d(4, 4, 1),
        activation=nn.Tanh(),
    )
    model = nn.Sequential(
        ann.CausalConv1d(2, 4, 2), block, Residual(nn.Sequential(nn.ReLU(), ann.CausalConv1d(4, 4, 3)))
    )
    model.eval()
    s = stream(model, batch_size=3)
    x = torch.randn(3, 2, 60)
    ref = _full(model, x)
    torch.testing.assert_close(_run(s, x, _chunks(60, random.Random(1), s.receptive_field)), ref, **TOL)


def test_float64_is_exact_to_rounding():
    torch.manual_seed(3)
    tcn = ann.TCN(2, [5, 5, 5], kernel_size=3).double().eval()
    s = stream(tcn, batch_size=2)
    assert s.dtype == torch.float64
    x = torch.randn(2, 2, 70, dtype=torch.float64)
    torch.testing.assert_close(_run(s, x, [1] * 70), _full(tcn, x), atol=1e-12, rtol=1e-12)


def test_step_shapes():
    tcn = ann.TCN(3, [4], kernel_size=2).eval()
    s = stream(tcn, batch_size=2)
    x = torch.randn(2, 3, 1)
    assert s.step(x).shape == (2, 4)
    assert s.step(x[:, :, 0]).shape == (2, 4)
    assert s.push(torch.randn(2, 3, 0)).shape == (2, 4, 0)
    assert s.steps == 2
    with pytest.raises(SpecError, match=r"\(B, C_in\)"):
        s.step(torch.randn(3, 3))
    with pytest.raises(SpecError, match="push"):
        s.push(torch.randn(2, 4, 5))
    assert "receptive_field=3" in repr(s)


# -------------------------------------------------------------------------------------------
# batches, reset, state


def test_reset_mask_restarts_only_those_streams():
    torch.manual_seed(4)
    tcn = ann.TCN(2, [6, 6, 6], kernel_size=3, skip_connections=True).eval()
    B = 4
    s = stream(tcn, batch_size=B)
    a = torch.randn(B, 2, 40)
    b = torch.randn(B, 2, 50)
    s.push(a[:, :, :25])
    for t in range(25, 40):
        s.step(a[:, :, t])
    mask = torch.tensor([True, False, True, False])
    s.reset(mask)
    y = _run(s, b, [1, 7, 1, 1, 30, 10])
    fresh = _full(tcn, b)  # streams 0 and 2 start over on b
    cont = _full(tcn, torch.cat([a, b], 2))[:, :, 40:]  # streams 1 and 3 go on
    torch.testing.assert_close(y[mask], fresh[mask], **TOL)
    torch.testing.assert_close(y[~mask], cont[~mask], **TOL)
    with pytest.raises(SpecError, match="mask"):
        s.reset(torch.tensor([1, 0, 1, 0]))


def test_state_dict_round_trip_resumes_exactly():
    torch.manual_seed(5)
    net = ann.WaveNet(2, 6, residual_channels=5, layers_per_cycle=4, cycles=2, cond_channels=2).eval()
    keys_before = set(net.state_dict())
    s = stream(net, batch_size=2)
    x, c = torch.randn(2, 2, 90), torch.randn(2, 2, 90)
    s.push(x[:, :, :37], c[:, :, :37])
    s.step(x[:, :, 37], c[:, :, 37])
    sd = s.state_dict()
    assert sd["steps"].item() == 38
    assert set(sd) == {*s.state_names, "steps"}
    assert all(sd[name].shape[2] == layer.conv.context for name, layer in zip(s.state_names, net.layers, strict=True))
    rest = s.push(x[:, :, 38:], c[:, :, 38:])
    # a new streamer (another ring layout too) resumes from the saved state
    other = Streamer(net, batch_size=2)
    other.step(torch.randn(2, 2), torch.randn(2, 2))  # garbage that load_state_dict replaces
    other.load_state_dict(sd)
    torch.testing.assert_close(_run(other, x[:, :, 38:], [1, 1, 5, 45], c[:, :, 38:]), rest, **TOL)
    torch.testing.assert_close(rest, _full(net, x, c)[:, :, 38:], **TOL)
    # the streaming state never enters the model's checkpoint
    assert set(net.state_dict()) == keys_before
    assert not any("stream" in k or "ring" in k for k in net.state_dict())
    with pytest.raises(SpecError, match="missing"):
        other.load_state_dict({"steps": torch.tensor(0)})


def test_refresh_after_weight_change_keeps_state():
    torch.manual_seed(6)
    tcn = ann.TCN(2, [4, 4], kernel_size=3).eval()
    s = stream(tcn, batch_size=1)
    x = torch.randn(1, 2, 40)
    s.push(x[:, :, :20])
    before = s.state_dict()
    with torch.no_grad():
        for p in tcn.parameters():
            p.mul_(1.5)
    s.refresh()  # the weights are read again, the streams' state is kept
    after = s.state_dict()
    assert after.keys() == before.keys()
    assert all(torch.equal(before[k], after[k]) for k in before)
    s.reset()
    torch.testing.assert_close(s.push(x), _full(tcn, x), **TOL)


# -------------------------------------------------------------------------------------------
# refusals


def _refuses(model, *patterns, **kw):
    with pytest.raises(SpecError) as info:
        stream(model, **kw)
    text = str(info.value)
    assert "\n" not in text, text
    for p in patterns:
        assert p in text, text


def test_refusals_name_the_node_the_op_and_why():
    """Models that cannot stream exactly are refused before any state exists."""
    _refuses(nn.Sequential(ann.CausalConv1d(2, 2, 3), nn.BatchNorm1d(2)), "'1'", "batch_norm", "training mode")
    bn_model = nn.Sequential(ann.CausalConv1d(2, 2, 3), nn.BatchNorm1d(2)).eval()
    bn_model[1].train()
    _refuses(bn_model, "'1'", "training mode")
    tcn = ann.TCN(2, [4, 4], kernel_size=3)  # train mode: dropout is random
    _refuses(tcn, "'blocks.0.drop1'", "dropout")
    _refuses(nn.Sequential(ann.CausalConv1d(2, 2, 3), nn.GroupNorm(1, 2)), "'1'", "group_norm", "mixes time")
    _refuses(nn.Sequential(ann.CausalConv1d(2, 2, 3), nn.Softmax(dim=2)), "'1'", "softmax", "mixes time")
    _refuses(nn.Sequential(nn.Conv1d(2, 2, 3), nn.AdaptiveAvgPool1d(1)), "'1'", "adaptive_avg_pool1d")

    class Attention(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv1d(2, 6, 1)

        def forward(self, x):
            q, k, v = self.conv(x).transpose(1, 2).chunk(3, -1)
            return torch.nn.functional.scaled_dot_product_attention(q, k, v).transpose(1, 2)

    _refuses(Attention().eval(), "scaled_dot_product_attention", "mixes time")

    class Reversed(nn.Module):
        def forward(self, x):
            return x.flip(-1).cumsum(-1).flip(-1)

    _refuses(nn.Sequential(nn.Conv1d(2, 2, 1), Reversed()).eval(), "'1'", "flip")

    class TFSame(nn.Module):  # the end padding completes the last frame: it depends on the length
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv1d(2, 2, 4, stride=3)

        def forward(self, x):
            n = x.shape[-1]
            total = max((-(-n // 3) - 1) * 3 + 4 - n, 0)
            return self.conv(torch.nn.functional.pad(x, (total // 2, total - total // 2)))

    _refuses(TFSame().eval(), "depends on the input's length")

    class FixedCrop(nn.Module):
        def forward(self, x):
            return x[..., :100]

    _refuses(nn.Sequential(nn.Conv1d(2, 2, 1), FixedCrop()), "fixed, not relative to the end")

    class BiLSTM(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv1d(2, 2, 1)
            self.rnn = nn.LSTM(2, 2, batch_first=True, bidirectional=True)

        def forward(self, x):
            return self.rnn(self.conv(x).transpose(1, 2))[0].transpose(1, 2)

    _refuses(BiLSTM().eval(), "'rnn'", "lstm", "bidirectional")


def test_what_the_old_streamer_refused_now_streams():
    """Non-causal padding (lookahead), valid convolutions, strides, transposed layers,
    replicate padding, forward overrides and hooks: exact, with their latency."""
    torch.manual_seed(3)

    class MyTCN(ann.TCN):
        def forward(self, x):
            return super().forward(x) * 2

    hooked = nn.Sequential(ann.CausalConv1d(2, 2, 3)).eval()
    hooked[0].register_forward_hook(lambda m, i, o: o * 2)
    cases = [
        (nn.Sequential(ann.CausalConv1d(2, 2, 3), nn.Conv1d(2, 2, 3, padding=1)), 1),
        (nn.Sequential(ann.Conv1d(2, 2, 3, padding="same", dilation=2)), 2),
        (nn.Sequential(nn.Conv1d(2, 2, 3)), 2),
        (nn.Sequential(ann.CausalConv1d(2, 2, 3, padding_mode="replicate")), 0),
        (nn.Sequential(ann.CausalConv1d(2, 2, 3), nn.ConvTranspose1d(2, 2, 3)), 0),
        (MyTCN(2, [3], dropout=0.0), 0),
        (hooked, 0),
    ]
    for model, latency in cases:
        model = model.eval().double()
        s = stream(model, batch_size=2)
        assert s.latency == latency, (model, s.latency)
        x = torch.randn(2, 2, 40, dtype=torch.float64)
        y = torch.cat([s.push(x[:, :, :13]), s.push(x[:, :, 13:14]), s.push(x[:, :, 14:]), s.flush()], 2)
        assert torch.allclose(y, _full(model, x), atol=1e-12), model


# -------------------------------------------------------------------------------------------
# generation


def _wavenet(**kw):
    torch.manual_seed(7)
    return ann.WaveNet(**kw).eval()


def test_generate_is_deterministic_and_equals_stepping_by_hand():
    net = _wavenet(
        in_channels=8,
        out_channels=8,
        residual_channels=6,
        layers_per_cycle=3,
        cycles=2,
        cond_channels=2,
        global_cond_channels=3,
    )
    B, n = 3, 40
    c, g = torch.randn(B, 2, n), torch.randn(B, 3)
    first = torch.zeros(B, 8)
    first[:, 4] = 1
    s = stream(net, batch_size=B)
    out, logits = s.generate(n, first=first, c=c, g=g, return_logits=True)
    assert out.shape == (B, 8, n) and logits.shape == (B, 8, n)
    assert torch.all(out.sum(1) == 1)  # one-hot
    s.reset()
    again = s.generate(n, first=first, c=c, g=g)
    assert torch.equal(out, again)
    # by hand
    s.reset()
    x, ys, xs = first, [], []
    for t in range(n):
        y = s.step(x, c[:, :, t], g)
        x = torch.zeros_like(y).scatter_(1, y.argmax(1, keepdim=True), 1.0)
        ys.append(y)
        xs.append(x)
    torch.testing.assert_close(torch.stack(ys, 2), logits, atol=0, rtol=0)
    torch.testing.assert_close(torch.stack(xs, 2), out, atol=0, rtol=0)
    # and the model itself agrees on the generated sequence (teacher forcing)
    inputs = torch.cat([first.unsqueeze(2), out[:, :, :-1]], 2)
    torch.testing.assert_close(_full(net, inputs, c, g), logits, **TOL)


def test_generate_mu_law_and_custom_samplers():
    net = _wavenet(in_channels=1, out_channels=16, residual_channels=4, layers_per_cycle=3, cycles=1)
    s = stream(net, batch_size=2)
    out = s.generate(20)
    assert out.shape == (2, 1, 20) and out.abs().max() <= 1.0
    q = atrous.stream.mu_law_encode(out, 16)
    torch.testing.assert_close(atrous.stream.mu_law_decode(q, 16), out)
    s.reset()
    a = s.generate(15, sample=atrous.stream.categorical(0.8, torch.Generator().manual_seed(0), one_hot=False))
    s.reset()
    b = s.generate(15, sample=atrous.stream.categorical(0.8, torch.Generator().manual_seed(0), one_hot=False))
    assert torch.equal(a, b)
    wide = stream(_wavenet(in_channels=3, out_channels=5, residual_channels=4, layers_per_cycle=2, cycles=1))
    with pytest.raises(SpecError, match="sample="):
        wide.generate(3)


# -------------------------------------------------------------------------------------------
# export


def _conditioned_net():
    return _wavenet(
        in_channels=3,
        out_channels=5,
        residual_channels=4,
        layers_per_cycle=3,
        cycles=2,
        cond_channels=2,
        global_cond_channels=2,
    )


def _eager_steps(s, x, c, g):
    return torch.stack([s.step(x[:, :, t], c[:, :, t], g) for t in range(x.shape[2])], 2)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_torchscript_step_matches_eager(tmp_path):
    net = _conditioned_net()
    s = stream(net, batch_size=2)
    x, c, g = torch.randn(2, 3, 30), torch.randn(2, 2, 30), torch.randn(2, 2)
    scripted = s.export_torchscript(tmp_path / "step.pt")
    loaded = torch.jit.load(str(tmp_path / "step.pt"))
    states = s.initial_states()
    ys = []
    for t in range(30):
        y, *states = loaded(x[:, :, t : t + 1], c[:, :, t : t + 1], g, *states)
        ys.append(y)
    eager = _eager_steps(s, x, c, g)
    torch.testing.assert_close(torch.cat(ys, 2), eager, **TOL)
    # the scripted module also takes chunks, and its states equal the streamer's
    y, *states2 = scripted(x, c, g, *s.initial_states())
    torch.testing.assert_close(y, eager, **TOL)
    for a, b in zip(states2, s.states(), strict=True):
        torch.testing.assert_close(a, b, **TOL)


@pytest.mark.slow
def test_onnx_step_matches_eager(tmp_path):
    ort = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    net = _conditioned_net()
    s = stream(net, batch_size=2)
    path = s.export_onnx(str(tmp_path / "step.onnx"))
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    names_in, names_out = s.onnx_names()
    assert [i.name for i in session.get_inputs()] == names_in
    assert [o.name for o in session.get_outputs()] == names_out
    x, c, g = torch.randn(2, 3, 25), torch.randn(2, 2, 25), torch.randn(2, 2)
    states = [st.numpy() for st in s.initial_states()]
    ys = []
    for t in range(25):
        feed = {"x": x[:, :, t : t + 1].numpy(), "c": c[:, :, t : t + 1].numpy(), "g": g.numpy()}
        feed.update({f"state_{i}": st for i, st in enumerate(states)})
        y, *states = session.run(None, feed)
        ys.append(y)
    np.testing.assert_allclose(np.concatenate(ys, 2), _eager_steps(s, x, c, g).numpy(), atol=1e-5, rtol=1e-5)


# -------------------------------------------------------------------------------------------
# misc


def test_callable_module_and_plan_description():
    tcn = ann.TCN(1, [3, 3], kernel_size=2).eval()
    s = atrous.stream(tcn, batch_size=2)
    assert isinstance(s, Streamer)
    text = s.plan.describe()
    assert "blocks.1.conv2" in text and "receptive field 7" in text
    assert "latency 0" in s.describe()


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_gpu_streaming_matches_model():
    torch.manual_seed(8)
    dev = torch.device("cuda")
    tcn = ann.TCN(2, [8, 8, 8], kernel_size=3, skip_connections=True).eval().to(dev)
    net = ann.WaveNet(4, 4, residual_channels=8, layers_per_cycle=4, cycles=2, cond_channels=2, global_cond_channels=3)
    net = net.eval().to(dev)
    s = stream(tcn, batch_size=3)
    assert s.device.type == "cuda"
    x = torch.randn(3, 2, 80, device=dev)
    torch.testing.assert_close(_run(s, x, [1, 1, 30, 1, 47]), _full(tcn, x), **TOL)
    w = stream(net, batch_size=2)
    x, c, g = torch.randn(2, 4, 50, device=dev), torch.randn(2, 2, 50, device=dev), torch.randn(2, 3, device=dev)
    torch.testing.assert_close(_run(w, x, [1, 20, 1, 1, 27], c, g), _full(net, x, c, g), **TOL)
    w.reset(torch.tensor([True, False], device=dev))
    assert w.generate(5, c=c[:, :, :5], g=g, sample=lambda y: y[:, :4].softmax(1)).shape == (2, 4, 5)


def test_old_style_weight_norm_and_torch_layers():
    torch.manual_seed(9)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.nn.utils.weight_norm is deprecated, still used
        conv = torch.nn.utils.weight_norm(ann.CausalConv1d(3, 4, 3, dilation=2))
    with torch.no_grad():
        conv.weight_g.mul_(3.0)  # the folded weight must come from g and v, not a stale .weight
    model = nn.Sequential(conv, nn.ReLU(), nn.Conv1d(4, 2, 1), nn.Sigmoid()).eval()
    s = stream(model, batch_size=2)
    x = torch.randn(2, 3, 30)
    torch.testing.assert_close(_run(s, x, [1, 4, 1, 24]), _full(model, x), **TOL)


def test_states_are_ordinary_tensors():
    s = stream(ann.TCN(2, [3], kernel_size=3).eval(), batch_size=2)
    s.push(torch.randn(2, 2, 10))
    st = s.states()
    assert not st[0].is_inference()
    st[0].add_(1.0)  # usable outside inference mode
    assert s.initial_states()[0].shape == st[0].shape == (2, 2, 2)


@pytest.mark.slow
def test_benchmark_smoke(capsys):
    path = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_stream.py"
    spec = importlib.util.spec_from_file_location("bench_stream", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    assert bench.main(["--tiny", "--no-write"]) == 0
    out = capsys.readouterr().out
    assert "batch-1 step latency / floor" in out and "GEMM FLOP rate" in out
