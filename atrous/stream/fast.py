"""The fast step: one GEMM per layer per sample over ring buffers, generated as straight-line code.

Ring buffer of a causal conv with kernel ``k``, dilation ``d`` and ``C`` input channels: a
tensor ``(d, B, M, C + 1)`` with ``M = R + k - 1``. Sample ``t`` lives in phase ``t mod d``, so
the ``k`` taps of one output (``t, t-d, ..., t-(k-1)d``) are ``k`` *consecutive* slots of one
phase: the window ``buf[p, :, pos-k+1 : pos+1, :]`` reshapes, without a copy, to the
``(B, k*(C+1))`` matrix of one GEMM against the weight reshaped to ``(k*(C+1), C_out)``. The
extra channel is a constant 1 whose weight row holds the bias, so the GEMM adds the bias too.
Every ``d*R`` samples the last ``k-1`` slots of each phase move back to the front (one copy for
all phases). All windows and slots are views made once, so a step indexes lists and calls
``torch.mm(window, W, out=next_slot)``: the layer before writes straight into the slot that
the next convolution reads.

:func:`build_fast` turns a plan into such a step: values share storage where an operation can
run in place, a GEMM followed by a sum accumulates with ``addmm``, and each value lives where
its consumer needs it (a ring slot, or a buffer with the ones column for a 1x1 conv).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, cast

import torch
import torch.nn.functional as F
from torch import Tensor

from atrous.stream.chunk import _exec
from atrous.stream.plan import _ACTS, Node, Plan, act_source

__all__ = ["FastStep", "Ring", "build_fast"]

#: activations with an ``out=`` form (one call instead of compute-and-copy)
_OUT_ACTS = {
    "relu": "torch.clamp_min({x}, 0.0, out={o})",
    "tanh": "torch.tanh({x}, out={o})",
    "sigmoid": "torch.sigmoid({x}, out={o})",
}

#: a ring holds at least this many samples of each phase's cycle (fewer rewinds, more views)
RING_SPAN = 64


class Ring:
    """The state of one causal convolution as a phase-major ring buffer (see the module doc)."""

    def __init__(self, node: Node, cin: int, batch: int, dtype: torch.dtype, device: torch.device) -> None:
        d, k = node.dilation, node.kernel
        self.d, self.k, self.c = d, k, cin
        self.context = node.context  # d*(k-1), from the geometry core
        # R >= k-1 keeps the rewind's source and destination apart
        self.R = max(k - 1, -(-RING_SPAN // d))
        self.M = self.R + k - 1
        self.n = d * self.R  # steps in one cycle of positions
        self.buf = torch.zeros(d, batch, self.M, cin + 1, dtype=dtype, device=device)
        self.buf[..., cin] = 1
        self._views: dict[str, list[Tensor]] = {}

    def views(self, kind: str) -> list[Tensor]:
        """``window`` (B, k*(C+1)), ``slot`` (B, C) or ``ext`` (B, C+1) for each step of a cycle."""
        if kind not in self._views:
            out = []
            buf, k, c = self.buf, self.k, self.c
            for i in range(self.n):
                p, pos = i % self.d, k - 1 + i // self.d
                if kind == "window":
                    out.append(buf[p, :, pos - k + 1 : pos + 1, :].view(buf.shape[1], k * (c + 1)))
                elif kind == "slot":
                    out.append(buf[p, :, pos, :c])
                else:
                    out.append(buf[p, :, pos, :])
            self._views[kind] = out
        return self._views[kind]

    def rewind_views(self) -> tuple[Tensor, Tensor]:
        """(dst, src): the last ``k-1`` slots of every phase and the front they move to."""
        k, R = self.k, self.R
        return self.buf[:, :, : k - 1, :], self.buf[:, :, R : R + k - 1, :]

    def _where(self, t: int) -> tuple[Tensor, Tensor]:
        """Phase and slot of the samples ``t - context .. t - 1`` after ``t`` samples."""
        dev = self.buf.device
        tau = torch.arange(t - self.context, t, device=dev)
        last = (t - 1) % self.n  # the cycle index of the last sample written
        t0 = t - 1 - last
        pos = self.k - 1 + torch.div(tau - t0, self.d, rounding_mode="floor")
        return torch.remainder(tau, self.d), pos

    def read(self, t: int) -> Tensor:
        """The last ``context`` inputs in time order: ``(B, C, context)``."""
        ph, pos = self._where(t)
        return self.buf[ph, :, pos, : self.c].permute(1, 2, 0)

    def write(self, t: int, hist: Tensor) -> None:
        """Store ``hist`` ``(B, C, context)`` as the last inputs after ``t`` samples."""
        ph, pos = self._where(t)
        self.buf[ph, :, pos, : self.c] = hist.permute(2, 0, 1).to(self.buf.dtype)

    def reset(self, index: Tensor | None) -> None:
        if index is None:
            self.buf[..., : self.c] = 0
        else:
            self.buf[:, index, :, : self.c] = 0


@dataclass
class _Cls:
    """A storage class: values that share one tensor (in-place chains)."""

    nodes: list[int]
    home: str = ""  # "slot" | "static" | "fresh" | "cp"
    conv: int = -1  # home conv node (slot)
    copies: list[int] = field(default_factory=list)  # other conv nodes that need a copy


@dataclass
class FastStep:
    """A generated step function and what it closes over."""

    fn: Callable[..., Tensor]
    rings: dict[int, Ring]  # conv node id -> ring
    source: str
    counter: Any
    cond_cache: list[Any]
    env: dict[str, Any]


class _Counter:
    __slots__ = ("t",)

    def __init__(self) -> None:
        self.t = 0


def _gemm_weight(n: Node) -> Tensor:
    """``(k*(C+1), out)`` for a conv, ``(C+1, out)`` for a linear: the bias in the ones row."""
    w = n.weight
    assert w is not None  # conv and linear nodes carry their weights
    if n.kind == "conv":
        if n.groups > 1:
            out, per, k = w.shape
            dense = w.new_zeros(out, per * n.groups, k)
            step = out // n.groups
            for gi in range(n.groups):
                dense[gi * step : (gi + 1) * step, gi * per : (gi + 1) * per] = w[gi * step : (gi + 1) * step]
            w = dense
        out, cin, k = w.shape
        wt = w.permute(2, 1, 0)  # (k, C, out)
        ones = w.new_zeros(k, 1, out)
        if n.bias is not None:
            ones[k - 1, 0] = n.bias
        return torch.cat([wt, ones], 1).reshape(k * (cin + 1), out).contiguous()
    # a linear's weight: (out, in)
    row = n.bias.view(1, -1) if n.bias is not None else w.new_zeros(1, w.shape[0])
    return torch.cat([w.t(), row], 0).contiguous()


def build_fast(plan: Plan, batch: int, dtype: torch.dtype, device: torch.device) -> FastStep:
    """Generate the fast step of ``plan`` for ``batch`` streams."""
    nodes = plan.nodes
    uses = plan.consumers()
    out_id = plan.output
    env: dict[str, Any] = {
        "torch": torch,
        "F": F,
        "_mm": torch.mm,
        "_addmm": torch.addmm,
        "_add": torch.add,
        "_mul": torch.mul,
        "_addcmul": torch.addcmul,
        "_tanh": torch.tanh,
        "_sigmoid": torch.sigmoid,
    }
    rings: dict[int, Ring] = {}
    for i, n in enumerate(nodes):
        if n.kind == "conv":
            rings[i] = Ring(n, nodes[n.inputs[0]].channels, batch, dtype, device)

    def gemm(i: int) -> bool:
        return nodes[i].kind in ("conv", "linear")

    # 1. a GEMM whose only use is a sum accumulates into it (addmm)
    fused: dict[int, tuple[int, int]] = {}  # add node -> (gemm node, addend node)
    absorbed: set[int] = set()
    for i, n in enumerate(nodes):
        if n.kind == "add":
            a, b = n.inputs
            for g, other in ((b, a), (a, b)):
                if gemm(g) and len(uses[g]) == 1 and g not in absorbed and g != other:
                    fused[i] = (g, other)
                    absorbed.add(g)
                    break

    # 2. the gate without tanh: tanh(f) = 1 - 2 sigmoid(-2f), so scaling the GEMM columns of f by
    # -2 (exact in binary floating point) lets one sigmoid cover both halves, and
    # z = s - 2 u s (u = sigmoid(-2f), s = sigmoid(s)) is one addcmul
    neg2: dict[int, int] = {}  # node -> its first G output columns are scaled by -2
    sig_gate: set[int] = set()
    for i, n in enumerate(nodes):
        if n.kind != "gate":
            continue
        src = n.inputs[0]
        if len(uses[src]) != 1:
            continue
        if gemm(src) and src not in absorbed:
            neg2[src] = n.channels
            sig_gate.add(i)
        elif src in fused:
            g, other = fused[src]
            if nodes[other].kind == "condproj" and len(uses[other]) == 1:
                neg2[g] = neg2[other] = n.channels
                sig_gate.add(i)

    # 3. storage classes: in-place chains
    cls_of: dict[int, int] = {}
    classes: dict[int, _Cls] = {}

    def new_class(i: int) -> None:
        cls_of[i] = i
        classes[i] = _Cls([i])

    def join(i: int, j: int) -> None:  # node i runs in place on node j's storage
        c = cls_of[j]
        cls_of[i] = c
        classes[c].nodes.append(i)

    def writable(j: int) -> bool:
        return len(uses[j]) == 1 and nodes[cls_of[j]].kind != "condproj" and j != out_id

    inplace_op: set[int] = set()
    swapped: set[int] = set()
    for i, n in enumerate(nodes):
        if i in absorbed:
            continue
        k = n.kind
        if k == "add" and i in fused:
            if writable(fused[i][1]):
                join(i, fused[i][1])
                inplace_op.add(i)
            else:
                new_class(i)
        elif k == "add":
            a, b = n.inputs
            if writable(a) and a != b:
                join(i, a)
                inplace_op.add(i)
            elif writable(b) and a != b:
                join(i, b)
                inplace_op.add(i)
                swapped.add(i)
            else:
                new_class(i)
        elif (k == "act" and _ACTS[n.act].inplace is not None and writable(n.inputs[0])) or (
            k == "affine" and writable(n.inputs[0])
        ):
            join(i, n.inputs[0])
            inplace_op.add(i)
        else:
            new_class(i)

    # 4. homes: a ring slot if a conv reads the value, else a buffer (with the ones column)
    for c, cl in classes.items():
        last = cl.nodes[-1]
        conv_users = [u for u in uses[last] if nodes[u].kind == "conv"]
        lin_users = [u for u in uses[last] if nodes[u].kind == "linear"]
        if nodes[c].kind == "condproj":
            cl.home = "cp"
        elif nodes[c].kind == "input" and nodes[c].name in ("c", "g"):
            cl.home = "none"  # read by the conditioning GEMM only
        elif conv_users:
            cl.home, cl.conv, cl.copies = "slot", conv_users[0], conv_users[1:]
        elif last == out_id and not lin_users and nodes[c].kind != "input":
            cl.home = "fresh"
        else:
            cl.home = "static"

    def home(j: int) -> str:
        """Expression of the storage of value ``j`` ((B, C))."""
        c = cls_of[j]
        cl = classes[c]
        if cl.home == "slot":
            return f"s{cl.conv}"
        if cl.home == "fresh":
            return "y"
        if cl.home == "cp":
            return f"CP{c}"
        return f"H{c}"

    def ext(j: int) -> str:
        c = cls_of[j]
        cl = classes[c]
        return f"e{cl.conv}" if cl.home == "slot" else f"HE{c}"

    def weight(i: int) -> Tensor:
        w = _gemm_weight(nodes[i])
        if i in neg2:
            w[:, : neg2[i]] *= -2
        return w

    # 5. per-step views of the rings: one list of tuples per cycle length, unpacked at once
    for c, cl in classes.items():
        if cl.home == "static":
            ch = nodes[c].channels
            buf = torch.zeros(batch, ch + 1, dtype=dtype, device=device)
            buf[:, ch] = 1
            env[f"HE{c}"] = buf
            env[f"H{c}"] = buf[:, :ch]
    slot_used = {cl.conv for cl in classes.values() if cl.home == "slot"}
    for cl in classes.values():
        slot_used.update(cl.copies)
    ext_used = {classes[cls_of[n.inputs[0]]].conv for n in nodes if n.kind == "linear"}
    ext_used.discard(-1)
    top: list[str] = ["t = _st.t", "_st.t = t + 1"]
    groups: dict[int, list[int]] = {}
    for i, r in rings.items():
        groups.setdefault(r.n, []).append(i)
    for n_, members in groups.items():
        gv = f"i{n_}"
        top.append(f"{gv} = t % {n_}")
        top.append(f"if not {gv}:")
        for i in members:
            env[f"RWD{i}"], env[f"RWS{i}"] = rings[i].rewind_views()
            top.append(f"    RWD{i}.copy_(RWS{i})")
        names: list[str] = []
        columns: list[list[Tensor]] = []
        for i in members:
            env[f"W{i}"] = weight(i)
            names.append(f"w{i}")
            columns.append(rings[i].views("window"))
            if i in slot_used:
                names.append(f"s{i}")
                columns.append(rings[i].views("slot"))
            if i in ext_used:
                names.append(f"e{i}")
                columns.append(rings[i].views("ext"))
        env[f"V{n_}"] = [tuple(col[j] for col in columns) for j in range(n_)]
        top.append(f"{', '.join(names)}, = V{n_}[{gv}]")
    for i, n in enumerate(nodes):
        if n.kind == "linear":
            env[f"W{i}"] = weight(i)

    # 6. conditioning: one GEMM for every layer's V c_t + U g
    cps = [i for i, n in enumerate(nodes) if n.kind == "condproj"]
    cond_cache: list[Any] = [None, -1]
    if cps:
        cc, gc = plan.cond_channels, plan.global_cond_channels
        width = sum(nodes[i].channels for i in cps)
        wcg = torch.zeros(cc + gc, width, dtype=dtype, device=device)
        cp = torch.zeros(batch, width, dtype=dtype, device=device)
        col = 0
        for i in cps:
            n = nodes[i]
            for j, w in zip(n.inputs, n.params["weights"], strict=True):
                rows = slice(0, cc) if nodes[j].name == "c" else slice(cc, cc + gc)
                wcg[rows, col : col + n.channels] = w.t()
            if i in neg2:
                wcg[:, col : col + neg2[i]] *= -2
            env[f"CP{i}"] = cp[:, col : col + n.channels]
            col += n.channels
        cg = torch.zeros(batch, cc + gc, dtype=dtype, device=device)
        env["WCG"], env["CG"], env["CPALL"], env["_gc"] = wcg, cg, cp, cond_cache
        if gc:
            env["CGG"] = cg[:, cc:]
            # a new g, or this one changed in place since: its version counter tells, except
            # for an inference tensor (no counter; a speaker embedding made under
            # inference mode), whose values are compared instead
            env["_eq"] = torch.equal
            top.append("if g is not _gc[0] or (not _eq(g, CGG) if _gc[1] is None else g._version != _gc[1]):")
            top.append("    CGG.copy_(g)")
            top.append("    _gc[0] = g")
            top.append("    _gc[1] = None if g.is_inference() else g._version")
            if not cc:
                top.append("    _mm(CG, WCG, out=CPALL)")
        if cc:
            env["CGC"] = cg[:, :cc]
            top.append("CGC.copy_(c)")
            top.append("_mm(CG, WCG, out=CPALL)")

    # 7. the body, in plan order
    body: list[str] = []

    def target(i: int) -> tuple[str, str]:
        """(assignment prefix, out= suffix) for an out-of-place op producing node ``i``."""
        if classes[cls_of[i]].home == "fresh":
            return "y = ", ""
        return "", f", out={home(i)}"

    def gemm_in(g: int) -> str:
        n = nodes[g]
        return f"w{g}" if n.kind == "conv" else ext(n.inputs[0])

    for i, n in enumerate(nodes):
        k = n.kind
        if i in absorbed:
            continue
        if k == "input":
            if n.name == "x":
                body.append(f"{home(i)}.copy_(x)")
        elif k in ("conv", "linear"):
            pre, out = target(i)
            body.append(f"{pre}_mm({gemm_in(i)}, W{i}{out})")
        elif k == "add" and i in fused:
            g, other = fused[i]
            if i in inplace_op:
                body.append(f"{home(i)}.addmm_({gemm_in(g)}, W{g})")
            else:
                pre, out = target(i)
                body.append(f"{pre}_addmm({home(other)}, {gemm_in(g)}, W{g}{out})")
        elif k == "add":
            a, b = n.inputs
            if i in swapped:
                a, b = b, a
            if i in inplace_op:
                body.append(f"{home(i)}.add_({home(b)})")
            else:
                pre, out = target(i)
                body.append(f"{pre}_add({home(a)}, {home(b)}{out})")
        elif k == "act":
            for key, val in n.params.items():
                if isinstance(val, (Tensor, torch.nn.Module)):
                    env[f"a{i}_{key}"] = val
            if i in inplace_op:
                act_src = act_source(n, home(i), f"a{i}_", inplace=True)
                assert act_src is not None  # inplace_op holds only activations with an in-place form
                body.append(act_src)
            elif n.act in _OUT_ACTS and classes[cls_of[i]].home != "fresh":
                body.append(_OUT_ACTS[n.act].format(x=home(n.inputs[0]), o=home(i)))
            else:
                expr = act_source(n, home(n.inputs[0]), f"a{i}_")
                body.append(f"y = {expr}" if classes[cls_of[i]].home == "fresh" else f"{home(i)}.copy_({expr})")
        elif k == "affine":
            env[f"SC{i}"], env[f"SH{i}"] = n.params["scale"], n.params["shift"]
            pre, out = ("", f", out={home(i)}") if i in inplace_op else target(i)
            body.append(f"{pre}_addcmul(SH{i}, {home(n.inputs[0])}, SC{i}{out})")
        elif k == "gate":
            src_home = classes[cls_of[n.inputs[0]]].home
            tmp = {"batch": batch, "dtype": dtype, "device": device}
            _gate(i, n, body, env, src_home, home(n.inputs[0]), uses, target, sig_gate, tmp)
        elif k == "condproj":
            pass  # computed at the top for every layer at once
        node_cls = classes.get(cls_of.get(i, -1))
        if node_cls is not None and node_cls.nodes[-1] == i:
            body.extend(f"s{u}.copy_({home(i)})" for u in node_cls.copies)

    if classes[cls_of[out_id]].home != "fresh":
        body.append(f"y = {home(out_id)}.clone()")
    lines = ["def step(x, c, g):"] + [f"    {s}" for s in top + body] + ["    return y"]
    # the public step: checks (only when the shape is not the expected one) and inference
    # mode around the same body, without a second Python call
    checked = ["def checked(x, c=None, g=None):", "    if x.shape != _XS:", "        x = _xcheck(x)"]
    if plan.cond_channels or plan.global_cond_channels:
        checked.append("    c, g = _ccheck(c, g)")
    # the guard is released in `finally`: an exception (kept alive by a traceback in a
    # notebook or a logger) must not leave the thread in inference mode
    checked.append("    _guard = _IM(True)")
    checked.append("    try:")
    checked += [f"        {s}" for s in top + body]
    checked += ["    finally:", "        del _guard", "    return y"]
    source = "\n".join(lines) + "\n\n\n" + "\n".join(checked) + "\n"
    st = _Counter()
    env["_st"] = st
    env["_XS"] = torch.Size((batch, plan.in_channels))
    env["_IM"] = _inference_guard()
    _exec(source, "step", env)
    return FastStep(env["step"], rings, source, st, cond_cache, env)


def _inference_guard() -> Callable[[bool], Any]:
    """``torch._C._InferenceMode`` (an RAII guard, a fraction of the cost of the context
    manager) or an equivalent built on ``torch.inference_mode``."""
    guard = getattr(torch._C, "_InferenceMode", None)
    if guard is not None:
        try:
            guard(True)
            return cast("Callable[[bool], Any]", guard)
        except Exception:  # pragma: no cover - a torch without it
            pass

    class _Guard:  # pragma: no cover
        def __init__(self, mode: bool) -> None:
            self._cm = torch.inference_mode(mode)
            self._cm.__enter__()

        def __del__(self) -> None:
            self._cm.__exit__(None, None, None)

    return _Guard


def _gate(
    i: int,
    n: Node,
    body: list[str],
    env: dict[str, Any],
    src_home: str,
    h: str,
    uses: list[list[int]],
    target: Callable[[int], tuple[str, str]],
    sig_gate: set[int],
    tmp: dict[str, Any],
) -> None:
    """Emit ``z = tanh(h[:, :G]) * sigmoid(h[:, G:])``; ``tmp`` holds batch, dtype and device
    of the temporaries."""
    gch = n.channels
    if src_home in ("static", "cp"):  # bind the halves once: slicing costs a view per step
        base = env[h]
        env[f"HT{i}"], env[f"HS{i}"] = base[:, :gch], base[:, gch:]
        hf, hs = f"HT{i}", f"HS{i}"
    else:
        hf, hs = f"{h}[:, :{gch}]", f"{h}[:, {gch}:]"
    pre, out = target(i)
    if i in sig_gate:  # the f columns were scaled by -2: one sigmoid, one addcmul
        body.append(f"{h}.sigmoid_()")
        body.append(f"{pre}_addcmul({hs}, {hf}, {hs}, value=-2.0{out})")
        return
    env[f"TF{i}"] = torch.zeros(tmp["batch"], gch, dtype=tmp["dtype"], device=tmp["device"])
    body.append(f"_tanh({hf}, out=TF{i})")
    if len(uses[n.inputs[0]]) == 1 and src_home != "cp":
        body.append(f"{hs}.sigmoid_()")
        sig = hs
    else:
        env[f"TS{i}"] = torch.zeros(tmp["batch"], gch, dtype=tmp["dtype"], device=tmp["device"])
        body.append(f"_sigmoid({hs}, out=TS{i})")
        sig = f"TS{i}"
    body.append(f"{pre}_mul(TF{i}, {sig}{out})")
