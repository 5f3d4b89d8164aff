"""Tracing a torch model into a graph of tensor operations.

One tracer serves analysis and streaming: the model runs once under a ``TorchFunctionMode``
that records every torch function call whose arguments include a tensor derived from the
input (module forward hooks name each call after the module that made it). Everything is
recorded at the level of torch functions (``conv1d``, ``pad``, ``layer_norm``, ``add``,
``__getitem__``, ...), so a subclass of a torch layer that pads in its own ``forward``, a
weight parametrisation, a reused activation or a channels-last block is seen exactly as it
computes. Only layers that describe their own geometry (atrous's layers, through
``__atrous_spec__`` or ``spec``) and modules the user declares are kept whole.

Values computed from parameters, buffers and literals alone (weight norm, layer scale,
Snake's ``1 / alpha``, positional tables) are *constants*: they are not nodes of the graph,
and appear in a call's arguments as a :class:`TensorRef` with ``node=None``.

The first run is on the meta device (shapes only, nothing allocated). If the model cannot run
there (control flow on tensor values, tensor-valued padding amounts, an op without a meta
kernel), it runs once on a random real input instead.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn
from torch.overrides import TorchFunctionMode

from atrous.errors import SpecError
from atrous.geometry import ConvSpec, LayerSpec

__all__ = ["INPUT", "Call", "TensorRef", "Trace", "input_name", "layer_spec", "trace"]

INPUT = "(input)"  # the name of the network's input node (module paths never contain parentheses)


@dataclass(frozen=True, eq=False)
class TensorRef:
    """A tensor argument of a call: the node that produced it (``None`` for a constant), its
    shape, and for constants the tensor itself (``value``; a meta tensor after a meta run)."""

    node: str | None
    shape: tuple[int, ...]
    multi: bool = False  # kept for compatibility: element nodes now name each output
    value: torch.Tensor | None = None

    def number(self) -> int | float | None:
        """The value of a one-element constant that was traced on real data, else ``None``."""
        v = self.value
        if self.node is not None or v is None or v.is_meta or v.numel() != 1:
            return None
        return v.item()  # type: ignore[no-any-return]


@dataclass
class Call:
    """One tensor-producing operation of the traced model.

    Attributes:
        name: unique node name (module path, plus a suffix when a module makes several calls).
        func: the torch function's name (``conv2d``, ``add``, ``__getitem__``, ...),
            ``"module"`` for a layer kept whole, ``"__item__"`` for one output of a
            multi-output call (``args = (TensorRef(the call), index)``).
        args, kwargs: the call's arguments, tensors replaced by :class:`TensorRef`.
        inputs: names of the nodes whose outputs feed this call (data flow, in order).
        shape: shape of the (first) tensor output; ``shapes``: of every tensor output.
        module: qualified name of the innermost module that made the call (``""`` at top).
        module_type: that module's class name.
        spec: the layer spec of a layer kept whole.
        params: parameters the operation uses (its constant weight arguments).
        fn: the callable that was called (the module, for a layer kept whole).
        outputs: number of outputs when the call returned a tuple (0: a single tensor).
    """

    name: str
    func: str
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    inputs: list[str]
    shape: tuple[int, ...] | None
    module: str = ""
    module_type: str = ""
    spec: LayerSpec | str | None = None
    params: int = 0
    fn: Callable[..., Any] | None = None
    shapes: list[tuple[int, ...]] = field(default_factory=list)
    outputs: int = 0
    dtype: torch.dtype | None = None


@dataclass
class Trace:
    """The traced graph: the input node's name, the calls in order and the output nodes."""

    input: str
    input_shape: tuple[int, ...]
    calls: list[Call]
    outputs: list[str]
    method: str  # "meta" or "real"
    failure: str = ""  # why the meta run failed, when the real run was used
    input_layout: str | None = None  # letters per input dimension (N, C, spatial)
    output_names: list[str] = field(default_factory=list)  # key or index of each output
    extra: dict[str, Any] = field(default_factory=dict)
    leaves: dict[str, str] = field(default_factory=dict)  # module path -> how it was kept whole


# --------------------------------------------------------------------------- leaves


