"""The generic streaming executor: every node of a :class:`~atrous.stream.graph.Graph` fed
the new samples of its inputs, in topological order.

``push`` hands the new input samples through the graph and returns the output samples that
became final; ``flush`` ends the stream (right paddings, held-back samples, the transposed
layers' tails) and returns the rest, so that the concatenation of every ``push`` and the
``flush`` is ``model(full_input)``. With ``record=True`` every node's output samples are kept
(:func:`atrous.stream.verify` compares them with the offline forward, node by node).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor

from atrous.errors import SpecError
from atrous.stream import nodes as N
from atrous.stream.graph import Graph

__all__ = ["Engine"]


class Engine:
    """Runs a streaming graph over ``B`` streams (the batch of every chunk)."""

    def __init__(self, graph: Graph, record: bool = False) -> None:
        self.graph = graph
        self.record = record
        self.steps = 0  # input samples consumed
        self.emitted = 0  # output samples returned
        self.finished = False
        self.recorded: dict[int, list[Tensor]] = {}

    def reset(self) -> None:
        for n in self.graph.nodes:
            n.reset()
        self.steps = self.emitted = 0
        self.finished = False
        self.recorded = {}

    def run(self, inputs: Mapping[str, Tensor | None], statics: Mapping[str, Tensor], final: bool) -> Tensor | None:
        if self.finished:
            raise SpecError("this stream has ended (flush() was called): reset() starts a new one")
        g = self.graph
        env: dict[str, Any] = {f"(input:{k})": v for k, v in statics.items()}
        outs: list[Any] = [None] * len(g.nodes)
        for i, node in enumerate(g.nodes):
            if isinstance(node, N.Static):
                node.compute(env)
                continue
            if isinstance(node, N.Input):
                outs[i] = inputs.get(node.name)
                if outs[i] is not None and outs[i].shape[node.time_dim] == 0:  # type: ignore[index]
                    outs[i] = None
            else:
                outs[i] = node.feed([outs[j] for j in node.inputs], final, env)
            if self.record and outs[i] is not None and isinstance(outs[i], Tensor):
                self.recorded.setdefault(i, []).append(outs[i])
        x = inputs.get("x")
        if x is not None:
            self.steps += int(x.shape[g.in_time_dim])
        out: Tensor | None = outs[g.output]
        if out is not None:
            self.emitted += int(out.shape[g.out_time_dim])
        if final:
            self.finished = True
        return out

    def empty(self, batch: int, like: Tensor) -> Tensor:
        """A zero-length output chunk for ``batch`` streams."""
        g = self.graph
        shape = list(g.out_shape)
        shape[g.out_time_dim] = 0
        if g.out_batch_dim is not None:
            shape[g.out_batch_dim] = batch
        return torch.zeros(shape, dtype=like.dtype, device=like.device)

    # ------------------------------------------------------------------ state

    def state_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for i, n in enumerate(self.graph.nodes):
            for k, v in n.state().items():
                out[f"{i}:{n.name}:{k}"] = v
        out["steps"] = self.steps
        out["emitted"] = self.emitted
        return out

    def load_state_dict(self, state: dict[str, Any]) -> None:
        want = set(self.state_dict())
        if set(state) != want:
            missing, extra = sorted(want - set(state))[:3], sorted(set(state) - want)[:3]
            raise SpecError(f"this state does not belong to this streaming plan: missing {missing}, unexpected {extra}")
        per: dict[int, dict[str, Any]] = {}
        for key, v in state.items():
            if key in ("steps", "emitted"):
                continue
            index, _, attr = key.split(":", 2)
            per.setdefault(int(index), {})[attr] = v
        for i, n in enumerate(self.graph.nodes):
            n.load(per.get(i, {}))
        self.steps = int(state["steps"])
        self.emitted = int(state["emitted"])
        self.finished = False
