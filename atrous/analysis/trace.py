"""Tracing a torch model into a graph of tensor operations, without computing anything.

Two tracers produce the same stream of :class:`Call` records (one per tensor-producing torch
function call, in execution order, with the data-flow edges between them):

1. ``torch.fx`` symbolic tracing through every module down to torch functions (atrous's own
   convolution layers stay whole: they carry their exact :class:`~atrous.ConvSpec`), with
   shapes propagated on the meta device;
2. when fx fails (data-dependent control flow, unsupported Python), the model runs once on
   the meta device under a ``TorchFunctionMode`` that records every torch function call, with
   forward hooks naming each call after the module that made it.

Neither allocates activations: parameters and inputs are meta tensors (shape only).
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import fx, nn
from torch.overrides import TorchFunctionMode

from atrous.errors import SpecError
from atrous.geometry import ConvSpec

__all__ = ["INPUT", "Call", "TensorRef", "Trace", "trace"]

INPUT = "(input)"  # the name of the network's input node (module paths never contain parentheses)


@dataclass(frozen=True)
class TensorRef:
    """A tensor argument of a call: the node that produced it (``None`` for a parameter or a
    constant) and its shape."""

    node: str | None
    shape: tuple[int, ...]
    multi: bool = False  # the producer returned several tensors (split, chunk, ...)


@dataclass
class Call:
    """One tensor-producing operation of the traced model.

    Attributes:
        name: unique node name (module path, plus a suffix when a module makes several calls).
        func: the torch function's name (``conv2d``, ``add``, ``__getitem__``, ...), or
            ``"module"`` for an atrous layer kept whole.
        args, kwargs: the call's arguments, tensors replaced by :class:`TensorRef`.
        inputs: names of the nodes whose outputs feed this call (data flow, in order).
        shape: shape of the (first) tensor output.
        module: qualified name of the innermost module that made the call (``""`` at top).
        module_type: that module's class name.
        spec: the layer spec of an atrous layer kept whole.
    """

    name: str
    func: str
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    inputs: list[str]
    shape: tuple[int, ...] | None
    module: str = ""
    module_type: str = ""
    spec: ConvSpec | None = None
    params: int = 0


@dataclass
class Trace:
    """The traced graph: the input node's name, the calls in order and the output nodes."""

    input: str
    input_shape: tuple[int, ...]
    calls: list[Call]
    outputs: list[str]
    method: str  # "fx" or "hooks"
    failure: str = ""  # why fx failed, when the fallback ran
    extra: dict[str, Any] = field(default_factory=dict)


def _is_atrous_leaf(m: nn.Module) -> bool:
    from atrous.nn.conv import _ConvBase

    return isinstance(m, _ConvBase)


def is_leaf(m: nn.Module) -> bool:
    """Modules analysed whole: atrous's conv layers and torch.nn's own (fx's default rule)."""
    if _is_atrous_leaf(m):
        return True
    module = type(m).__module__
    return (module.startswith("torch.nn") or module.startswith("torch.ao.nn")) and not isinstance(
        m, (nn.Sequential, nn.ModuleList, nn.ModuleDict)
    )


_POINTWISE_MODULES = (
    nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.PReLU, nn.ELU, nn.SELU, nn.CELU, nn.GELU, nn.SiLU, nn.Mish,
    nn.Sigmoid, nn.Tanh, nn.Hardtanh, nn.Hardswish, nn.Hardsigmoid, nn.Softplus, nn.Softsign,
    nn.Identity, nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d, nn.AlphaDropout,
    nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.SyncBatchNorm, nn.GroupNorm,
    nn.InstanceNorm1d, nn.InstanceNorm2d, nn.InstanceNorm3d, nn.LocalResponseNorm, nn.Softmax2d,
    nn.GLU, nn.Threshold,
)  # fmt: skip