def layer_spec(m: nn.Module) -> LayerSpec | None:
    """The geometry a module declares for itself: ``__atrous_spec__`` (a spec or a callable
    returning one) or atrous's layers' ``spec``; ``None`` for every other module."""
    declared = getattr(type(m), "__atrous_spec__", None)
    if declared is not None:
        value = declared(m) if callable(declared) else declared
        return value  # type: ignore[no-any-return]
    from atrous.nn.conv import _ConvBase

    if isinstance(m, _ConvBase):
        return m.spec  # type: ignore[no-any-return]
    return None


_WEIGHTED = ("linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d", "conv_transpose3d")

# calls whose result does not depend on the values of their tensor arguments
_SHAPE_ONLY = {
    "new_zeros", "new_ones", "new_empty", "new_full", "new_tensor", "zeros_like", "ones_like", "empty_like",
    "full_like", "rand_like", "randn_like", "randint_like", "size", "dim", "numel", "__len__", "is_floating_point",
    "is_complex", "element_size", "stride", "storage_offset", "is_contiguous", "data_ptr", "get_device",
    "_set_grad_enabled", "__bool__", "__index__", "__int__", "__float__", "tolist", "item",
}  # fmt: skip
# in-place calls after which the tensor no longer depends on its old value
_OVERWRITE = {"zero_", "fill_", "normal_", "uniform_", "random_", "bernoulli_", "exponential_"}
_METADATA = {
    "shape", "dtype", "device", "requires_grad", "grad_fn", "is_cuda", "layout", "ndim", "is_leaf", "grad",
    "is_sparse", "is_quantized", "is_meta", "names", "__get__", "itemsize", "nbytes", "is_nested", "_version",
}  # fmt: skip
_RENAME = {
    "iadd": "add", "isub": "sub", "imul": "mul", "truediv": "div", "concatenate": "cat", "concat": "cat",
    "_max_pool1d": "max_pool1d", "_max_pool2d": "max_pool2d", "_max_pool3d": "max_pool3d",
    "max_pool1d_with_indices": "max_pool1d", "max_pool2d_with_indices": "max_pool2d",
    "max_pool3d_with_indices": "max_pool3d", "__iadd__": "add", "__isub__": "sub", "__imul__": "mul",
    "__itruediv__": "div", "__add__": "add", "__radd__": "add", "__sub__": "sub", "__mul__": "mul",
    "__rmul__": "mul", "__truediv__": "div", "__matmul__": "matmul", "__rmatmul__": "matmul",
}  # fmt: skip


def _func_name(func: Any) -> str:
    name = getattr(func, "__name__", None) or str(func)
    if name == "__get__":  # a tensor property: name it after the attribute (real, imag, T, ...)
        name = getattr(getattr(func, "__self__", None), "__name__", "__get__")
    return _RENAME.get(name, name)


def _numel(shape: tuple[int, ...]) -> int:
    n = 1
    for s in shape:
        n *= s
    return n


def _flatten(value: Any, out: list[Any]) -> None:
    if isinstance(value, (tuple, list)):
        for v in value:
            _flatten(v, out)
    elif isinstance(value, dict):
        for v in value.values():
            _flatten(v, out)
    else:
        out.append(value)


def _flat_refs(values: Any) -> list[TensorRef]:
    out: list[Any] = []
    _flatten(values, out)
    return [v for v in out if isinstance(v, TensorRef)]


def _tensor_inputs(args: Any, kwargs: Any) -> list[str]:
    seen: list[str] = []
    for r in _flat_refs((args, kwargs)):
        if r.node is not None and r.node not in seen:
            seen.append(r.node)
    return seen


def _named_outputs(out: Any, prefix: str = "") -> list[tuple[str, Any]]:
    """``(key path, value)`` of a model's outputs: dict / ModelOutput keys, tuple indices."""
    if isinstance(out, torch.Tensor):
        return [(prefix or "0", out)]
    items: list[tuple[str, Any]] = []
    if isinstance(out, dict):
        for k, v in out.items():
            items += _named_outputs(v, f"{prefix}.{k}" if prefix else str(k))
    elif isinstance(out, (tuple, list)):
        for i, v in enumerate(out):
            items += _named_outputs(v, f"{prefix}.{i}" if prefix else str(i))
    return items


