"""The verified facts of DESIGN.md section 4, reproduced exactly."""

from fractions import Fraction

import pytest

from atrous.geometry import (
    RELATIONSHIPS,
    ConvSpec,
    PoolSpec,
    coverage,
    exponential_schedule,
    hdc,
    output_size,
    plan_dilations,
    receptive_field,
    stack_receptive_field,
    tcn_receptive_field,
    wavenet_schedule,
)


def test_single_dilated_kernel():
    f = receptive_field([ConvSpec(5, dilation=3)])[0]
    assert f.size == 13 and f.taps == 5
    assert Fraction(f.size, f.taps) == Fraction(13, 5)  # 2.6x the weights for a plain kernel


def test_exponential_stack():
    fields = receptive_field([ConvSpec(3, dilation=d) for d in (1, 2, 4)])
    assert [f.size for f in fields] == [3, 7, 15]
    assert [f.size for f in fields] == [2 ** (i + 2) - 1 for i in range(3)]
    assert all(not f.has_holes for f in fields)
    assert {ConvSpec(3, dilation=d).parameters_per_channel_pair for d in (1, 2, 4)} == {3}


def test_nine_by_nine_examples():
    assert output_size((9, 9), 3, stride=2) == (4, 4)
    assert output_size((9, 9), 3, dilation=4) == (1, 1)
    f = receptive_field([ConvSpec(3, dilation=4)], input_size=(9, 9))[0]
    rows, cols = f.support((0, 0))
    assert rows == cols == (0, 4, 8)
    assert f.length == (1, 1)


# conv_arithmetic's animations: (name, i, o, p, k, s, d)
ANIMATIONS = [
    ("no_padding_no_strides", 4, 2, 0, 3, 1, 1),
    ("arbitrary_padding_no_strides", 5, 6, 2, 4, 1, 1),
    ("same_padding_no_strides", 5, 5, 1, 3, 1, 1),
    ("full_padding_no_strides", 5, 7, 2, 3, 1, 1),
    ("no_padding_strides", 5, 2, 0, 3, 2, 1),
    ("padding_strides", 5, 3, 1, 3, 2, 1),
    ("padding_strides_odd", 6, 3, 1, 3, 2, 1),
    ("dilation", 7, 3, 0, 3, 1, 2),
]


@pytest.mark.parametrize(("name", "i", "o", "p", "k", "s", "d"), ANIMATIONS)
def test_conv_arithmetic_animations(name, i, o, p, k, s, d):
    assert output_size((i, i), k, s, p, d) == (o, o)
    if name != "dilation":
        # the transposed animation maps o back to i, with output_padding a = (i + 2p - k) mod s
        a = (i + 2 * p - k) % s
        assert output_size((o, o), k, s, p, d, transposed=True, output_padding=a) == (i, i)


@pytest.mark.parametrize("rel", RELATIONSHIPS, ids=lambda r: f"rel{r.number}")
def test_dumoulin_visin_relationships(rel):
    checked = 0
    for i in range(1, 14):
        for k in range(1, 6):
            for s in range(1, 4):
                for p in range(0, 5):
                    for d in range(1, 4):
                        args = dict(i=i, k=k, s=s, p=p, d=d)
                        if not rel.applies(**args):
                            continue
                        try:
                            o = output_size(i, k, s, p, d)
                        except ValueError:
                            continue
                        if not rel.transposed:
                            assert rel.formula(**args) == o, args
                        else:
                            a = (i + 2 * p - k) % s
                            back = output_size(o, k, s, p, d, transposed=True, output_padding=a)
                            assert back == i
                            assert rel.formula(i_t=o, **args) == back, args
                        checked += 1
    assert checked > 0
    assert len(RELATIONSHIPS) == 15
    assert [r.number for r in RELATIONSHIPS] == list(range(1, 16))


