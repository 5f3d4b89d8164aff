"""The entry points: :func:`conv` and :func:`conv_transpose` choose a route per call and run it.

A call's key is its shapes, stride, padding, dilation (and output padding), groups, dtype and
device. The first call with a key decides its route (a forced route, the rules, or the
autotune) and keeps the decision; a shape decided ``native``, a pure-view ``fold`` or ``taps``
also keeps a call plan, so that later calls cost one dict lookup and the route's call.

Only CPU tensors (plain, contiguous, not traced or compiled, no functorch transform, no
autocast, no forward-mode AD) leave the native route, and the rules only pick another route for
float32.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.autograd.forward_ad as _fwAD
from torch import Tensor

from atrous._fast import autotune, rules
from atrous._fast.calls import CONV, CONV_T, Ints, Pads, arg, check_pads, native_padding, out_sizes, transposed_call
from atrous._fast.routes import RUN, RUN_T, fold, taps, why_not, why_not_t
from atrous._fast.state import ROUTES, ROUTES_T, STATE, Decision, Plan, deterministic

__all__ = ["conv", "conv_transpose", "route_for"]

_is_compiling = torch.compiler.is_compiling


def _plain(x: Tensor, weight: Tensor) -> bool:
    """Whether a call may leave the native route at all."""
    if type(x) is not Tensor or not isinstance(weight, Tensor) or type(weight) not in (Tensor, torch.nn.Parameter):
        return False
    if x.device.type != "cpu" or weight.device != x.device or x.layout != torch.strided:
        return False
    if torch.jit.is_scripting() or torch.jit.is_tracing() or _is_compiling():  # type: ignore[attr-defined,no-untyped-call]
        return False
    if torch._C._are_functorch_transforms_active() or _fwAD._current_level >= 0:
        return False  # (forward-mode AD: the routes' autograd Functions define no jvp)
    if torch.is_autocast_enabled("cpu"):
        return False  # (autocast casts PyTorch's convolution, not the routes' own arithmetic)
    return x.is_contiguous()


def _macs(x: Tensor, weight: Tensor, stride: Ints, pads: Pads, dilation: Ints) -> float:
    out = out_sizes(x.shape[2:], weight.shape[2:], stride, pads, dilation)
    n = 1
    for o in out:
        n *= o
    return float(x.shape[0]) * n * weight.numel()


def _decide(
    x: Tensor, weight: Tensor, bias: Tensor | None, stride: Ints, pads: Pads, dilation: Ints, groups: int
) -> Decision:
    """The rule's route, or the autotune's where the rule is ambiguous and the call big enough."""
    if why_not("pad_all", x, weight, bias, stride, pads, dilation, groups) is not None:
        return Decision("native", "pytorch")  # let PyTorch report (or handle) the unusual arguments
    route, candidates = rules.rule(x, weight, stride, pads, dilation, groups)
    if (
        STATE.autotune
        and not deterministic()
        and len(candidates) > 1
        and _macs(x, weight, stride, pads, dilation) >= autotune.AUTOTUNE_MIN_MACS
    ):
        xx, ww = x.detach(), weight.detach()
        bb = bias.detach() if bias is not None else None

        def make(r: str) -> Callable[[], object]:
            run = RUN[r]
            return lambda: run(xx, ww, bb, stride, pads, dilation, groups)

        route, by = autotune.autotuned(
            autotune.cache_key("conv", x, weight, stride, pads, dilation, groups), route, candidates, make
        )
        return Decision(route, by)
    return Decision(route, "rule")


def _key(x: Tensor, weight: Tensor, stride: Ints, pads: Pads, dilation: Ints, groups: int) -> tuple[object, ...]:
    return (x.shape, weight.shape, stride, pads, dilation, groups, x.dtype, x.device)


def route_for(
    x: Tensor, weight: Tensor, bias: Tensor | None, stride: Ints, pads: Pads, dilation: Ints, groups: int
) -> str:
    """The route :func:`conv` takes for these arguments (deciding, and autotuning, if needed)."""
    return _route(x, weight, bias, stride, pads, dilation, groups)[0]


def _route(
    x: Tensor, weight: Tensor, bias: Tensor | None, stride: Ints, pads: Pads, dilation: Ints, groups: int
) -> tuple[str, Decision | None]:
    """The route and, where it was decided per shape, the decision."""
    if STATE.hooks:
        local = STATE.local
        forced = local.forced
        if forced is not None and forced in ROUTES:
            why = why_not(forced, x, weight, bias, stride, pads, dilation, groups)
            if why is None:
                return forced, None
            if local.strict:
                raise ValueError(f"forced route {forced!r} cannot compute this convolution: {why}")
            return "native", None
    if not STATE.enabled or _is_compiling():  # (dynamo: no guards on the decisions)
        return "native", None
    key = _key(x, weight, stride, pads, dilation, groups)
    decision = STATE.decisions.get(key)
    if decision is not None and decision.route == "native" and not decision.timed:
        return "native", decision
    if not _plain(x, weight):
        return "native", None
    if decision is None or (decision.timed and deterministic()):
        decision = STATE.decisions.put(key, _decide(x, weight, bias, stride, pads, dilation, groups))
    return decision.route, decision


def _note(route: str) -> None:
    for seen in STATE.local.recorders:
        seen.append(route)


def _hooked() -> bool:
    """Whether this thread forces a route or records routes (only asked when a block is open)."""
    local = STATE.local
    return local.forced is not None or bool(local.recorders)


_plans = STATE.plans  # (the hot path's names: reset() clears these caches, never replaces them)
_plans_t = STATE.plans_t


def conv(
    x: Tensor, weight: Tensor, bias: Tensor | None, stride: Ints, pads: Pads, dilation: Ints, groups: int
) -> Tensor:
    """A zero-padded convolution (padding ``pads``: one ``(lo, hi)`` per axis) by the chosen route."""
    hooked = STATE.hooks > 0 and _hooked()
    if STATE.enabled and not (hooked and STATE.local.forced in ROUTES) and not _is_compiling():
        # the hot path: a shape already decided native (or a pure-view fold, or taps) costs one
        # dict lookup and the route's call
        plan = _plans.get((x.shape, weight.shape, stride, pads, dilation, groups, x.dtype, x.device))
        if plan is not None and not (plan[6] and deterministic()):
            kind, fn, s, p, d, extra, _ = plan
            if kind == "native":
                if hooked:
                    _note(kind)
                if extra is not None:
                    x = torch.constant_pad_nd(x, extra)
                return fn(x, weight, bias, s, p, d, groups)  # type: ignore[misc]
            if _plain(x, weight):  # (else: the route is native, below)
                if hooked:
                    _note(kind)
                if kind == "fold":
                    return fn(x.view(extra[0]), weight.unsqueeze(-1), bias, s, p, d, groups).reshape(extra[1])  # type: ignore[misc]
                return taps.call(x, weight, bias, s, p, d, *extra)  # type: ignore[arg-type]
    check_pads(pads)  # (a key with a mode in it never has a plan)
    route, decision = _route(x, weight, bias, stride, pads, dilation, groups)
    if hooked:
        _note(route)
    if decision is not None and route in ("native", "fold", "taps"):
        plan = _call_plan(route, x, weight, stride, pads, dilation, decision.timed)
        if plan is not None:
            _plans.put(_key(x, weight, stride, pads, dilation, groups), plan)
    return RUN[route](x, weight, bias, stride, pads, dilation, groups)


def _call_plan(
    route: str, x: Tensor, weight: Tensor, stride: Ints, pads: Pads, dilation: Ints, timed: bool
) -> Plan | None:
    """The hot path's plan for a decided shape (:class:`Plan`). ``native``: PyTorch's call
    (``extra``: the F.pad list or None). ``fold`` where it is a pure view (no padding copy, no
    crop, symmetric outer paddings): the call on ``x.view(extra[0])`` with the kernel unsqueezed,
    the output viewed as ``extra[1]`` -- what the route computes, without its ~10 us of Python
    per call (measured on 0.1 ms 1-d calls). ``taps``: its spans and output length (``extra``),
    saving ~8 us. Else None."""
    nd = len(pads)
    if route == "native":
        padding, flat = native_padding(pads)
        return Plan("native", CONV[nd], arg(stride), arg(padding), arg(dilation), flat, timed)
    if route == "taps":
        return Plan("taps", None, stride, pads, dilation, taps.plan(x, weight, stride, pads, dilation), timed)
    lo, hi = pads[-1]
    f = fold.fold_factor(x.shape[-1], dilation[-1], lo, hi)
    pre, s, padding_f, d, crop = fold.fold_call(x.shape[2:], stride, pads, dilation, f)
    if crop or any(p for pair in pre for p in pair) or nd + 1 not in CONV:
        return None
    out = out_sizes(x.shape[2:], weight.shape[2:], stride, pads, dilation)
    view = ((*x.shape[:-1], x.shape[-1] // f, f), (x.shape[0], weight.shape[0], *out))
    return Plan("fold", CONV[nd + 1], s, padding_f, d, view, timed)


# --------------------------------------------------------------------------- transposed


def conv_transpose(
    x: Tensor, weight: Tensor, bias: Tensor | None, stride: Ints, pads: Pads, dilation: Ints, output_padding: Ints,
    groups: int,
) -> Tensor:  # fmt: skip
    """A zero-padded transposed convolution (``pads``: one ``(lo, hi)`` per axis, cropped from
    the full output) by the chosen route."""
    hooked = STATE.hooks > 0 and _hooked()
    key = (x.shape, weight.shape, stride, pads, dilation, output_padding, groups, x.dtype, x.device)
    if STATE.enabled and not (hooked and STATE.local.forced in ROUTES_T) and not _is_compiling():
        plan = _plans_t.get(key)
        if plan is not None and not (plan[6] and deterministic()):
            # the hot path: a shape decided native with symmetric padding is PyTorch's call
            if hooked:
                _note("native")
            _, fn, s, p, d, op, _ = plan
            return fn(x, weight, bias, s, p, op, groups, d)  # type: ignore[misc]
    check_pads(pads)
    route, decision = _route_t(key, x, weight, bias, stride, pads, dilation, output_padding, groups)
    if hooked:
        _note(route)
    if decision is not None and route == "native":
        padding, op, crop = transposed_call(pads, output_padding)
        if crop is None:
            _plans_t.put(
                key,
                Plan("native", CONV_T[len(pads)], arg(stride), arg(padding), arg(dilation), arg(op), decision.timed),
            )
    return RUN_T[route](x, weight, bias, stride, pads, dilation, output_padding, groups)


def _route_t(
    key: tuple[object, ...], x: Tensor, weight: Tensor, bias: Tensor | None, stride: Ints, pads: Pads,
    dilation: Ints, output_padding: Ints, groups: int,
) -> tuple[str, Decision | None]:  # fmt: skip
    if STATE.hooks:
        local = STATE.local
        forced = local.forced
        if forced is not None and forced in ROUTES_T:
            why = why_not_t(forced, x, weight, stride, dilation)
            if why is None:
                return forced, None
            if local.strict:
                raise ValueError(f"forced route {forced!r} cannot compute this transposed convolution: {why}")
            return "native", None
    if not STATE.enabled or not _plain(x, weight):
        return "native", None
    decision = STATE.decisions.get(key)
    if decision is None or (decision.timed and deterministic()):
        # the rules: the GEMM form for short 1-d inputs through large weights; the sub-pixel form
        # is never the default (BENCHMARKS.md)
        decision = Decision("gemm" if rules.gemm_t_rule(x, weight) else "native", "rule")
        if STATE.autotune and not deterministic() and rules.subpixel_candidate(x, weight, bias, stride, dilation):
            xx, ww = x.detach(), weight.detach()
            bb = bias.detach() if bias is not None else None

            def make(r: str) -> Callable[[], object]:
                run = RUN_T[r]
                return lambda: run(xx, ww, bb, stride, pads, dilation, output_padding, groups)

            route, by = autotune.autotuned(
                autotune.cache_key("convT", x, weight, stride, pads, dilation, groups, output_padding),
                "native",
                ("native", "subpixel"),
                make,
            )
            decision = Decision(route, by)
        STATE.decisions.put(key, decision)
    return decision.route, decision