def _outputs_of(out: Any) -> list[Any]:
    """The tensors a call returned (a tensor, or a tuple / list / named tuple of them)."""
    if isinstance(out, torch.Tensor):
        return [out]
    if isinstance(out, (tuple, list)):
        return list(out)
    return []


# --------------------------------------------------------------------------- the recorder


class _Recorder(TorchFunctionMode):
    def __init__(self, leaves: dict[str, LayerSpec | str]) -> None:
        super().__init__()
        self.calls: list[Call] = []
        self.ids: dict[int, str] = {}
        self.keep: list[Any] = []  # every tensor seen stays alive, so that no id is reused
        self.module_stack: list[tuple[str, str]] = []
        self.leaf_depth = 0
        self.used: dict[str, int] = {}
        self.declared = leaves
        self.values: dict[str, torch.Tensor] | None = None  # each node's output, when asked

    def ref(self, a: Any) -> Any:
        if isinstance(a, torch.Tensor):
            node = self.ids.get(id(a))
            shape = tuple(int(n) for n in a.shape)
            if node is None:
                self.keep.append(a)
                return TensorRef(None, shape, value=a)
            return TensorRef(node, shape)
        if isinstance(a, (tuple, list)):
            return type(a)(self.ref(x) for x in a) if not hasattr(a, "_fields") else tuple(self.ref(x) for x in a)
        if isinstance(a, dict):
            return {k: self.ref(v) for k, v in a.items()}
        return a

    def traced(self, values: Any) -> bool:
        flat: list[Any] = []
        _flatten(values, flat)
        return any(isinstance(t, torch.Tensor) and id(t) in self.ids for t in flat)

    def _name(self, base: str) -> str:
        name = base if base not in self.used else f"{base}:{self.used[base]}"
        self.used[base] = self.used.get(base, 0) + 1
        return name

    def record(
        self,
        func: str,
        fn: Callable[..., Any] | None,
        args: Any,
        kwargs: Any,
        out: Any,
        spec: LayerSpec | str | None = None,
        count: int | None = None,
        module: tuple[str, str] | None = None,
    ) -> None:
        outs = _outputs_of(out)
        tensors = [t for t in outs if isinstance(t, torch.Tensor)]
        if not tensors:
            return
        path, mtype = module or (self.module_stack[-1] if self.module_stack else ("", ""))
        name = self._name(path.replace(".", "/") or func)
        rargs, rkwargs = self.ref(tuple(args)), self.ref(dict(kwargs))
        inputs = _tensor_inputs(rargs, rkwargs)
        if count is None:
            count = (
                sum(_numel(r.shape) for r in _flat_refs((rargs[1:], rkwargs)) if r.node is None)
                if func in _WEIGHTED
                else 0
            )
        shapes = [tuple(int(n) for n in t.shape) for t in tensors]
        multi = not isinstance(out, torch.Tensor)
        call = Call(
            name, func, rargs, rkwargs, inputs, shapes[0], path, mtype, spec, count, fn, shapes,
            len(outs) if multi else 0, tensors[0].dtype,
        )  # fmt: skip
        self.calls.append(call)
        self.keep.append(out)
        if self.values is not None and not multi:
            self.values[name] = out.detach().clone()  # a copy: later in-place ops change `out`
        if not multi:
            self.ids[id(out)] = name
            return
        for i, t in enumerate(outs):
            if isinstance(t, torch.Tensor):
                item = f"{name}[{i}]"
                shape = tuple(int(n) for n in t.shape)
                self.calls.append(
                    Call(item, "__item__", (TensorRef(name, shapes[0]), i), {}, [name], shape, path, mtype,
                         shapes=[shape], dtype=t.dtype)
                )  # fmt: skip
                self.ids[id(t)] = item
                if self.values is not None:
                    self.values[item] = t.detach().clone()

    def __torch_function__(self, func: Callable[..., Any], types: Any, args: Any = (), kwargs: Any = None) -> Any:
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        if self.leaf_depth:
            return out
        name = _func_name(func)
        if name in _METADATA or name in _SHAPE_ONLY or not self.traced((args, kwargs)):
            return out
        if name in _OVERWRITE and args and isinstance(args[0], torch.Tensor):
            self.ids.pop(id(args[0]), None)
            return out
        if name == "__setitem__":
            # x[index] = value modifies x in place: a new node replaces x
            self.record("__setitem__", func, args, kwargs, args[0])
            return out
        self.record(name, func, args, kwargs, out)
        return out


