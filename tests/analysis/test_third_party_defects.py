"""Regressions of the defects found by analysing third-party models, each written the way
the model it came from writes it (plain torch; the real packages are checked by the zoo's
thirdparty marker)."""

from __future__ import annotations

import math
import sys
import warnings
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import parametrizations

from atrous.analysis import GLOBAL, AnalysisWarning, Global, analyze, erf
from atrous.errors import SpecError
from atrous.geometry import ConvSpec, Field, receptive_field

sys.path.insert(0, str(Path(__file__).resolve().parent / "zoo"))

from zoo_models import ConvNextLayerNorm, Snake1d, TemporalConv1d
from zoo_oracle import brute_support, positive


def _autograd_support(model: nn.Module, shape: tuple[int, ...], y: int) -> tuple[int, ...]:
    report = analyze(model, shape)
    got = brute_support(positive(model), shape, report.node(), {0: y}, pick=lambda m, x: m(x))
    return tuple(sorted(p[0] for p in got))


# 1. a subclass of a conv layer with its own forward -----------------------------------------


def test_conv_subclass_that_pads_in_forward_is_traced_through() -> None:
    conv = parametrizations.weight_norm(TemporalConv1d(1, 1, 3, dilation=4, causal=True))
    report = analyze(conv, (1, 1, 16))
    f = report.field()[0]
    assert f.start == -8 and f.size == 9
    assert f.support(0) == (0,) == _autograd_support(conv, (1, 1, 16), 0)
    assert f.support(10) == (2, 6, 10) == _autograd_support(conv, (1, 1, 16), 10)


# 2. statistics over space ---------------------------------------------------------------------


def test_groupnorm_makes_the_field_global_and_frozen_is_labelled() -> None:
    model = nn.Sequential(nn.Conv1d(1, 4, 3), nn.GroupNorm(4, 4), nn.Conv1d(4, 4, 3))
    report = analyze(model, (1, 1, 32))
    node = report.node()
    assert node.fields == [GLOBAL]
    assert "group_norm" in node.why[0]
    with pytest.raises(SpecError, match=r"global.*group_norm"):
        report.field()
    frozen = report.field(statistics="frozen")[0]
    assert frozen.support(0) == (0, 1, 2, 3, 4)
    assert node.rf() == ["global"] and node.rf("frozen") == [5]
    assert "rf_frozen" in report.rows()[-1]


def test_layernorm_over_channels_is_pointwise_but_over_time_is_global() -> None:
    class ChannelsLastNorm(nn.Module):
        def __init__(self, over_time: bool) -> None:
            super().__init__()
            self.conv = nn.Conv1d(1, 4, 3)
            self.norm = nn.LayerNorm(30 if over_time else 4)
            self.over_time = over_time

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            y = self.conv(x)
            return self.norm(y) if self.over_time else self.norm(y.transpose(1, 2)).transpose(1, 2)

    assert analyze(ChannelsLastNorm(False), (1, 1, 32)).node().rf() == [3]
    assert analyze(ChannelsLastNorm(True), (1, 1, 32)).node().rf() == ["global"]


# 3. a Linear after a permute -----------------------------------------------------------------


