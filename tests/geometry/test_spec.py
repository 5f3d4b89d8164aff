"""Spec construction: normalisation, immutability and error messages."""

import pytest

from atrous.geometry import ConvSpec, PoolSpec, SpecError, UpsampleSpec, as_spec, output_size, same_padding


def test_normalisation_and_broadcast():
    s = ConvSpec(3, dilation=2)
    assert s.ndim == 1 and s.broadcasts
    assert s.kernel_size == (3,) and s.padding == ((0, 0),)
    s2 = s.for_ndim(2)
    assert s2.kernel_size == (3, 3) and s2.dilation == (2, 2) and not s2.broadcasts
    t = ConvSpec((3, 5), padding=((1, 0), "same"))
    assert t.ndim == 2 and t.padding == ((1, 0), "same")
    with pytest.raises(SpecError, match="has 2 axes but the input has 3"):
        t.for_ndim(3)


def test_immutable_and_hashable():
    s = ConvSpec(3)
    with pytest.raises(AttributeError):
        s.kernel_size = (5,)
    assert ConvSpec(3, padding=(1,)) == ConvSpec(3, padding=((1, 1),))
    assert ConvSpec(3, padding=1) != ConvSpec(3, padding=(1,))  # broadcasting vs one fixed axis
    assert len({ConvSpec(3), ConvSpec(3), ConvSpec(5)}) == 2


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(kernel_size=0), r"kernel_size must be an integer >= 1, got 0"),
        (dict(kernel_size=3, stride=0), r"stride must be an integer >= 1, got 0"),
        (dict(kernel_size=3, dilation=-1), r"dilation must be an integer >= 1, got -1"),
        (dict(kernel_size=3, padding=-1), r"padding must be an integer >= 0, got -1"),
        (dict(kernel_size=3.0), r"kernel_size must be an integer >= 1, got 3.0"),
        (dict(kernel_size=True), r"kernel_size must be an integer"),
        (dict(kernel_size=3, padding="sam"), r"padding must be .* valid, same, causal, full; got 'sam'"),
        (dict(kernel_size=(3, 3), stride=(1, 1, 1)), r"disagree on the number of axes"),
        (dict(kernel_size=3, output_padding=1), r"only valid for a transposed convolution"),
        (dict(kernel_size=3, stride=2, transposed=True, output_padding=2), r"valid range \[0, 1\]"),
        (dict(kernel_size=3, padding=((1, 2, 3),)), r"\(lo, hi\) pair"),
        (
            dict(kernel_size=3, stride=2, padding="same", transposed=True, output_padding=1),
            r"conflicts with padding='same'",
        ),
    ],
)
def test_errors_name_parameter_value_and_range(kwargs, message):
    with pytest.raises(SpecError, match=message):
        ConvSpec(**kwargs)


def test_copy_and_pickle():
    import copy
    import pickle

    for spec in [
        ConvSpec(3, dilation=2),
        ConvSpec((3, 5), stride=(1, 2), padding=((1, 0), "same")),
        ConvSpec(4, 2, 1, transposed=True, output_padding=1),
        PoolSpec(3, 2, 1, ceil_mode=True, ndim=2),
        UpsampleSpec(2, mode="linear"),
    ]:
        assert copy.deepcopy(spec) is spec and copy.copy(spec) is spec
        back = pickle.loads(pickle.dumps(spec))
        assert back == spec and back.broadcasts == spec.broadcasts and repr(back) == repr(spec)


def test_spec_error_is_value_error():
    with pytest.raises(ValueError):
        ConvSpec(0)


def test_too_small_input_gives_minimum():
    with pytest.raises(SpecError, match="the minimum input size is 5"):
        output_size(4, 3, dilation=2)
    with pytest.raises(SpecError, match="the minimum input size is 3"):
        output_size((9, 2), 3, padding=((0, 0), (0, 0)))
    with pytest.raises(SpecError, match="the minimum input size is 4"):
        output_size(2, 3, stride=2, padding=4, transposed=True)


def test_same_padding_tensorflow_rule():
    # stride 1: total d*(k-1), extra on the high side
    assert same_padding(10, 4) == (1, 2)
    assert same_padding(10, 3, dilation=3) == (3, 3)
    for n in range(1, 30):
        for k in range(1, 6):
            for s in range(1, 5):
                for d in range(1, 4):
                    lo, hi = same_padding(n, k, s, d)
                    assert hi - lo in (0, 1)
                    assert output_size(n, k, s, ((lo, hi),), d) == -(-n // s)
                    assert output_size(n, k, s, "same", d) == -(-n // s)


def test_transposed_modes_are_adjoints():
    for n in range(1, 12):
        for k in range(1, 6):
            for s in range(1, 4):
                assert output_size(n, k, s, "same", transposed=True) == n * s
    assert output_size(7, 3, padding="causal", transposed=True) == 7
    assert output_size(7, 3, padding="full", transposed=True) == 5


def test_modes_keep_output_padding():
    import torch
    import torch.nn.functional as F

    for mode, pad in (("full", 2), ("causal", None), ("valid", 0)):
        spec = ConvSpec(3, 2, mode, transposed=True, output_padding=1).resolve(4)
        assert spec.output_padding == (1,)
        if pad is not None:
            expected = F.conv_transpose1d(
                torch.zeros(1, 1, 4), torch.zeros(1, 1, 3), stride=2, padding=pad, output_padding=1
            )
            assert output_size(4, 3, 2, mode, transposed=True, output_padding=1) == expected.shape[-1]


def test_same_with_stride_needs_input_size():
    with pytest.raises(SpecError, match="depends on the input size"):
        ConvSpec(3, stride=2, padding="same").resolve()
    assert ConvSpec(3, padding="same").resolve().padding == ((1, 1),)


def test_pool_and_upsample_validation():
    assert PoolSpec(2).stride == (2,)
    with pytest.raises(SpecError, match=r"at most half the kernel size .* valid range \[0, 1\]"):
        PoolSpec(3, padding=2)
    with pytest.raises(SpecError, match="dilation=2 is not supported by average pooling"):
        PoolSpec(3, dilation=2, mode="avg")
    with pytest.raises(SpecError, match="mode must be 'max' or 'avg'"):
        PoolSpec(2, mode="min")
    with pytest.raises(SpecError, match="scale_factor must be an integer >= 1"):
        UpsampleSpec(1.5)
    with pytest.raises(SpecError, match="mode must be 'nearest' or 'linear'"):
        UpsampleSpec(2, mode="bicubic")


def test_repr_and_describe():
    assert repr(ConvSpec(3, dilation=2)) == "ConvSpec(kernel_size=3, dilation=2)"
    assert repr(ConvSpec(4, 2, 1, transposed=True)) == "ConvSpec(kernel_size=4, stride=2, padding=1, transposed=True)"
    assert ConvSpec(4, 2, 1, transposed=True, output_padding=1).describe() == "tconv k4 s2 p1 op1"
    assert ConvSpec((3, 3), padding=((2, 0), (1, 1))).describe() == "conv k3 p2:0x1"
    assert PoolSpec(3, 2, 1, ceil_mode=True).describe() == "maxpool k3 s2 p1 ceil"
    assert UpsampleSpec(2).describe() == "up x2"


def test_as_spec():
    class Layer:
        spec = ConvSpec(3)

    assert as_spec(Layer()) == ConvSpec(3)
    with pytest.raises(SpecError, match="cannot read a layer spec from int"):
        as_spec(3)