def _meta_state(model: nn.Module) -> dict[str, torch.Tensor]:
    state: dict[str, torch.Tensor] = {}
    for name, p in model.named_parameters(remove_duplicate=False):
        state[name] = p.detach().to("meta")
    for name, b in model.named_buffers(remove_duplicate=False):
        state[name] = b.detach().to("meta")
    return state


def _input_dtype(model: nn.Module) -> torch.dtype:
    """The dtype the model computes in: that of its first floating parameter (float32 if none)."""
    for p in model.parameters():
        if p.is_floating_point():
            return p.dtype
    return torch.float32


def _input_device(model: nn.Module) -> torch.device:
    for p in model.parameters():
        return p.device
    for b in model.buffers():
        return b.device
    return torch.device("cpu")


class _MetaFailure(Exception):
    pass


def _run(
    model: nn.Module,
    input_shape: tuple[int, ...],
    leaves: dict[str, LayerSpec | str],
    real: bool,
    x: torch.Tensor | None = None,
    extra: dict[str, torch.Tensor] | None = None,
    values: bool = False,
) -> tuple[_Recorder, Any, torch.Tensor]:
    rec = _Recorder(leaves)
    if values:
        rec.values = {}
    names = {m: n for n, m in model.named_modules(remove_duplicate=False)}
    kept: dict[int, tuple[LayerSpec | str, str]] = {}
    for m, n in names.items():
        if m is model:
            continue
        if n in leaves:
            kept[id(m)] = (leaves[n], "declared")
        else:
            spec = layer_spec(m)
            if spec is not None:
                kept[id(m)] = (spec, "spec")

    def pre(m: nn.Module, args: Any) -> None:
        rec.module_stack.append((names.get(m, ""), type(m).__name__))
        if id(m) in kept:
            rec.leaf_depth += 1

    def post(m: nn.Module, args: Any, out: Any) -> None:
        info = rec.module_stack.pop()
        if id(m) in kept:
            rec.leaf_depth -= 1
            if rec.leaf_depth == 0 and rec.traced(args):
                spec = kept[id(m)][0]
                count = sum(p.numel() for p in m.parameters())
                rec.record("module", m, args, {}, out, spec, count, info)

    handles = []
    for m in names:
        # ours run innermost: the user's pre-hooks before ours and the user's forward hooks
        # after ours, so that what they compute is traced like any other call
        handles.append(m.register_forward_pre_hook(pre))
        handles.append(m.register_forward_hook(post, prepend=True))
    dtype = _input_dtype(model)
    if x is None:
        if real:
            x = torch.randn(
                input_shape, dtype=dtype, generator=torch.Generator().manual_seed(0), device=_input_device(model)
            )
        else:
            x = torch.empty(input_shape, device="meta", dtype=dtype)
    rec.ids[id(x)] = INPUT
    rec.keep.append(x)
    kwargs: dict[str, Any] = {}
    for key, value in (extra or {}).items():
        t = value if real else value.to("meta")
        kwargs[key] = t
        rec.ids[id(t)] = input_name(key)
        rec.keep.append(t)
    try:
        with rec, torch.no_grad():
            if real:
                out = model(x, **kwargs)
            else:
                out = torch.func.functional_call(model, _meta_state(model), (x,), kwargs, strict=False)
    except Exception as exc:
        first = " ".join(str(exc).split())[:300]
        if not real:
            raise _MetaFailure(f"{type(exc).__name__}: {first}") from None
        if isinstance(exc, TypeError) and "positional argument" in first:
            raise SpecError(
                f"the model's forward needs more than one input ({first}); analysis and streaming call model(x)"
            ) from None
        raise SpecError(f"the model fails on input shape {input_shape}: {type(exc).__name__}: {first}") from None
    finally:
        for h in handles:
            h.remove()
    return rec, out, x


