"""Dilated graph convolution in plain PyTorch: dilated k-NN, exact hop rings, EdgeConv.

Dilation on a graph has two common meanings, both here:

* on point clouds (DeepGCN, Li et al. 2019, "DeepGCNs: Can GCNs Go as Deep as CNNs?"): take the
  ``k * d`` nearest neighbours sorted by distance and keep every ``d``-th (:func:`dilated_knn`),
  optionally stochastic in training; :class:`EdgeConv` (Wang et al. 2019, DGCNN) runs on them;
* on a fixed graph: the neighbours at shortest-path distance *exactly* ``d``, the ring that a
  dilated filter with rate ``d`` reads (:func:`hop_neighbourhood`); :class:`DilatedGraphConv`
  aggregates over that ring plus the node itself.

Edge convention (PyTorch Geometric's): ``edge_index[0]`` are sources ``j``, ``edge_index[1]``
targets ``i``; node ``i`` aggregates messages from ``j`` along each edge ``(j, i)``.

Examples:
    >>> import torch
    >>> ring = torch.tensor([[0, 1, 2, 3, 4, 5], [1, 2, 3, 4, 5, 0]])  # a 6-cycle
    >>> hop_neighbourhood(ring, 6, hops=2)[:, :4].tolist()
    [[0, 0, 1, 1], [2, 4, 3, 5]]
    >>> pts = torch.randn(2, 50, 3)
    >>> dilated_knn(pts, k=4, dilation=2).shape
    torch.Size([2, 50, 4])
    >>> EdgeConv(3, 16, k=4, dilation=2)(pts).shape
    torch.Size([2, 50, 16])
"""

from __future__ import annotations

import warnings
from typing import Any

import torch
from torch import Tensor, nn

from atrous.errors import SpecError
from atrous.geometry.spec import check_int

__all__ = [
    "DilatedGraphConv",
    "EdgeConv",
    "dilated_knn",
    "graph_aggregate",
    "hop_neighbourhood",
]

_AGGR_EDGE = ("max", "mean", "sum")
_AGGR_GRAPH = ("mean", "sum", "max", "gcn")

#: graphs with at most this many nodes use dense boolean matrix powers in ``method="auto"``
DENSE_LIMIT = 1024


# --------------------------------------------------------------------------- dilated k-NN


