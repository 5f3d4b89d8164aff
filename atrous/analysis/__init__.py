"""Analysis of real networks: exact receptive fields on the traced graph, gridding diagnosis,
effective receptive fields and spectra.

Examples:
    >>> import torch
    >>> from atrous.analysis import analyze
    >>> net = torch.nn.Sequential(torch.nn.Conv1d(1, 4, 3, dilation=2), torch.nn.Conv1d(4, 1, 3, dilation=2))
    >>> analyze(net, (1, 1, 32)).field()[0].holes
    (1, 3, 5, 7)
"""

from atrous.analysis.analyze import (
    GLOBAL,
    AnalysisWarning,
    Global,
    GriddingIssue,
    Node,
    Report,
    analyze,
    replacement_rates,
)
from atrous.analysis.erf import ERF, available_memory, erf
from atrous.analysis.trace import Call, Trace, trace

__all__ = [
    "ERF",
    "GLOBAL",
    "AnalysisWarning",
    "Call",
    "Global",
    "GriddingIssue",
    "Node",
    "Report",
    "Trace",
    "analyze",
    "available_memory",
    "erf",
    "replacement_rates",
    "trace",
]
