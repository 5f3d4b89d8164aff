"""atrous.analyze on the published networks: VGG-16, Yu-Koltun, TCN, DeepLab; gridding; ERF."""

import json
from fractions import Fraction

import pytest
import torch
from torch import nn

from atrous import nn as ann
from atrous.analysis import GLOBAL, analyze, erf
from atrous.analysis.builtin import BUILTIN, DEFAULT_INPUT
from atrous.errors import SpecError
from atrous.geometry import ConvSpec, coverage, receptive_field, tcn_receptive_field

VGG = {
    "conv1_1": (3, 1, 1), "pool1": (6, 2, 2), "conv2_1": (10, 2, 4), "pool2": (16, 4, 6),
    "conv3_1": (24, 4, 10), "conv3_2": (32, 4, 14), "pool3": (44, 8, 18), "conv4_1": (60, 8, 26),
    "conv4_2": (76, 8, 34), "pool4": (100, 16, 42), "conv5_1": (132, 16, 58), "conv5_2": (164, 16, 74),
    "pool5": (212, 32, 90),
}  # fmt: skip


def _meta(name):
    with torch.device("meta"):
        return BUILTIN[name]()


def test_vgg16_table():
    report = analyze(_meta("vgg16"), (1, 3, 224, 224))
    for layer, (rf, jump, pad) in VGG.items():
        f = report.field(f"features/{layer}")
        assert f.size == (rf, rf) and f.jump == (jump, jump) and f.start == (-pad, -pad), layer
    assert report.node("classifier/fc8").fields == [GLOBAL, GLOBAL]
    assert report.node("features/conv1_1").params == 1792


def test_yu_koltun_context():
    report = analyze(_meta("context"), DEFAULT_INPUT["context"])
    convs = [n for n in report.nodes if n.kind == "layer"]
    assert [n.fields[0].size for n in convs] == [3, 5, 9, 17, 33, 65, 67, 67]


def test_tcn_formula_through_residual_merges():
    report = analyze(ann.TCN(2, [24] * 8, kernel_size=8), (1, 2, 600))
    assert report.node().rf() == [tcn_receptive_field(8, 8)] == [3571]
    merges = [n for n in report.nodes if n.kind == "merge"]
    assert len(merges) == 8 and all("jumps differ" not in "".join(n.alignment) for n in merges)


def test_deeplab_aspp_is_global_and_branch_fields():
    report = analyze(_meta("deeplab-aspp"), (1, 3, 224, 224))
    assert report.node().rf() == ["global", "global"]  # the image-pooling branch
    rate18 = [n for n in report.nodes if isinstance(n.spec, ConvSpec) and n.spec.dilation == (18, 18)]
    assert rate18, "the rate-18 branch is traced"
    node = rate18[0]
    before = report.node(node.inputs[0]).fields[0]
    f = node.fields[0]
    assert f.jump == 16 and f.size == before.size + 2 * 18 * 16  # rate 18 at output stride 16


def test_fcn_decoder_transposed_phases():
    even = analyze(_meta("fcn-decoder"), DEFAULT_INPUT["fcn-decoder"])
    odd = analyze(_meta("fcn-decoder-k3"), DEFAULT_INPUT["fcn-decoder-k3"])
    t_even = [n for n in even.nodes if isinstance(n.spec, ConvSpec) and n.spec.transposed]
    t_odd = [n for n in odd.nodes if isinstance(n.spec, ConvSpec) and n.spec.transposed]
    assert t_even and t_odd
    # right after the first transposed layer: k=4, s=2 phases read equally many positions, k=3 does not
    phases_even = [p.taps for p in receptive_field([t_even[0].spec])[0][0].phases]
    phases_odd = [p.taps for p in receptive_field([t_odd[0].spec])[0][0].phases]
    assert len(set(phases_even)) == 1 and len(set(phases_odd)) == 2