def test_linear_over_channels_between_permutes_is_pointwise() -> None:
    class PermuteLinearPermute(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.linear = nn.Linear(4, 4)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.linear(x.permute(0, 2, 1)).permute(0, 2, 1)

    model = nn.Sequential(nn.Conv1d(1, 4, 3), PermuteLinearPermute(), nn.Conv1d(4, 4, 3))
    assert analyze(model, (1, 1, 24)).node().rf() == [5]


# 4. ops that are not pointwise -----------------------------------------------------------------


class Wrap(nn.Module):
    def __init__(self, fn) -> None:
        super().__init__()
        self.conv = nn.Conv1d(1, 1, 3)
        self.fn = fn

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fn(self.conv(x))


def test_cumsum_reads_everything_before() -> None:
    report = analyze(Wrap(lambda y: torch.cumsum(y, -1)), (1, 1, 10))
    f = report.field()[0]
    assert f.support(0) == (0, 1, 2) and f.support(7) == tuple(range(10))
    assert report.unknown == []


def test_roll_is_circular_and_fft_global() -> None:
    f = analyze(Wrap(lambda y: torch.roll(y, 2, -1)), (1, 1, 10)).field()[0]
    assert f.support(0) == (6, 7, 8) and f.support(2) == (0, 1, 2)
    assert analyze(Wrap(lambda y: torch.fft.rfft(y).abs()), (1, 1, 10)).node().rf() == ["global"]


def test_an_unknown_op_makes_the_field_unknown_naming_the_node() -> None:
    report = analyze(Wrap(lambda y: torch.flip(y, [-1])), (1, 1, 10))
    node = report.node()
    assert node.rf() == ["?"]
    assert [u.op for u in report.unknown] == ["flip"]
    with pytest.raises(SpecError, match=r"unknown.*flip.*specs="):
        report.field()


# 5. inputs that crashed ---------------------------------------------------------------------


class TensorPad(nn.Module):
    """EnCodec: padding amounts held in int64 buffers."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv1d(1, 1, 4, stride=2)
        self.register_buffer("pad_total", torch.tensor(2), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.pad(x, (self.pad_total, 0)))


def test_tensor_valued_padding() -> None:
    report = analyze(TensorPad(), (1, 1, 20))
    assert report.trace.method == "real" and report.unknown == []
    f = report.field()[0]
    assert f.start == -2 and f.support(0) == (0, 1)


def test_elementwise_max_min_and_channel_padding() -> None:
    class M(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.a, self.b = nn.Conv1d(1, 2, 3, padding=1), nn.Conv1d(1, 2, 5, padding=2)
            self.c = nn.Conv1d(6, 1, 1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            y = torch.max(self.a(x), self.b(x))
            return self.c(F.pad(y, (0, 0, 2, 2)))

    report = analyze(M(), (1, 1, 12))
    assert report.unknown == [] and report.field()[0].support(5) == (3, 4, 5, 6, 7)


def test_tf_same_padding_with_math_ceil_and_extra_forward_arguments() -> None:
    class TFSame(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv1d(1, 1, 4, 3)

        def forward(self, x: torch.Tensor, output_hidden_states: bool = False, mask=None) -> torch.Tensor:
            n = x.shape[-1]
            total = max((math.ceil(n / 3) - 1) * 3 + 4 - n, 0)
            y = self.conv(F.pad(x, (total // 2, total - total // 2)))
            return (y, [y]) if output_hidden_states else y

    report = analyze(TFSame(), (1, 1, 17))
    assert report.trace.method == "meta" and report.unknown == []
    assert report.node().shape[-1] == math.ceil(17 / 3)


def test_declarations_on_parameter_only_first_calls() -> None:
    """weight_norm and ConvNeXt's channels-first LayerNorm start with calls on parameters."""
    model = nn.Sequential(parametrizations.weight_norm(nn.Conv1d(1, 2, 3)), nn.Conv1d(2, 2, 3))
    declared = analyze(model, (1, 1, 12), specs={"0": ConvSpec(5, padding=1)})
    assert declared.node("0").notes[-1] == "declared by the user"
    assert declared.field()[0].size == 7
    ln = nn.Sequential(nn.Conv2d(1, 4, 3), ConvNextLayerNorm(4, data_format="channels_first"))
    assert analyze(ln, (1, 1, 8, 8), specs={"1": "pointwise"}).node().rf() == [3, 3]


def test_erf_of_a_model_returning_a_dict() -> None:
    class DictOut(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv1d(1, 1, 3, padding=1)

        def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
            return {"loss": self.conv(x).mean(), "logits": self.conv(x)}

    e = erf(DictOut(), (1, 1, 21), samples=2)
    assert e.trf == (3,) and e.output_index == (10,)
    assert analyze(DictOut(), (1, 1, 21)).output == analyze(DictOut(), (1, 1, 21), output="logits").output


# 6. constants -------------------------------------------------------------------------------


def test_parameter_only_subexpressions_are_constants() -> None:
    class LayerScale(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv1d(2, 2, 3)
            self.snake = Snake1d(2)
            self.gamma = nn.Parameter(torch.ones(2))
            self.g = nn.Parameter(torch.zeros(1))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.gamma.unsqueeze(-1) * self.snake(self.conv(x)) * self.g.exp()

    report = analyze(LayerScale(), (1, 2, 12))
    assert report.unknown == [] and report.node().rf() == [3]
    assert all(n.module not in ("gamma", "g") for n in report.nodes)


# 7. support() walks every field once -------------------------------------------------------


def test_support_walks_each_field_once(monkeypatch: pytest.MonkeyPatch) -> None:
    from atrous.geometry import field as field_module

    class Chain(nn.Module):
        def __init__(self, blocks: int) -> None:
            super().__init__()
            self.convs = nn.ModuleList(nn.Conv1d(1, 1, 3, padding=1) for _ in range(blocks))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            for c in self.convs:
                x = x + c(x)
            return x

    f = analyze(Chain(18), (1, 1, 64)).field()[0]
    calls = {"n": 0}
    real = field_module._back_runs

    def counting(axis, runs):
        calls["n"] += 1
        return real(axis, runs)

    monkeypatch.setattr(field_module, "_back_runs", counting)
    support = f.support(32)
    assert support == tuple(range(14, 51))  # 18 convs of k3, each reachable once
    layered = len([g for g in f._graph() if g.axis is not None and g._parent is not None])
    assert calls["n"] == layered == 18  # 2**18 paths, 18 steps


# 8. what users still missed ---------------------------------------------------------------------


def test_lstm_and_gru_are_causal_and_bidirectional_is_global() -> None:
    class RNN(nn.Module):
        def __init__(self, cls: type, bidirectional: bool) -> None:
            super().__init__()
            self.conv = nn.Conv1d(1, 3, 1)
            self.rnn = cls(3, 3, batch_first=True, bidirectional=bidirectional)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.rnn(self.conv(x).transpose(1, 2))[0]

    for cls in (nn.LSTM, nn.GRU):
        f = analyze(RNN(cls, False), (1, 1, 9)).field()[0]
        assert [f.support(y) for y in (0, 4)] == [(0,), (0, 1, 2, 3, 4)]
        assert analyze(RNN(cls, True), (1, 1, 9)).node().rf() == ["global"]


def test_windowed_attention_has_the_window_as_field() -> None:
    class Windows(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.qkv = nn.Linear(2, 6)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            b, c, n = x.shape
            w = x.transpose(1, 2).reshape(b * n // 4, 4, c)  # windows of 4
            q, k, v = self.qkv(w).chunk(3, -1)
            return F.scaled_dot_product_attention(q, k, v).reshape(b, n, c).transpose(1, 2)

    f = analyze(Windows(), (1, 2, 16)).field()[0]
    assert [f.support(y) for y in (0, 5, 15)] == [(0, 1, 2, 3), (4, 5, 6, 7), (12, 13, 14, 15)]


def test_a_declared_spec_that_disagrees_with_the_trace_warns() -> None:
    with pytest.warns(AnalysisWarning, match="differs from the spec"):
        analyze(Wrap(lambda y: y), (1, 1, 10), specs={"conv": ConvSpec(5)})


def test_misaligned_branches_warn() -> None:
    class TwoBranches(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.a = nn.Conv1d(1, 1, 3, padding=1)
            self.b = nn.Conv1d(1, 1, 2, padding="same")

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.a(x) + self.b(x)

    with pytest.warns(AnalysisWarning, match=r"centred -?1/2 input positions"):
        analyze(TwoBranches(), (1, 1, 10))


def test_erf_is_measured_against_the_clipped_field() -> None:
    net = nn.Sequential(*[nn.Conv1d(1, 1, 9, padding=4) for _ in range(3)])
    e = erf(net, (1, 1, 20), samples=2, output_index=(0,))
    assert e.trf == (13,)  # the unbounded field is 25, the support of output 0 is 0..12
    assert receptive_field([ConvSpec(9, padding=4)] * 3)[-1].size == 25


def test_misspelled_specs_keys_are_refused() -> None:
    model = nn.Sequential(nn.Conv1d(1, 1, 3), nn.ReLU())
    with pytest.raises(SpecError, match=r"specs key '2' names no module"):
        analyze(model, (1, 1, 8), specs={"2": "pointwise"})
    with pytest.raises(SpecError, match=r"specs key 'rleu'.*'relu'"):
        analyze(model, (1, 1, 8), specs={"rleu": "pointwise"})
    with pytest.raises(SpecError, match=r"specs\['0'\] must be a ConvSpec"):
        analyze(model, (1, 1, 8), specs={"0": "local"})


def test_cli_specs(capsys: pytest.CaptureFixture[str]) -> None:
    from atrous.cli import main

    assert main(["analyze", "builtin:gridding-222", "--specs", "conv2=conv(3, padding=1)", "--json"]) == 0
    out = capsys.readouterr().out
    assert "declared by the user" in out
    for bad in ("conv2", "conv2=conv(", "convx=pointwise", "conv2=local"):
        assert main(["analyze", "builtin:gridding-222", "--specs", bad]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "Traceback" not in err[0], err


def test_global_answers_carry_their_reason() -> None:
    class SE(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(1, 2, 3, padding=1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            y = self.conv(x)
            return y * torch.sigmoid(y.mean((2, 3), keepdim=True))

    node = analyze(SE(), (1, 1, 8, 8)).node()
    assert node.fields == [GLOBAL, GLOBAL] and all("mean" in w for w in node.why)
    assert isinstance(node.fields[0], Global) and not isinstance(node.fields[0], Field)


def test_no_silent_approximations_remain() -> None:
    """bilinear with align_corners=True and a non-integer scale is unknown, never 'nearest'."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        report = analyze(Wrap(lambda y: F.interpolate(y, size=13, mode="linear", align_corners=True)), (1, 1, 10))
    assert report.node().rf() == ["?"]
    f = analyze(Wrap(lambda y: F.interpolate(y, size=15, mode="linear", align_corners=True)), (1, 1, 10)).field()[0]
    assert f.support(0) == (0, 1, 2) and f.support(1) == (0, 1, 2, 3)  # (15 - 1) = 2 (8 - 1): triangle taps