def dilated_knn(
    x: Tensor,
    k: int,
    dilation: int = 1,
    include_self: bool = False,
    *,
    stochastic: bool = False,
    epsilon: float = 0.2,
    training: bool = True,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Dilated k nearest neighbours (DeepGCN): every ``d``-th of the ``k * d`` nearest.

    Distances are Euclidean in the feature space of ``x``, computed exactly (no matrix-product
    shortcut). The ``k * d`` nearest neighbours are sorted by distance and indices
    ``0, d, 2d, ..., (k-1)d`` of that list are kept. Ties are broken arbitrarily.

    Args:
        x: points ``(B, N, F)`` or ``(N, F)``.
        k: neighbours per point, ``>= 1``.
        dilation: ``d >= 1``; ``k * d`` must not exceed the number of candidates (``N``, or
            ``N - 1`` without the point itself).
        include_self: the point itself is a candidate (always the first, at distance 0).
        stochastic: DeepGCN's stochastic dilation: in training, with probability ``epsilon``,
            keep ``k`` random ones of the ``k * d`` (one draw per call, shared by all points,
            kept in distance order) instead of every ``d``-th. Off by default (deterministic).
        epsilon: probability of the random pick.
        training: stochastic dilation applies only when True (pass ``module.training``).
        generator: random source for the stochastic pick.

    Returns:
        Neighbour indices, ``(B, N, k)`` (``(N, k)`` for an unbatched input), int64, sorted by
        distance.

    Examples:
        >>> x = torch.tensor([[0.0], [1.0], [3.0], [6.0], [10.0]])
        >>> dilated_knn(x, k=2, dilation=2)[0].tolist()  # of 1, 2, 3, 4 (by distance) every 2nd
        [1, 3]
    """
    if not isinstance(x, Tensor) or x.dim() not in (2, 3):
        shape = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
        raise SpecError(f"x must be a tensor of shape (B, N, F) or (N, F), got {shape}")
    k = check_int("k", k, 1)
    d = check_int("dilation", dilation, 1)
    epsilon = _probability("epsilon", epsilon)
    unbatched = x.dim() == 2
    pts = x.unsqueeze(0) if unbatched else x
    n = pts.shape[1]
    need = k * d
    available = n if include_self else n - 1
    if need > available:
        raise SpecError(
            f"k * dilation = {k} * {d} = {need} neighbours needed but only {available} candidates "
            f"(N={n}, include_self={include_self}): use k * dilation <= {available}"
        )
    with torch.no_grad():
        p = pts.detach()
        if not p.is_floating_point():
            p = p.float()
        dist = torch.cdist(p, p, compute_mode="donot_use_mm_for_euclid_dist")
        eye = torch.eye(n, dtype=torch.bool, device=dist.device).expand_as(dist)
        dist = dist.masked_fill(eye, float("-inf") if include_self else float("inf"))
        idx = torch.topk(dist, need, dim=-1, largest=False, sorted=True).indices
    if stochastic and training and d > 1:
        draw = torch.rand((), generator=generator, device="cpu" if generator is None else generator.device)
        if float(draw) < epsilon:
            pick = torch.randperm(need, generator=generator, device="cpu" if generator is None else generator.device)
            pick = pick[:k].sort().values.to(idx.device)
            idx = idx[..., pick]
            return idx.squeeze(0) if unbatched else idx
    idx = idx[..., ::d]
    return idx.squeeze(0) if unbatched else idx


# --------------------------------------------------------------------------- hop rings


def _probability(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
        raise SpecError(f"{name} must be a probability in [0, 1], got {value!r}")
    return float(value)


def _edges_of(graph: Tensor, num_nodes: int | None) -> tuple[Tensor, int]:
    """(edge_index (2, E) int64, N) from an edge_index, a dense adjacency or a sparse adjacency."""
    if num_nodes is not None:
        num_nodes = check_int("num_nodes", num_nodes, 0)
    if not isinstance(graph, Tensor):
        raise SpecError(f"graph must be an edge_index (2, E) or an adjacency (N, N) tensor, got {type(graph).__name__}")
    if graph.layout != torch.strided:
        adj = graph.to_sparse_coo().coalesce() if graph.layout != torch.sparse_coo else graph.coalesce()  # type: ignore[no-untyped-call]  # unannotated in torch
        if adj.dim() != 2 or adj.shape[0] != adj.shape[1]:
            raise SpecError(f"a sparse adjacency must be square (N, N), got {tuple(adj.shape)}")
        keep = adj.values() != 0
        return adj.indices()[:, keep].long(), _num_nodes(num_nodes, adj.shape[0])
    if graph.dim() != 2:
        raise SpecError(f"graph must be 2-d: an edge_index (2, E) or an adjacency (N, N), got {tuple(graph.shape)}")
    is_index = graph.shape[0] == 2 and not graph.is_floating_point() and graph.dtype != torch.bool
    if is_index:
        ei = graph.long()
        n = int(ei.max()) + 1 if ei.numel() else 0
        if ei.numel() and int(ei.min()) < 0:
            raise SpecError(f"edge_index has a negative node index ({int(ei.min())})")
        if num_nodes is not None and n > num_nodes:
            raise SpecError(f"edge_index names node {n - 1} but num_nodes={num_nodes}")
        return ei, _num_nodes(num_nodes, n)
    if graph.shape[0] != graph.shape[1]:
        raise SpecError(f"a dense adjacency must be square (N, N), got {tuple(graph.shape)}")
    return graph.nonzero().t().long(), _num_nodes(num_nodes, graph.shape[0])


def _num_nodes(given: int | None, inferred: int) -> int:
    if given is None:
        return inferred
    n = check_int("num_nodes", given, 0)
    if n < inferred:
        raise SpecError(f"num_nodes={n} is smaller than the graph ({inferred} nodes)")
    return n


def _dense_ring(ei: Tensor, n: int, hops: int) -> Tensor:
    adj = torch.zeros(n, n, dtype=torch.float32, device=ei.device)
    adj[ei[0], ei[1]] = 1.0
    reached = torch.eye(n, dtype=torch.bool, device=ei.device)
    frontier = reached.clone()
    for _ in range(hops):
        frontier = ((frontier.float() @ adj) > 0) & ~reached
        reached |= frontier
        if not frontier.any():
            break
    return frontier.nonzero().t().contiguous()


def _sparse_ring(ei: Tensor, n: int, hops: int) -> Tensor:
    dev = ei.device
    adj = torch.sparse_coo_tensor(ei, torch.ones(ei.shape[1], device=dev), (n, n), check_invariants=False).coalesce()
    nodes = torch.arange(n, device=dev)
    rows, cols = nodes, nodes
    visited = nodes * n + nodes  # keys row * n + col of (source, reached) pairs
    for _ in range(hops):
        if rows.numel() == 0:
            break
        front = torch.sparse_coo_tensor(
            torch.stack([rows, cols]), torch.ones(rows.numel(), device=dev), (n, n), check_invariants=False
        )
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
            nxt = torch.sparse.mm(front, adj).coalesce()  # sorted, unique (source, reached) pairs
        keys = nxt.indices()[0] * n + nxt.indices()[1]
        keys = keys[nxt.values() > 0]
        new = keys[~torch.isin(keys, visited)]
        visited = torch.cat([visited, new])
        rows, cols = new // n, new % n
    return torch.stack([rows, cols]).contiguous()


def hop_neighbourhood(
    graph: Tensor,
    num_nodes: int | None = None,
    hops: int = 1,
    *,
    directed: bool = False,
    method: str = "auto",
) -> Tensor:
    """The exact ring at hop distance ``hops``: pairs ``(u, v)`` with shortest-path distance exactly ``d``.

    Breadth-first frontier expansion from every node at once: ``F_0 = I``,
    ``F_{t+1} = (F_t A > 0) and not reached``; the ring is ``F_d``. Dense boolean matrix powers
    for small graphs, ``torch.sparse.mm`` on COO frontiers (memory ``O(pairs within d hops)``)
    for large ones.

    Args:
        graph: an ``edge_index`` ``(2, E)`` of integers (``[0]`` sources, ``[1]`` targets), a dense
            adjacency ``(N, N)`` (bool or float; non-zero is an edge), or a torch sparse adjacency.
            Self-loops and duplicate edges are ignored.
        num_nodes: ``N`` (inferred from the graph if omitted; isolated trailing nodes need it).
        hops: the distance ``d >= 1``.
        directed: follow edges from source to target only; by default the graph is undirected.
        method: ``"auto"`` (dense up to :data:`DENSE_LIMIT` nodes), ``"dense"`` or ``"sparse"``.

    Returns:
        ``edge_index`` ``(2, E_d)`` int64, sorted by source then target: edge ``(u, v)`` means
        ``v`` is at distance exactly ``d`` from ``u`` (so ``v`` aggregates from ``u`` in the
        PyTorch Geometric convention). Undirected graphs give a symmetric ring.

    Examples:
        >>> path = torch.tensor([[0, 1, 2], [1, 2, 3]])  # 0 - 1 - 2 - 3
        >>> hop_neighbourhood(path, hops=2).tolist()
        [[0, 1, 2, 3], [2, 3, 0, 1]]
        >>> hop_neighbourhood(path, hops=2, directed=True).tolist()
        [[0, 1], [2, 3]]
    """
    hops = check_int("hops", hops, 1)
    if method not in ("auto", "dense", "sparse"):
        raise SpecError(f"method must be 'auto', 'dense' or 'sparse', got {method!r}")
    ei, n = _edges_of(graph, num_nodes)
    if ei.numel() and int(ei.max()) >= n:
        raise SpecError(f"the graph names node {int(ei.max())} but num_nodes={n}")
    ei = ei[:, ei[0] != ei[1]]
    if not directed:
        ei = torch.cat([ei, ei.flip(0)], dim=1)
    if n == 0:
        return torch.zeros(2, 0, dtype=torch.long, device=ei.device)
    if method == "dense" or (method == "auto" and n <= DENSE_LIMIT):
        return _dense_ring(ei, n, hops)
    return _sparse_ring(ei, n, hops)


# --------------------------------------------------------------------------- aggregation


def graph_aggregate(h: Tensor, edge_index: Tensor, aggr: str = "mean", self_loops: bool = True) -> Tensor:
    """Aggregate node features ``h`` (``(..., N, F)``) along ``edge_index`` (``[0]`` source, ``[1]`` target).

    ``aggr``: ``"sum"``, ``"mean"``, ``"max"`` (``scatter_reduce`` amax) or ``"gcn"`` (Kipf and
    Welling's symmetric normalisation ``h_i' = sum_j h_j / sqrt(deg_i deg_j)``, degrees counted
    with the self-loop). With ``self_loops`` each node also receives its own feature, so a
    node without incoming edges keeps it; without self-loops such a node gets 0.

    Examples:
        >>> h = torch.tensor([[1.0], [2.0], [4.0]])
        >>> graph_aggregate(h, torch.tensor([[1, 2], [0, 0]]), "mean").squeeze(-1).tolist()
        [2.3333332538604736, 2.0, 4.0]
    """
    if aggr not in _AGGR_GRAPH:
        raise SpecError(f"aggr must be one of {', '.join(_AGGR_GRAPH)}, got {aggr!r}")
    if not isinstance(h, Tensor) or h.dim() < 2:
        shape = tuple(h.shape) if isinstance(h, Tensor) else type(h).__name__
        raise SpecError(f"h must be a tensor of node features (..., N, F), got {shape}")
    if (
        not isinstance(edge_index, Tensor)
        or edge_index.dim() != 2
        or edge_index.shape[0] != 2
        or edge_index.is_floating_point()
        or edge_index.is_complex()
    ):
        shape = tuple(edge_index.shape) if isinstance(edge_index, Tensor) else type(edge_index).__name__
        raise SpecError(f"edge_index must be an integer tensor of shape (2, E), got {shape}")
    n = h.shape[-2]
    src, dst = edge_index[0].to(h.device), edge_index[1].to(h.device)
    msgs = h.index_select(-2, src)
    base = h if self_loops else torch.zeros_like(h)
    if aggr == "max":
        index = dst.view(*([1] * (h.dim() - 2)), -1, 1).expand_as(msgs)
        if self_loops:
            return base.scatter_reduce(-2, index, msgs, "amax", include_self=True)
        out = torch.full_like(h, float("-inf")).scatter_reduce(-2, index, msgs, "amax", include_self=True)
        return torch.where(torch.isinf(out) & (out < 0), torch.zeros_like(out), out)
    deg = torch.bincount(dst, minlength=n).to(h.dtype) + (1.0 if self_loops else 0.0)
    if aggr == "gcn":
        inv = deg.clamp(min=1).rsqrt()
        weights = (inv[src] * inv[dst]).unsqueeze(-1)
        out = base * (inv * inv).unsqueeze(-1) if self_loops else base
        return out.index_add(-2, dst, msgs * weights)
    out = base.index_add(-2, dst, msgs)
    if aggr == "mean":
        out = out / deg.clamp(min=1).unsqueeze(-1)
    return out


# --------------------------------------------------------------------------- modules


class EdgeConv(nn.Module):
    """EdgeConv (Wang et al. 2019, DGCNN) over dilated k-NN neighbourhoods (DeepGCN).

    ``h_ij = MLP([x_i, x_j - x_i])`` for the ``k`` dilated nearest neighbours ``j`` of ``i``
    (:func:`dilated_knn`), aggregated by ``max`` (default), ``mean`` or ``sum``. Without ``idx``
    or ``pos`` the graph is rebuilt from the features on every call (DGCNN's dynamic graph).

    Args:
        in_features, out_features: feature sizes.
        k: neighbours per point.
        dilation: k-NN dilation ``d``.
        aggr: ``"max"``, ``"mean"`` or ``"sum"``.
        include_self: the point is its own first neighbour.
        stochastic, epsilon: stochastic dilation in training (see :func:`dilated_knn`).
        mlp: the edge function (``2 * in_features -> out_features`` on the last axis); default
            ``Linear`` then ``LeakyReLU(0.2)`` as in DGCNN.
        bias: of the default ``Linear``.

    Shape:
        ``x``: ``(B, N, F_in)`` or ``(N, F_in)``; ``idx``: ``(B, N, k)`` neighbour indices;
        ``pos``: points to build the k-NN graph on instead of ``x``. Output ``(B, N, F_out)``.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        k: int,
        dilation: int = 1,
        aggr: str = "max",
        *,
        include_self: bool = False,
        stochastic: bool = False,
        epsilon: float = 0.2,
        mlp: nn.Module | None = None,
        bias: bool = True,
    ) -> None:
        super().__init__()
        if aggr not in _AGGR_EDGE:
            raise SpecError(f"aggr must be one of {', '.join(_AGGR_EDGE)}, got {aggr!r}")
        self.in_features = check_int("in_features", in_features, 1)
        self.out_features = check_int("out_features", out_features, 1)
        self.k = check_int("k", k, 1)
        self.dilation = check_int("dilation", dilation, 1)
        self.aggr = aggr
        self.include_self = bool(include_self)
        self.stochastic = bool(stochastic)
        self.epsilon = _probability("epsilon", epsilon)
        if mlp is not None and not isinstance(mlp, nn.Module):
            raise SpecError(f"mlp must be an nn.Module (or None for the default), got {type(mlp).__name__}")
        self.mlp = (
            mlp if mlp is not None else nn.Sequential(nn.Linear(2 * in_features, out_features, bias), nn.LeakyReLU(0.2))
        )

    def neighbours(self, points: Tensor) -> Tensor:
        """The dilated k-NN indices this layer uses for ``points``."""
        return dilated_knn(
            points,
            self.k,
            self.dilation,
            self.include_self,
            stochastic=self.stochastic,
            epsilon=self.epsilon,
            training=self.training,
        )

    def forward(self, x: Tensor, idx: Tensor | None = None, pos: Tensor | None = None) -> Tensor:
        if x.dim() not in (2, 3):
            raise SpecError(f"x must have shape (B, N, F) or (N, F), got {tuple(x.shape)}")
        unbatched = x.dim() == 2
        xb = x.unsqueeze(0) if unbatched else x
        if idx is None:
            idx = self.neighbours(xb if pos is None else (pos.unsqueeze(0) if pos.dim() == 2 else pos))
        if idx.dim() == 2:
            idx = idx.unsqueeze(0)
        b = xb.shape[0]
        if idx.shape[0] != b or idx.shape[1] != xb.shape[1]:
            raise SpecError(f"idx must have shape (B, N, k) = ({b}, {xb.shape[1]}, k), got {tuple(idx.shape)}")
        batch = torch.arange(b, device=xb.device).view(b, 1, 1)
        xj = xb[batch, idx]  # (B, N, k, F)
        xi = xb.unsqueeze(2).expand_as(xj)
        h: Tensor = self.mlp(torch.cat([xi, xj - xi], dim=-1))
        if self.aggr == "max":
            out = h.amax(dim=2)
        elif self.aggr == "mean":
            out = h.mean(dim=2)
        else:
            out = h.sum(dim=2)
        return out.squeeze(0) if unbatched else out

    def extra_repr(self) -> str:
        s = f"{self.in_features}, {self.out_features}, k={self.k}, dilation={self.dilation}, aggr={self.aggr!r}"
        if self.stochastic:
            s += f", stochastic=True, epsilon={self.epsilon}"
        return s


class DilatedGraphConv(nn.Module):
    """GCN-style graph convolution over the exact ``d``-hop ring plus the node itself.

    ``x_i' = aggr_{j in ring_d(i) + {i}} (W x_j) + b`` with the ring from
    :func:`hop_neighbourhood` and the aggregation from :func:`graph_aggregate` (sparse scatter
    over the edge list: ``index_add`` / ``scatter_reduce``). ``hops=1`` is an ordinary
    graph convolution; larger ``hops`` skip the nearer nodes, like a dilated kernel.

    Args:
        in_features, out_features: feature sizes.
        hops: the ring distance ``d >= 1``.
        aggr: ``"mean"`` (default), ``"sum"``, ``"max"`` or ``"gcn"`` (symmetric normalisation).
        bias: add a bias after aggregation.
        directed: follow edge directions when computing distances.
        cached: compute the ring once and reuse it (the graph must not change between calls).

    Shape:
        ``x``: ``(N, F_in)`` or ``(B, N, F_in)`` (one graph shared by the batch); ``graph``: an
        ``edge_index`` ``(2, E)`` or adjacency (see :func:`hop_neighbourhood`). Output
        ``(..., N, F_out)``.

    Examples:
        >>> conv = DilatedGraphConv(4, 8, hops=2)
        >>> cycle = torch.tensor([[0, 1, 2, 3, 4], [1, 2, 3, 4, 0]])
        >>> conv(torch.randn(5, 4), cycle).shape
        torch.Size([5, 8])
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        hops: int = 1,
        aggr: str = "mean",
        *,
        bias: bool = True,
        directed: bool = False,
        cached: bool = False,
    ) -> None:
        super().__init__()
        if aggr not in _AGGR_GRAPH:
            raise SpecError(f"aggr must be one of {', '.join(_AGGR_GRAPH)}, got {aggr!r}")
        self.in_features = check_int("in_features", in_features, 1)
        self.out_features = check_int("out_features", out_features, 1)
        self.hops = check_int("hops", hops, 1)
        self.aggr = aggr
        self.directed = bool(directed)
        self.cached = bool(cached)
        self._ring: Tensor | None = None
        self.lin = nn.Linear(in_features, out_features, bias=False)
        self.bias: nn.Parameter | None
        if bias:
            self.bias = nn.Parameter(torch.zeros(out_features))
        else:
            self.register_parameter("bias", None)

    def ring(self, graph: Tensor, num_nodes: int) -> Tensor:
        """The edge_index of the ``hops``-ring this layer aggregates over (cached if asked)."""
        if self.cached and self._ring is not None:
            return self._ring
        ring = hop_neighbourhood(graph, num_nodes, self.hops, directed=self.directed)
        if self.cached:
            self._ring = ring
        return ring

    def forward(self, x: Tensor, graph: Tensor, num_nodes: Any = None) -> Tensor:
        if x.dim() < 2:
            raise SpecError(f"x must have shape (N, F) or (B, N, F), got {tuple(x.shape)}")
        n = x.shape[-2] if num_nodes is None else check_int("num_nodes", num_nodes, 1)
        if n != x.shape[-2]:
            raise SpecError(f"num_nodes={n} but x has {x.shape[-2]} nodes")
        h = self.lin(x)
        out = graph_aggregate(h, self.ring(graph, n), self.aggr, self_loops=True)
        if self.bias is not None:
            out = out + self.bias
        return out

    def extra_repr(self) -> str:
        return f"{self.in_features}, {self.out_features}, hops={self.hops}, aggr={self.aggr!r}"
