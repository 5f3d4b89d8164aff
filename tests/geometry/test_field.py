"""The Field algebra: phases of transposed layers, holes, path counts, merges."""

from fractions import Fraction

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from atrous.geometry import (
    Axis,
    ConvSpec,
    Field,
    PoolSpec,
    SpecError,
    UpsampleSpec,
    axis_length,
    axis_taps,
    min_input_size,
    receptive_field,
    tap_spans,
)


def test_chain_formulas_for_strided_convs():
    specs = [ConvSpec(3, 2, 1), ConvSpec(3, 1, 1, 2), ConvSpec(5, 2, 2)]
    size, jump, start = 1, 1, 0
    for spec, f in zip(specs, receptive_field(specs), strict=True):
        k, s, d, lo = spec.kernel_size[0], spec.stride[0], spec.dilation[0], spec.padding[0][0]
        size, jump, start = size + (k - 1) * d * jump, jump * s, start - lo * jump
        assert (f.size, f.jump, f.start, f.period) == (size, jump, start, 1)


def test_transposed_phases_checkerboard():
    # k=3, s=2: phases read 1 and 2 inputs: uneven overlap
    f = receptive_field([ConvSpec(3, stride=2, padding=1, transposed=True)])[0]
    assert f.jump == Fraction(1, 2) and f.period == 2
    assert [p.taps for p in f.phases] == [1, 2]
    # k=4, s=2: even
    g = receptive_field([ConvSpec(4, stride=2, padding=1, transposed=True)])[0]
    assert [p.taps for p in g.phases] == [2, 2]
    assert g.support(0) == (-1, 0) and g.support(1) == (0, 1) and g.support(2) == (0, 1)


def test_empty_phase_when_kernel_shorter_than_stride():
    f = receptive_field([ConvSpec(1, stride=2, transposed=True)], input_size=4)[0]
    assert f.length == 7
    assert f.support(0) == (0,) and f.support(1) == () and f.support(2) == (1,)


def test_conv_then_transposed_keeps_period():
    f = receptive_field([ConvSpec(2, stride=2), ConvSpec(2, stride=2, transposed=True)])[-1]
    assert f.jump == 1 and f.period == 2 and f.shift == 2
    assert f.support(0) == (0, 1) and f.support(1) == (0, 1) and f.support(2) == (2, 3)


def test_transposed_then_conv_reduces_period():
    f = receptive_field([ConvSpec(2, stride=2, transposed=True), ConvSpec(2, stride=2)])[-1]
    assert f.period == 1 and f.jump == 1


def test_upsample_field():
    f = receptive_field([UpsampleSpec(3), ConvSpec(3, padding=1)], input_size=4)[-1]
    assert f.length == 12 and f.period == 3 and f.jump == Fraction(1, 3)
    assert f.support(0) == (0,) and f.support(2) == (0, 1) and f.support(11) == (3,)
    assert f.paths(2) == {0: 2, 1: 1}


def test_holes_and_paths_of_gridding_stack():
    f = receptive_field([ConvSpec(3, dilation=2)] * 3)[-1]
    assert f.size == 13 and f.holes == (1, 3, 5, 7, 9, 11)
    counts = f.paths(0)
    assert sum(counts.values()) == 27  # 3 ** 3 paths
    assert counts[6] == 7  # the centre: trinomial coefficient


def test_bounded_support_is_exact_at_borders():
    # n=8, k3 s2 reads inputs 0..6 only; a full-padded conv after it must not see input 7
    specs = [ConvSpec(3, 2), ConvSpec(3, padding=2)]
    f = receptive_field(specs, input_size=8)[-1]
    unbounded = receptive_field(specs)[-1]
    last = f.length - 1
    assert 7 not in f.support(last)
    assert 7 in unbounded.support(last)
    with pytest.raises(SpecError, match=r"y must be an integer in \[0, 4\]"):
        f.support(5)


def test_pool_field():
    f = receptive_field([PoolSpec(3, 2, 1)])[0]
    assert (f.size, f.jump, f.start) == (3, 2, -1)