def input_name(key: str) -> str:
    """The node name of a keyword input of the model's forward (``(input:c)``)."""
    return f"(input:{key})"


def trace(
    model: nn.Module,
    input_shape: Sequence[int],
    method: str = "auto",
    *,
    leaves: dict[str, LayerSpec | str] | None = None,
    x: torch.Tensor | None = None,
    input_layout: str | None = None,
    extra: dict[str, torch.Tensor] | None = None,
    values: bool = False,
) -> Trace:
    """Trace ``model`` on an input of ``input_shape`` (``(N, C, *spatial)``).

    Args:
        method: ``"auto"`` (the meta device, then a real random input if the model cannot
            run on meta tensors), ``"meta"`` or ``"real"`` (``"hooks"`` is ``"meta"``).
        leaves: module paths to keep whole, with their declared geometry.
        x: a real input to trace with (implies ``method="real"``).
        extra: keyword inputs of the model's forward (real tensors; their nodes are named
            :func:`input_name`), e.g. a WaveNet's conditioning.
        values: keep every node's output (a real trace): ``trace.extra["values"]``.

    Examples:
        >>> t = trace(torch.nn.Sequential(torch.nn.Conv1d(1, 2, 3), torch.nn.ReLU()), (1, 1, 8))
        >>> [(c.name, c.func) for c in t.calls]
        [('0', 'conv1d'), ('1', 'relu')]
    """
    if not isinstance(model, nn.Module):
        raise SpecError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if isinstance(input_shape, (str, bytes)) or not isinstance(input_shape, Iterable):
        raise SpecError(f"input shape must be a sequence (N, C, *spatial) of positive sizes, got {input_shape!r}")
    from atrous.geometry.spec import check_int

    shape = tuple(check_int(f"input_shape[{i}]", n, 1) for i, n in enumerate(input_shape))
    if len(shape) < (2 if input_layout is None else 1):
        raise SpecError(
            f"input shape must be (N, C, *spatial) or (N, L) with positive sizes, got {tuple(input_shape)!r}"
        )
    from atrous.analysis.layout import parse_layout

    input_layout = parse_layout(input_layout, len(shape))
    if method == "hooks":
        method = "meta"
    if method not in ("auto", "meta", "real"):
        raise SpecError(f"method must be 'auto', 'meta' or 'real', got {method!r}")
    leaves = dict(leaves or {})
    failure = ""
    if x is not None:
        method = "real"
    if method in ("auto", "meta"):
        try:
            rec, out, _ = _run(model, shape, leaves, real=False, extra=extra)
            used = "meta"
        except _MetaFailure as exc:
            if method == "meta":
                raise SpecError(f"the model cannot run on the meta device: {exc}") from None
            failure = str(exc)
            rec, out, _ = _run(model, shape, leaves, real=True, extra=extra)
            used = "real"
    else:
        rec, out, _ = _run(model, shape, leaves, real=True, x=x, extra=extra, values=values)
        used = "real"
    outputs: list[str] = []
    names: list[str] = []
    for key, t in _named_outputs(out):
        if isinstance(t, torch.Tensor) and id(t) in rec.ids:
            outputs.append(rec.ids[id(t)])
            names.append(key)
    kept = {c.module: ("declared" if c.module in leaves else "spec") for c in rec.calls if c.func == "module"}
    tr = Trace(INPUT, shape, rec.calls, outputs, used, failure, input_layout, names, leaves=kept)
    tr.extra["recorder"] = rec
    if rec.values is not None:
        tr.extra["values"] = rec.values
    return tr


def conv_spec_of(weight_shape: Sequence[int], stride: Any, padding: Any, dilation: Any, nd: int) -> ConvSpec:
    """A ``ConvSpec`` from a convolution call's arguments (PyTorch's int-or-tuple forms)."""

    def per_axis(v: Any) -> tuple[int, ...]:
        if isinstance(v, (tuple, list)):
            return tuple(int(x) for x in v)
        return (int(v),) * nd

    pad = padding if isinstance(padding, str) else per_axis(padding)
    return ConvSpec(tuple(weight_shape[2:]), per_axis(stride), pad, per_axis(dilation), ndim=nd)