def module_call(m: nn.Module, x: Any) -> tuple[str, tuple[Any, ...], dict[str, Any]]:
    """Express a torch.nn leaf module as the torch function call it makes (one mapping table)."""
    if _is_atrous_leaf(m):
        return "module", (x,), {}
    w = TensorRef(None, tuple(m.weight.shape)) if isinstance(getattr(m, "weight", None), torch.Tensor) else None
    if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Conv3d)):
        n = len(m.kernel_size)
        return (
            f"conv{n}d",
            (x, w),
            {"stride": m.stride, "padding": m.padding, "dilation": m.dilation, "groups": m.groups},
        )
    if isinstance(m, (nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)):
        n = len(m.kernel_size)
        kw = {
            "stride": m.stride,
            "padding": m.padding,
            "output_padding": m.output_padding,
            "groups": m.groups,
            "dilation": m.dilation,
        }
        return f"conv_transpose{n}d", (x, w), kw
    if isinstance(m, (nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d)):
        n = (
            {nn.MaxPool1d: 1, nn.MaxPool2d: 2, nn.MaxPool3d: 3}[type(m)]
            if type(m) in (nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d)
            else 2
        )
        kw = {
            "kernel_size": m.kernel_size,
            "stride": m.stride,
            "padding": m.padding,
            "dilation": m.dilation,
            "ceil_mode": m.ceil_mode,
        }
        return f"max_pool{n}d", (x,), kw
    if isinstance(m, (nn.AvgPool1d, nn.AvgPool2d, nn.AvgPool3d)):
        n = {nn.AvgPool1d: 1, nn.AvgPool2d: 2, nn.AvgPool3d: 3}.get(type(m), 2)
        return (
            f"avg_pool{n}d",
            (x,),
            {"kernel_size": m.kernel_size, "stride": m.stride, "padding": m.padding, "ceil_mode": m.ceil_mode},
        )
    if isinstance(
        m,
        (
            nn.AdaptiveAvgPool1d,
            nn.AdaptiveAvgPool2d,
            nn.AdaptiveAvgPool3d,
            nn.AdaptiveMaxPool1d,
            nn.AdaptiveMaxPool2d,
            nn.AdaptiveMaxPool3d,
        ),
    ):
        return "adaptive_pool", (x, m.output_size), {}
    if isinstance(m, nn.Upsample):
        return "interpolate", (x,), {"size": m.size, "scale_factor": m.scale_factor, "mode": m.mode}
    if isinstance(m, nn.PixelShuffle):
        return "pixel_shuffle", (x, m.upscale_factor), {}
    if isinstance(m, nn.PixelUnshuffle):
        return "pixel_unshuffle", (x, m.downscale_factor), {}
    if isinstance(m, (nn.ZeroPad1d, nn.ZeroPad2d, nn.ZeroPad3d, nn.ConstantPad1d, nn.ConstantPad2d, nn.ConstantPad3d)):
        return "pad", (x, tuple(m.padding)), {"mode": "constant"}
    if isinstance(m, (nn.ReflectionPad1d, nn.ReflectionPad2d, nn.ReflectionPad3d)):
        return "pad", (x, tuple(m.padding)), {"mode": "reflect"}
    if isinstance(m, (nn.ReplicationPad1d, nn.ReplicationPad2d, nn.ReplicationPad3d)):
        return "pad", (x, tuple(m.padding)), {"mode": "replicate"}
    if isinstance(m, (nn.CircularPad1d, nn.CircularPad2d, nn.CircularPad3d)):
        return "pad", (x, tuple(m.padding)), {"mode": "circular"}
    if isinstance(m, nn.Flatten):
        return "flatten", (x, m.start_dim, m.end_dim), {}
    if isinstance(m, nn.Linear):
        return "linear", (x, w), {}
    if isinstance(m, _POINTWISE_MODULES):
        return "pointwise", (x,), {}
    return f"module:{type(m).__name__}", (x,), {}


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


def _shape(value: Any) -> tuple[int, ...] | None:
    if isinstance(value, torch.Tensor):
        return tuple(int(n) for n in value.shape)
    if isinstance(value, (tuple, list)) and value and isinstance(value[0], torch.Tensor):
        return tuple(int(n) for n in value[0].shape)
    return None


def _param_count(m: nn.Module) -> int:
    return sum(p.numel() for p in m.parameters(recurse=False))


# --------------------------------------------------------------------------- fx


class _Tracer(fx.Tracer):
    def is_leaf_module(self, m: nn.Module, module_qualified_name: str) -> bool:
        return is_leaf(m)


@dataclass(frozen=True)
class _ShapeMeta:
    shape: tuple[int, ...]


class _ShapeProp(fx.Interpreter):
    """Runs the graph (on meta tensors) and records each node's output shape(s)."""

    def run_node(self, n: fx.Node) -> Any:
        result = super().run_node(n)

        def meta(obj: Any) -> Any:
            return _ShapeMeta(tuple(int(v) for v in obj.shape)) if isinstance(obj, torch.Tensor) else obj

        if isinstance(result, torch.Tensor):
            n.meta["tensor_meta"] = meta(result)
        elif isinstance(result, (tuple, list)) and any(isinstance(r, torch.Tensor) for r in result):
            n.meta["tensor_meta"] = [meta(r) for r in result]
        return result