VGG16 = [
    ("conv1_1", 3, 1, 1),
    ("conv1_2", None, None, None),
    ("pool1", 6, 2, 2),
    ("conv2_1", 10, 2, 4),
    ("conv2_2", None, None, None),
    ("pool2", 16, 4, 6),
    ("conv3_1", 24, 4, 10),
    ("conv3_2", 32, 4, 14),
    ("conv3_3", None, None, None),
    ("pool3", 44, 8, 18),
    ("conv4_1", 60, 8, 26),
    ("conv4_2", 76, 8, 34),
    ("conv4_3", None, None, None),
    ("pool4", 100, 16, 42),
    ("conv5_1", 132, 16, 58),
    ("conv5_2", 164, 16, 74),
    ("conv5_3", None, None, None),
    ("pool5", 212, 32, 90),
]


def vgg16_specs():
    return [PoolSpec(2) if name.startswith("pool") else ConvSpec(3, padding=1) for name, *_ in VGG16]


def test_vgg16_table():
    fields = receptive_field(vgg16_specs())
    for (name, rf, stride, pad), f in zip(VGG16, fields, strict=True):
        if rf is None:
            continue
        assert (f.size, f.jump, -f.start) == (rf, stride, pad), name


def test_vgg16_at_224():
    fields = receptive_field(vgg16_specs(), input_size=(224, 224))
    assert fields[-1].length == (7, 7)
    assert fields[-1].size == (212, 212)


def test_yu_koltun_context_module():
    specs = [ConvSpec(3, padding=d, dilation=d) for d in (1, 1, 2, 4, 8, 16, 1)] + [ConvSpec(1)]
    assert [f.size for f in receptive_field(specs)] == [3, 5, 9, 17, 33, 65, 67, 67]
    assert [f.size for f in receptive_field(specs, input_size=64)] == [3, 5, 9, 17, 33, 65, 67, 67]
    assert all(f.length == 64 for f in receptive_field(specs, input_size=64))


def test_hdc_examples():
    assert hdc([1, 2, 5], 3).ok
    assert hdc([1, 2, 5], 3).M[1] == 2
    assert not hdc([2, 4, 8], 3).ok
    assert not hdc([1, 2, 9], 3).ok
    assert hdc([1, 2, 9], 3).M[1] == 5


def test_gridding_examples():
    grid = coverage([2, 2, 2], 3)
    assert not grid.ok and grid.period == 2
    assert grid.holes == tuple(range(1, 13, 2))
    assert coverage([1, 2, 5], 3).ok
    assert coverage([2, 4, 8], 3).period == 2


def test_hdc_rule_versus_exact_coverage_is_reported():
    # the paper's rule is a heuristic; the exact answer travels with it
    r = hdc([2, 3], 3)
    assert r.ok and not r.covered
    r = hdc([1, 1, 7], 4)
    assert not r.ok and r.covered


def test_tcn_and_wavenet_fields():
    for n in range(1, 9):
        for k in (2, 3, 5, 8):
            dilations = [d for d in exponential_schedule(n) for _ in range(2)]  # two convs per block
            assert tcn_receptive_field(n, k) == stack_receptive_field(dilations, k)
            specs = [ConvSpec(k, dilation=d, padding="causal") for d in dilations]
            assert receptive_field(specs)[-1].size == tcn_receptive_field(n, k)
    wn = wavenet_schedule(10, 3)
    assert stack_receptive_field(wn[:10], 2) == 1024
    assert receptive_field([ConvSpec(2, dilation=d, padding="causal") for d in wn])[-1].size == 3070


def test_plan_is_minimal_and_gridding_free():
    for k in (2, 3, 4):
        for target in range(1, 400, 7):
            plan = plan_dilations(target, k)
            assert plan.receptive_field >= target
            assert coverage(plan.dilations, k).ok if plan.dilations else target == 1
            # k**n is the most n layers of k taps can cover
            assert k ** (plan.layers - 1) < target <= k**plan.layers or target == 1
            assert plan.receptive_field == stack_receptive_field(plan.dilations, k) if plan.dilations else True


def test_plan_with_cap():
    plan = plan_dilations(100, 3, max_dilation=8)
    assert max(plan.dilations) <= 8
    assert coverage(plan.dilations, 3).ok
    assert plan.receptive_field >= 100