def test_union_aligned_and_misaligned():
    a = receptive_field([ConvSpec(3, padding=1)], input_size=10)[0]
    b = receptive_field([ConvSpec(5, padding=2)], input_size=10)[0]
    m = Field.union([a, b], ["k3", "k5"])
    assert m.alignment.aligned and m.field is not None
    assert m.field.support(5) == (3, 4, 5, 6, 7)
    assert m.field.paths(5) == {3: 1, 4: 2, 5: 2, 6: 2, 7: 1}
    c = receptive_field([ConvSpec(3, padding=((2, 0),))], input_size=10)[0]  # causal-ish: shifted centre
    m2 = Field.union([a, c], ["centred", "shifted"])
    assert not m2.alignment.aligned
    assert m2.alignment.offsets[1] == -1
    assert "shifted is centred -1 input positions from centred" in m2.alignment.describe()
    assert m2.field is not None and m2.field.support(5) == (3, 4, 5, 6)


def test_union_with_different_jumps_reports_and_returns_none():
    a = receptive_field([ConvSpec(2, 2), UpsampleSpec(2)])[-1]
    b = receptive_field([ConvSpec(3, padding=1)])[-1]
    m = Field.union([a, b], ["down-up", "plain"])
    assert m.alignment.jumps == (1, 1)  # same jump, different periods: exact union
    assert m.field is not None and m.field.period == 2
    c = receptive_field([ConvSpec(2, 2)])[-1]
    m2 = Field.union([c, b], ["strided", "plain"])
    assert m2.field is None and "jumps differ" in m2.alignment.describe()


def test_union_of_different_lengths_is_an_error():
    a = receptive_field([ConvSpec(3)], input_size=10)[0]
    b = receptive_field([ConvSpec(3, padding=1)], input_size=10)[0]
    with pytest.raises(SpecError, match="same length"):
        Field.union([a, b])


def test_receptive_field_errors_name_the_layer():
    with pytest.raises(SpecError, match=r"layer 1 \(ConvSpec\(kernel_size=5\)\).*minimum input size is 5"):
        receptive_field([ConvSpec(3), ConvSpec(5)], input_size=6)
    with pytest.raises(SpecError, match="disagree on the number of axes"):
        receptive_field([ConvSpec((3, 3)), ConvSpec((3, 3, 3))])


def test_large_stack_is_fast_enough():
    from atrous.geometry import wavenet_schedule

    specs = [ConvSpec(2, dilation=d, padding="causal") for d in wavenet_schedule(10, 3)]
    fields = receptive_field(specs, input_size=16000)
    assert fields[-1].size == 3070 and fields[-1].length == 16000
    assert len(fields[-1].support(15999)) == 3070


@pytest.mark.parametrize("r", [2, 3, 4])
def test_linear_upsample_taps_match_torch(r):
    import torch
    import torch.nn.functional as F

    n = 7
    f = receptive_field([UpsampleSpec(r, mode="linear")], input_size=n)[0]
    assert f.length == n * r and f.jump == Fraction(1, r)
    for y in range(n * r):
        x = torch.rand(1, 1, n, dtype=torch.float64, requires_grad=True)
        F.interpolate(x, scale_factor=r, mode="linear", align_corners=False)[0, 0, y].backward()
        assert torch.nonzero(x.grad[0, 0]).flatten().tolist() == list(f.support(y)), y


@given(
    n=st.integers(1, 40),
    k=st.integers(1, 6),
    s=st.integers(1, 4),
    d=st.integers(1, 12),
    lo=st.integers(0, 50),
    hi=st.integers(0, 50),
)
@settings(max_examples=400, deadline=None)
def test_tap_spans_are_the_in_range_reads_of_axis_taps(n, k, s, d, lo, hi):
    axis = Axis("conv", k, s, d, lo, hi)
    assume(n >= min_input_size(axis))
    out = axis_length(axis, n)
    spans = tap_spans(axis, n)
    assert [t.tap for t in spans] == list(range(k))
    for t in spans:
        # brute force: the outputs whose t-th read lands inside the input, and where
        expected = [(y, axis_taps(axis, y)[t.tap]) for y in range(out) if 0 <= axis_taps(axis, y)[t.tap] < n]
        got = [(t.out_start + m, t.in_start + m * s) for m in range(t.count)]
        assert got == expected
        assert t.count or (t.out_start, t.in_start) == (0, 0)


def test_tap_spans_rejects_other_axes_and_bad_lengths():
    with pytest.raises(SpecError, match="convolution axis"):
        tap_spans(Axis("transposed", 4, 2, 1, 1, 1), 8)
    with pytest.raises(SpecError, match="n must be an integer >= 1, got 0"):
        tap_spans(Axis("conv", 3), 0)
    with pytest.raises(SpecError, match="too small"):
        tap_spans(Axis("conv", 3, 1, 4), 5)
