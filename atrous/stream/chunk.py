"""The plan as a pure function: ``(x, [c], [g], *states) -> (y, *new_states)``.

:func:`make_chunk_module` generates the source of an ``nn.Module`` whose ``forward`` runs every
causal convolution for real over ``[state | chunk]`` (``F.conv1d`` with the layer's dilation,
exactly what the model computes on its zero-padded input) and returns the last ``d*(k-1)``
inputs of each as its new state. With ``T = 1`` it is the step function; it scripts with
``torch.jit.script`` and exports to ONNX with the states as explicit inputs and outputs.

State ``i`` has shape ``(B, C_in_i, d_i*(k_i-1))``: the layer's last inputs in time order,
oldest first; all zeros is the start of a stream.
"""

from __future__ import annotations

import itertools
import linecache
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from atrous.stream.plan import Plan, act_source

__all__ = ["ChunkModuleBase", "make_chunk_module"]

_counter = itertools.count()


class ChunkModuleBase(nn.Module):
    """Base of the generated step/chunk modules.

    Attributes:
        state_names: the layer paths of the states, in argument order.
        input_names: the inputs before the states (``x``, then ``c`` and ``g`` if used).
        source: the generated source of ``forward``.
    """

    __jit_ignored_attributes__ = ["state_names", "input_names", "source"]  # noqa: RUF012
    state_names: list[str]
    input_names: list[str]
    source: str

    def __init__(self) -> None:
        super().__init__()


def _exec(source: str, name: str, env: dict[str, Any]) -> Any:
    """Define the function in ``source`` with a filename that ``inspect`` (and so
    ``torch.jit.script``) can read back from ``linecache``."""
    filename = f"<atrous.stream generated {name} {next(_counter)}>"
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    code = compile(source, filename, "exec")
    exec(code, env)
    return env


def make_chunk_module(plan: Plan) -> ChunkModuleBase:
    """Generate the step/chunk module of ``plan`` (tensors are copied in as buffers)."""
    nodes = plan.nodes
    tensors: dict[str, Tensor] = {}
    modules: dict[str, nn.Module] = {}
    args = ["x"]
    if plan.cond_channels:
        args.append("c")
    if plan.global_cond_channels:
        args.append("g")
    convs = plan.convs
    states = [f"s_{j}" for j in range(len(convs))]
    conv_index = {i: j for j, i in enumerate(convs)}
    body: list[str] = []
    for i, n in enumerate(nodes):
        v = f"v{i}"
        src = [f"v{j}" for j in n.inputs]
        if n.kind == "input":
            body.append(f"{v} = {n.name}")
        elif n.kind == "conv":
            j = conv_index[i]
            assert n.weight is not None  # a conv node carries its weight
            tensors[f"w{i}"] = n.weight
            bias = "None"
            if n.bias is not None:
                tensors[f"b{i}"] = n.bias
                bias = f"self.b{i}"
            body.append(f"u{i} = torch.cat([s_{j}, {src[0]}], 2)")
            body.append(f"{v} = F.conv1d(u{i}, self.w{i}, {bias}, 1, 0, {n.dilation}, {n.groups})")
            body.append(f"n_{j} = u{i}[:, :, u{i}.shape[2] - {n.context}:]")
        elif n.kind == "linear":
            assert n.weight is not None  # a linear node carries its weight
            tensors[f"w{i}"] = n.weight.unsqueeze(2)
            bias = "None"
            if n.bias is not None:
                tensors[f"b{i}"] = n.bias
                bias = f"self.b{i}"
            body.append(f"{v} = F.conv1d({src[0]}, self.w{i}, {bias})")
        elif n.kind == "act":
            for key, val in n.params.items():
                if isinstance(val, Tensor):
                    tensors[f"a{i}_{key}"] = val
                elif isinstance(val, nn.Module):
                    modules[f"a{i}_{key}"] = val
            body.append(f"{v} = {act_source(n, src[0], f'self.a{i}_')}")
        elif n.kind == "affine":
            tensors[f"sc{i}"] = n.params["scale"].view(-1, 1)
            tensors[f"sh{i}"] = n.params["shift"].view(-1, 1)
            body.append(f"{v} = {src[0]} * self.sc{i} + self.sh{i}")
        elif n.kind == "add":
            body.append(f"{v} = {src[0]} + {src[1]}")
        elif n.kind == "gate":
            g = n.channels
            body.append(f"{v} = torch.tanh({src[0]}[:, :{g}]) * torch.sigmoid({src[0]}[:, {g}:])")
        elif n.kind == "condproj":
            terms = []
            for k, (j, w) in enumerate(zip(n.inputs, n.params["weights"], strict=True)):
                name = nodes[j].name
                if name == "c":
                    tensors[f"cp{i}_{k}"] = w.unsqueeze(2)
                    terms.append(f"F.conv1d({src[k]}, self.cp{i}_{k})")
                else:
                    tensors[f"cp{i}_{k}"] = w
                    terms.append(f"F.linear({src[k]}, self.cp{i}_{k}).unsqueeze(2)")
            body.append(f"{v} = {' + '.join(terms)}")
        else:  # pragma: no cover - the builder emits no other kind
            raise AssertionError(n.kind)
    outs = [f"v{plan.output}"] + [f"n_{j}" for j in range(len(convs))]
    sig = ", ".join(f"{a}: Tensor" for a in args + states)
    ret = ", ".join(["Tensor"] * len(outs))
    lines = [f"def forward(self, {sig}) -> Tuple[{ret}]:"]
    lines += [f"    {line}" for line in body]
    lines.append(f"    return ({', '.join(outs)},)")
    source = "\n".join(lines) + "\n"
    env = _exec(source, "forward", {"torch": torch, "F": F, "Tensor": Tensor, "Tuple": tuple})
    cls = type("StreamStep", (ChunkModuleBase,), {"forward": env["forward"], "__module__": __name__})
    mod: ChunkModuleBase = cls()
    for name, t in tensors.items():
        mod.register_buffer(name, t.detach().clone())
    for name, m in modules.items():
        mod.add_module(name, m)
    mod.state_names = [nodes[i].path for i in convs]
    mod.input_names = args
    mod.source = source
    return mod