def test_gridding_diagnosis():
    report = analyze(_meta("gridding-222"), DEFAULT_INPUT["gridding-222"])
    issues = [g for g in report.gridding if g.node == report.output]
    assert len(issues) == 2  # both axes
    g = issues[0]
    assert g.period == 2 and g.repeated and [d for _, d in g.layers] == [2, 2, 2]
    assert g.replacement is not None and coverage(g.replacement, 3).ok
    assert 1 + 2 * sum(g.replacement) >= g.size
    assert "one dilation repeated" in g.describe()
    assert not analyze(_meta("hdc-125"), DEFAULT_INPUT["hdc-125"]).gridding


def test_misalignment_is_reported():
    class TwoBranches(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = nn.Conv1d(1, 1, 3, padding=1)
            self.b = nn.Conv1d(1, 1, 2, padding=1)  # output longer by one: crop it

        def forward(self, x):
            return self.a(x) + self.b(x)[..., :-1]

    report = analyze(TwoBranches(), (1, 1, 16))
    merge = next(n for n in report.nodes if n.kind == "merge")
    assert merge.alignment and "centred" in merge.alignment[0]
    f = report.field()[0]
    assert f.support(5) == (4, 5, 6)


def test_report_json_and_table():
    report = analyze(_meta("hdc-125"), DEFAULT_INPUT["hdc-125"])
    data = json.loads(report.to_json())
    assert data["nodes"][-1]["rf"] == [17, 17] and data["gridding"] == [] and data["unknown"] == []
    from rich.console import Console

    console = Console(width=200, record=True)
    console.print(report.table())
    assert "17" in console.export_text()
    with pytest.raises(SpecError, match="no node named 'nope'"):
        report.node("nope")


def test_erf_uniform_stack_and_refusal():
    net = nn.Sequential(*[nn.Conv2d(1, 1, 3, padding=1, bias=False) for _ in range(5)])
    for c in net:
        nn.init.constant_(c.weight, 1.0)
    e = erf(net, (1, 1, 33, 33), samples=2)
    assert e.trf == (11, 11)
    assert e.sigma[0] ** 2 == pytest.approx(5 * 8 / 12, rel=1e-9)  # n (k^2 - 1) / 12
    assert e.centre == pytest.approx((16.0, 16.0))
    assert e.radii[0.5] < e.radii[0.9] < e.radii[0.99]
    assert 0 < e.ratio[0] <= 1 and 0 < e.fraction <= 1
    with pytest.raises(SpecError, match="GiB is allowed"):
        erf(net, (1, 1, 33, 33), samples=4, max_memory=1000)


def test_erf_batched_equals_sequential_and_dilated_is_smaller_than_trf():
    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Conv1d(1, 4, 3, padding=1),
        nn.ReLU(),
        nn.Conv1d(4, 4, 3, padding=4, dilation=4),
        nn.ReLU(),
        nn.Conv1d(4, 1, 3, padding=8, dilation=8),
    )
    a = erf(net, (1, 1, 64), samples=6)
    b = erf(net, (1, 1, 64), samples=6, batch_size=1)
    assert a.map == pytest.approx(b.map, rel=1e-5, abs=1e-9)
    assert a.trf == (27,)
    assert a.fraction < 1.0  # the ERF is smaller than the theoretical field


def test_erf_reinit_and_output_index():
    net = nn.Sequential(nn.Conv1d(1, 2, 3), nn.ReLU(), nn.Conv1d(2, 1, 3))
    e = erf(net, (1, 1, 20), samples=2, reinit=2, output_index=(0,))
    assert e.samples == 4 and e.output_index == (0,)
    assert e.map.nonzero()[0].max() <= 4  # output 0 reads inputs 0..4
    with pytest.raises(SpecError, match="output_index"):
        erf(net, (1, 1, 20), output_index=(99,))


def test_luo_sigma_from_path_counts():
    for n, k in [(3, 3), (5, 3), (4, 5)]:
        f = receptive_field([nn.Conv1d(1, 1, k) for _ in range(n)])[-1]
        counts = f.paths(0)
        total = sum(counts.values())
        mean = Fraction(sum(p * c for p, c in counts.items()), total)
        var = Fraction(sum((p - mean) ** 2 * c for p, c in counts.items()), total)
        assert var == Fraction(n * (k * k - 1), 12)