def _trace_fx(model: nn.Module, input_shape: tuple[int, ...]) -> Trace:
    import inspect

    tracer = _Tracer()
    concrete: dict[str, Any] = {}
    params = list(inspect.signature(model.forward).parameters.values())
    for p in params[1:]:  # the first argument is the input; optional ones keep their defaults
        if p.default is not inspect.Parameter.empty:
            concrete[p.name] = p.default
    graph = tracer.trace(model, concrete_args=concrete or None)
    gm = fx.GraphModule(tracer.root, graph)

    class _Runner(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.gm = gm

        def forward(self, x: torch.Tensor) -> Any:
            return _ShapeProp(self.gm).run(x)

    runner = _Runner()
    state = {f"gm.{k}": v for k, v in _meta_state(gm).items()}
    x = torch.empty(input_shape, device="meta", dtype=_input_dtype(model))
    torch.func.functional_call(runner, state, (x,), strict=False)

    placeholders = [n for n in graph.nodes if n.op == "placeholder"]

    def used(p: fx.Node) -> bool:  # concrete (default) arguments are only checked by fx's asserts
        return any("assert" not in getattr(u.target, "__name__", str(u.target)) for u in p.users)

    placeholders = placeholders[:1] + [p for p in placeholders[1:] if used(p)]
    if len(placeholders) != 1:
        raise SpecError(f"the model's forward takes {len(placeholders)} tensor inputs; analysis supports one")
    names: dict[fx.Node, str] = {}
    used: dict[str, int] = {}
    calls: list[Call] = []
    outputs: list[str] = []

    def ref(a: Any) -> Any:
        if isinstance(a, fx.Node):
            meta = a.meta.get("tensor_meta")
            multi = isinstance(meta, (tuple, list)) and bool(meta) and hasattr(meta[0], "shape")
            if meta is not None and hasattr(meta, "shape"):
                shape = tuple(int(n) for n in meta.shape)
            elif multi:
                shape = tuple(int(n) for n in meta[0].shape)
            else:
                shape = None
            if a.op == "get_attr":
                return TensorRef(None, shape or ())
            if shape is None:
                return None
            return TensorRef(names.get(a), shape, multi)
        if isinstance(a, (tuple, list)):
            return type(a)(ref(x) for x in a)
        if isinstance(a, dict):
            return {k: ref(v) for k, v in a.items()}
        return a

    for node in graph.nodes:
        if node.op == "placeholder":
            if node is placeholders[0]:
                names[node] = INPUT
            continue
        if node.op == "output":
            flat: list[Any] = []
            _flatten(node.args[0], flat)
            outputs = [names[n] for n in flat if isinstance(n, fx.Node) and n in names]
            continue
        if node.op == "get_attr":
            continue
        meta = node.meta.get("tensor_meta")
        shape = None
        if meta is not None:
            shape = (
                tuple(int(n) for n in meta.shape)
                if hasattr(meta, "shape")
                else (
                    tuple(int(n) for n in meta[0].shape)
                    if isinstance(meta, (tuple, list)) and meta and hasattr(meta[0], "shape")
                    else None
                )
            )
        stack = node.meta.get("nn_module_stack") or {}
        module_path, module_type = "", ""
        if stack:
            key, value = list(stack.items())[-1]
            module_path = value[0] if isinstance(value, tuple) else str(key)
            mtype = value[1] if isinstance(value, tuple) else ""
            module_type = mtype.__name__ if isinstance(mtype, type) else str(mtype).rsplit(".", 1)[-1]
        if node.op == "call_function" and node.target is getattr and node.args and isinstance(node.args[0], fx.Node):
            # fx creates attribute nodes where they are used: they belong to the producer's module
            producer = node.args[0]
            stack = producer.meta.get("nn_module_stack") or {}
            module_path, module_type = "", ""
            if stack:
                key, value = list(stack.items())[-1]
                module_path = value[0] if isinstance(value, tuple) else str(key)
                mtype = value[1] if isinstance(value, tuple) else ""
                module_type = mtype.__name__ if isinstance(mtype, type) else str(mtype).rsplit(".", 1)[-1]
        spec = None
        count = 0
        if node.op == "call_module":
            mod = gm.get_submodule(node.target)
            module_path, module_type = str(node.target), type(mod).__name__
            spec = getattr(mod, "spec", None) if _is_atrous_leaf(mod) else None
            count = sum(p.numel() for p in mod.parameters())
            func, args, kwargs = module_call(mod, ref(node.args[0]) if node.args else None)
            extra = [ref(a) for a in node.args[1:]]  # e.g. ConvTranspose's output_size
            inputs = _tensor_inputs((args, extra), node.kwargs and ref(dict(node.kwargs)))
        else:
            func = _func_name(node.target) if node.op == "call_function" else str(node.target)
            if node.op == "call_function" and node.target is getattr and len(node.args) > 1:
                func = str(node.args[1])  # the attribute: real, imag, T, ...
            args = ref(tuple(node.args))
            kwargs = ref(dict(node.kwargs))
            inputs = _tensor_inputs(args, kwargs)
            if func in _WEIGHTED:
                count = sum(_numel(a.shape) for a in _flat_refs((args[1:], kwargs)) if a.node is None)
        base = module_path.replace(".", "/") or func
        name = base if base not in used else f"{base}:{used[base]}"
        used[base] = used.get(base, 0) + 1
        names[node] = name
        if shape is None:
            continue
        calls.append(Call(name, func, args, kwargs, inputs, shape, module_path, module_type, spec, count))
    return Trace(INPUT, input_shape, calls, outputs, "fx")


_WEIGHTED = ("linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d", "conv_transpose3d")


def _numel(shape: tuple[int, ...]) -> int:
    n = 1
    for s in shape:
        n *= s
    return n


def _flat_refs(values: Sequence[Any]) -> list[TensorRef]:
    out: list[Any] = []
    _flatten(values, out)
    return [v for v in out if isinstance(v, TensorRef)]


def _flatten(value: Any, out: list[Any]) -> None:
    if isinstance(value, (tuple, list)):
        for v in value:
            _flatten(v, out)
    elif isinstance(value, dict):
        for v in value.values():
            _flatten(v, out)
    else:
        out.append(value)


def _tensor_inputs(args: Any, kwargs: Any) -> list[str]:
    seen: list[str] = []
    for r in _flat_refs((args, kwargs)):
        if r.node is not None and r.node not in seen:
            seen.append(r.node)
    return seen


def _func_name(target: Any) -> str:
    if target is operator.getitem:
        return "__getitem__"
    name = getattr(target, "__name__", None) or str(target)
    return {"iadd": "add", "isub": "sub", "imul": "mul", "truediv": "div", "concatenate": "cat", "concat": "cat"}.get(
        name, name
    )


# --------------------------------------------------------------------------- fallback: meta run + hooks


class _Recorder(TorchFunctionMode):
    def __init__(self) -> None:
        super().__init__()
        self.calls: list[Call] = []
        self.ids: dict[int, str] = {}
        self.keep: list[torch.Tensor] = []
        self.params: set[int] = set()
        self.module_stack: list[tuple[str, str]] = []
        self.leaf_depth = 0
        self.used: dict[str, int] = {}

    def ref(self, a: Any) -> Any:
        if isinstance(a, torch.Tensor):
            return TensorRef(self.ids.get(id(a)), tuple(int(n) for n in a.shape))
        if isinstance(a, (tuple, list)) and a and all(isinstance(t, torch.Tensor) for t in a) and id(a) in self.ids:
            return TensorRef(self.ids[id(a)], tuple(int(n) for n in a[0].shape), True)
        if isinstance(a, (tuple, list)):
            return type(a)(self.ref(x) for x in a)
        if isinstance(a, dict):
            return {k: self.ref(v) for k, v in a.items()}
        return a

    def record(
        self,
        func: str,
        args: Any,
        kwargs: Any,
        out: Any,
        spec: ConvSpec | None = None,
        count: int = 0,
        module: tuple[str, str] | None = None,
    ) -> None:
        shape = _shape(out)
        if shape is None:
            return
        path, mtype = module or (self.module_stack[-1] if self.module_stack else ("", ""))
        base = path.replace(".", "/") or func
        name = base if base not in self.used else f"{base}:{self.used[base]}"
        self.used[base] = self.used.get(base, 0) + 1
        rargs, rkwargs = self.ref(tuple(args)), self.ref(dict(kwargs))
        inputs = _tensor_inputs(rargs, rkwargs)
        if func in _WEIGHTED and not count:
            count = sum(_numel(r.shape) for r in _flat_refs((rargs[1:], rkwargs)) if r.node is None)
        self.calls.append(Call(name, func, rargs, rkwargs, inputs, shape, path, mtype, spec, count))
        outs = out if isinstance(out, (tuple, list)) else (out,)
        if isinstance(out, (tuple, list)):
            self.ids[id(out)] = name
            self.keep.append(out)  # type: ignore[arg-type]
        for t in outs:
            if isinstance(t, torch.Tensor):
                self.ids[id(t)] = name
                self.keep.append(t)

    def __torch_function__(self, func: Callable[..., Any], types: Any, args: Any = (), kwargs: Any = None) -> Any:
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        if self.leaf_depth == 0:
            name = _func_name(func)
            if name == "__get__":  # a tensor property: name it after the attribute (real, imag, T, ...)
                name = getattr(getattr(func, "__self__", None), "__name__", "__get__")
                if name in (
                    "shape",
                    "dtype",
                    "device",
                    "requires_grad",
                    "grad_fn",
                    "is_cuda",
                    "layout",
                    "ndim",
                    "__get__",
                ):
                    return out
            if name not in ("dim", "size", "numel", "__len__", "is_floating_point", "__bool__"):
                self.record(name, args, kwargs, out)
        return out


def _trace_hooks(model: nn.Module, input_shape: tuple[int, ...], failure: str) -> Trace:
    try:
        return _run_hooks(model, input_shape, failure, real=False)
    except _DataDependent:
        # the forward branches on tensor values, which the meta device cannot know: run once on
        # a random input (this allocates activations, unlike the meta runs)
        note = "data-dependent control flow: traced on a real random input"
        return _run_hooks(model, input_shape, f"{failure}; {note}" if failure else note, real=True)


class _DataDependent(Exception):
    pass


def _run_hooks(model: nn.Module, input_shape: tuple[int, ...], failure: str, real: bool) -> Trace:
    rec = _Recorder()
    handles = []
    names = {m: n for n, m in model.named_modules()}

    def pre(m: nn.Module, args: Any) -> None:
        rec.module_stack.append((names.get(m, ""), type(m).__name__))
        if is_leaf(m) and m is not model:
            rec.leaf_depth += 1

    def post(m: nn.Module, args: Any, out: Any) -> None:
        info = rec.module_stack.pop()
        if is_leaf(m) and m is not model:
            rec.leaf_depth -= 1
            if rec.leaf_depth == 0:
                func, margs, mkw = module_call(m, args[0] if args else None)
                spec = getattr(m, "spec", None) if _is_atrous_leaf(m) else None
                rec.record(func, (*margs, *args[1:]), mkw, out, spec, sum(p.numel() for p in m.parameters()), info)

    for m in model.modules():
        handles.append(m.register_forward_pre_hook(pre))
        handles.append(m.register_forward_hook(post))
    dtype = _input_dtype(model)
    if real:
        x = torch.randn(input_shape, dtype=dtype, generator=torch.Generator().manual_seed(0))
    else:
        x = torch.empty(input_shape, device="meta", dtype=dtype)
    rec.ids[id(x)] = INPUT
    rec.keep.append(x)
    state = None if real else _meta_state(model)
    try:
        with rec, torch.no_grad():
            out = model(x) if state is None else torch.func.functional_call(model, state, (x,), strict=False)
    except (RuntimeError, ValueError, TypeError, IndexError, NotImplementedError) as exc:
        first = " ".join(str(exc).split())[:300]
        if not real and ("meta tensor" in first or "data-dependent" in first or "meta device" in first):
            raise _DataDependent(first) from None
        raise SpecError(f"the model fails on input shape {input_shape}: {type(exc).__name__}: {first}") from None
    finally:
        for h in handles:
            h.remove()
    flat: list[Any] = []
    _flatten(out, flat)
    outputs = [rec.ids[id(t)] for t in flat if isinstance(t, torch.Tensor) and id(t) in rec.ids]
    return Trace(INPUT, input_shape, rec.calls, outputs, "hooks", failure)


def trace(model: nn.Module, input_shape: Sequence[int], method: str = "auto") -> Trace:
    """Trace ``model`` on an input of ``input_shape`` (``(N, C, *spatial)``) without compute.

    Args:
        method: ``"auto"`` (fx, then the hook fallback), ``"fx"`` or ``"hooks"``.
    """
    if not isinstance(model, nn.Module):
        raise SpecError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    shape = tuple(int(n) for n in input_shape)
    if len(shape) < 3 or any(n < 1 for n in shape):
        raise SpecError(f"input shape must be (N, C, *spatial) with positive sizes, got {tuple(input_shape)!r}")
    if method not in ("auto", "fx", "hooks"):
        raise SpecError(f"method must be 'auto', 'fx' or 'hooks', got {method!r}")
    if method == "hooks":
        return _trace_hooks(model, shape, "")
    try:
        return _trace_fx(model, shape)
    except SpecError:
        raise
    except Exception as exc:  # fx cannot trace this model: fall back
        if method == "fx":
            raise SpecError(f"torch.fx could not trace the model: {type(exc).__name__}: {exc}") from None
        return _trace_hooks(model, shape, f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}")
