"""The one table from torch calls to their geometry, shared by analysis and streaming.

:func:`family` names what a traced :class:`~atrous.analysis.trace.Call` does to positions:

=============  ================================================================================
``pointwise``  elementwise on one tensor (activations, casts, math): a field passes unchanged
``binary``     elementwise over several broadcast tensors (``+``, ``*``, ``where``, ...)
``layer``      a convolution, transposed convolution or pooling (a :class:`~atrous.ConvSpec` /
               :class:`~atrous.PoolSpec`), or a layer kept whole with its declared geometry
``adaptive``   adaptive pooling
``resize``     interpolation, pixel (un)shuffle, ``repeat_interleave``
``pad``        ``F.pad`` in every mode; ``index``: slicing, ``narrow``, ``select``
``layout``     ``view`` / ``reshape`` / ``flatten`` / ``squeeze`` / ``expand`` ...;
               ``permute``: ``permute`` / ``transpose`` / ``movedim`` ...
``reduce``     ``mean`` / ``sum`` / ``amax`` / ``std`` ... over dimensions
``mix``        ``softmax`` / ``sort`` ... along one dimension (shape kept)
``cumulative`` ``cumsum`` / ``cumprod`` / ``cummax`` ...: everything before
``roll``       ``roll`` / ``fftshift``: a circular shift
``stats``      normalisation layers: statistics over dimensions (group / instance / layer /
               batch norm in training, ``normalize``)
``matmul``     ``linear`` / ``matmul`` / ``bmm`` / ``einsum`` ...: contractions
``attention``  ``scaled_dot_product_attention``, ``multi_head_attention_forward``
``rnn``        ``lstm`` / ``gru`` / ``rnn_tanh`` / ``rnn_relu``
``fft``        the ``torch.fft`` transforms
``split``      ``split`` / ``chunk`` / ``unbind`` ... (one element node per output)
``cat``        ``cat`` / ``stack``; ``item``: one output of a multi-output call;
               ``setitem``: ``x[index] = value``; ``unfold``: ``Tensor.unfold``
``embedding``  a table lookup (pointwise in its indices); ``loss``: the loss functions
``unknown``    anything else: never assumed to be pointwise
=============  ================================================================================
"""

from __future__ import annotations

from typing import Any

from atrous.analysis.trace import Call, TensorRef

__all__ = ["family", "get", "number", "refs"]

_UNARY = {
    # activations
    "relu", "relu6", "leaky_relu", "elu", "selu", "celu", "gelu", "silu", "mish", "sigmoid", "tanh", "hardtanh",
    "hardswish", "hardsigmoid", "softplus", "softsign", "softshrink", "hardshrink", "tanhshrink", "logsigmoid",
    "prelu", "rrelu", "threshold", "logit", "swish",
    # dropout (any mode: the mask is elementwise)
    "dropout", "dropout1d", "dropout2d", "dropout3d", "alpha_dropout", "feature_alpha_dropout", "native_dropout",
    # math
    "abs", "absolute", "neg", "negative", "exp", "exp2", "expm1", "log", "log2", "log10", "log1p", "sqrt", "rsqrt",
    "square", "sin", "cos", "tan", "asin", "acos", "atan", "arcsin", "arccos", "arctan", "sinh", "cosh", "asinh",
    "acosh", "atanh", "arcsinh", "arccosh", "arctanh", "erf", "erfc", "erfinv", "reciprocal", "sign", "sgn", "signbit",
    "floor", "ceil", "round", "trunc", "fix", "frac", "clamp", "clamp_min", "clamp_max", "clip", "nan_to_num", "i0",
    "sinc", "deg2rad", "rad2deg", "angle", "conj", "conj_physical", "real", "imag", "positive", "lgamma", "digamma",
    "polygamma", "mvlgamma", "isnan", "isinf", "isfinite", "isposinf", "isneginf", "isreal", "logical_not",
    "bitwise_not", "__invert__", "__neg__", "__abs__", "__pos__", "exponential", "relu_",
    # casts and copies
    "to", "float", "double", "half", "bfloat16", "int", "long", "short", "bool", "byte", "char", "type", "cpu", "cuda",
    "contiguous", "clone", "detach", "requires_grad_", "data", "resolve_conj", "resolve_neg", "pin_memory",
    "as_subclass", "__deepcopy__", "cfloat", "cdouble", "as_tensor", "asarray", "float_", "view_as_real_copy",
}  # fmt: skip
_BINARY = {
    "add", "sub", "subtract", "rsub", "mul", "multiply", "div", "divide", "true_divide", "floor_divide", "remainder",
    "fmod", "pow", "float_power", "maximum", "minimum", "fmax", "fmin", "where", "addcmul", "addcdiv", "lerp", "atan2",
    "arctan2", "hypot", "logaddexp", "logaddexp2", "copysign", "eq", "ne", "lt", "le", "gt", "ge", "greater",
    "greater_equal", "less", "less_equal", "not_equal", "logical_and", "logical_or", "logical_xor", "bitwise_and",
    "bitwise_or", "bitwise_xor", "__and__", "__or__", "__xor__", "__rand__", "__ror__", "__rxor__", "masked_fill",
    "xlogy", "heaviside", "nextafter", "__rpow__", "__pow__", "__rsub__", "__rtruediv__", "__rdiv__", "__div__",
    "__floordiv__", "__rfloordiv__", "__mod__", "__rmod__", "__eq__", "__ne__", "__lt__", "__le__", "__gt__", "__ge__",
    "mul_", "__lshift__", "__rshift__", "complex", "polar",
}  # fmt: skip
_LAYER = {
    "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d", "conv_transpose3d", "max_pool1d",
    "max_pool2d", "max_pool3d", "avg_pool1d", "avg_pool2d", "avg_pool3d", "lp_pool1d", "lp_pool2d", "lp_pool3d",
    "module",
}  # fmt: skip
_ADAPTIVE = {
    "adaptive_avg_pool1d", "adaptive_avg_pool2d", "adaptive_avg_pool3d", "adaptive_max_pool1d",
    "adaptive_max_pool2d", "adaptive_max_pool3d",
}  # fmt: skip
_RESIZE = {
    "interpolate", "upsample", "upsample_nearest", "upsample_bilinear", "pixel_shuffle", "pixel_unshuffle",
    "repeat_interleave",
}  # fmt: skip
_LAYOUT = {
    "view", "reshape", "flatten", "unflatten", "squeeze", "unsqueeze", "expand", "expand_as", "broadcast_to",
    "view_as", "reshape_as", "ravel", "view_as_real", "view_as_complex", "atleast_1d", "atleast_2d", "atleast_3d",
    "repeat", "tile",
}  # fmt: skip
_PERMUTE = {"permute", "transpose", "movedim", "moveaxis", "swapaxes", "swapdims", "t", "T", "mT", "mH", "H", "adjoint"}
_REDUCE = {
    "mean", "sum", "nansum", "nanmean", "amax", "amin", "max", "min", "argmax", "argmin", "logsumexp", "std", "var",
    "std_mean", "var_mean", "norm", "linalg_vector_norm", "prod", "any", "all", "count_nonzero", "aminmax", "median",
    "nanmedian", "mode", "kthvalue",
}  # fmt: skip
_MIX = {"softmax", "log_softmax", "softmin", "sort", "argsort", "topk", "msort", "glu"}
_CUMULATIVE = {"cumsum", "cumprod", "cummax", "cummin", "logcumsumexp"}
_STATS = {"group_norm", "instance_norm", "batch_norm", "layer_norm", "rms_norm", "normalize", "local_response_norm"}
_MATMUL = {"linear", "matmul", "mm", "bmm", "baddbmm", "addmm", "addbmm", "einsum", "mv", "dot", "inner", "outer"}
_ATTENTION = {"scaled_dot_product_attention", "multi_head_attention_forward"}
_RNN = {"lstm", "gru", "rnn_tanh", "rnn_relu"}
_SPLIT = {"split", "chunk", "tensor_split", "unbind", "split_with_sizes", "hsplit", "vsplit", "dsplit"}
_CAT = {"cat", "concat", "concatenate", "stack", "hstack", "vstack"}
_INDEX = {"__getitem__", "narrow", "select", "index_select"}
_PAD = {"pad", "constant_pad_nd"}
_EMBEDDING = {"embedding"}
_LOSS = {
    "mse_loss", "l1_loss", "smooth_l1_loss", "huber_loss", "cross_entropy", "nll_loss", "binary_cross_entropy",
    "binary_cross_entropy_with_logits", "kl_div", "poisson_nll_loss", "soft_margin_loss",
}  # fmt: skip


def family(call: Call) -> str:
    """The family of a traced call (see the module docstring)."""
    f = call.func
    if f == "__item__":
        return "item"
    if f == "__setitem__":
        return "setitem"
    base = f[:-1] if f.endswith("_") and not f.endswith("__") and f[:-1] in (_UNARY | _BINARY | _CUMULATIVE) else f
    if base in ("max", "min") and len(call.args) > 1 and isinstance(call.args[1], TensorRef):
        return "binary"  # torch.max(a, b): elementwise
    if base == "pow" or base == "clamp" or base == "clip":
        # a tensor exponent / bound makes it a binary op
        if any(isinstance(a, TensorRef) and a.node is not None for a in (*call.args[1:], *call.kwargs.values())):
            return "binary"
        return "pointwise"
    for name, table in (
        ("pointwise", _UNARY),
        ("binary", _BINARY),
        ("layer", _LAYER),
        ("adaptive", _ADAPTIVE),
        ("resize", _RESIZE),
        ("layout", _LAYOUT),
        ("permute", _PERMUTE),
        ("reduce", _REDUCE),
        ("mix", _MIX),
        ("cumulative", _CUMULATIVE),
        ("stats", _STATS),
        ("matmul", _MATMUL),
        ("attention", _ATTENTION),
        ("rnn", _RNN),
        ("split", _SPLIT),
        ("cat", _CAT),
        ("index", _INDEX),
        ("pad", _PAD),
        ("embedding", _EMBEDDING),
        ("loss", _LOSS),
    ):
        if base in table:
            return name
    if base in ("roll", "fft_fftshift", "fft_ifftshift"):
        return "roll"
    if base.startswith("fft_"):
        return "fft"
    if base == "unfold":
        return "unfold"
    return "unknown"


def get(call: Call, index: int, name: str, default: Any = None) -> Any:
    """Argument ``name`` of a call, given by keyword or at position ``index``."""
    if name in call.kwargs:
        return call.kwargs[name]
    if len(call.args) > index:
        return call.args[index]
    return default


def number(value: Any) -> Any:
    """A Python number from an argument: an int/float, or a one-element constant tensor that
    was traced on real data (``None`` when its value is not known)."""
    if isinstance(value, TensorRef):
        return value.number()
    return value


def refs(values: Any) -> list[TensorRef]:
    """Every TensorRef in a nested argument, in order."""
    out: list[TensorRef] = []
    stack = [values]
    while stack:
        v = stack.pop(0)
        if isinstance(v, TensorRef):
            out.append(v)
        elif isinstance(v, (tuple, list)):
            stack[0:0] = list(v)
        elif isinstance(v, dict):
            stack[0:0] = list(v.values())
    return out
