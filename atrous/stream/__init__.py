"""Exact streaming inference for causal dilated stacks: ``stream(model)`` -> :class:`Streamer`.

``atrous.stream`` is both this package and a function: ``atrous.stream(model, batch_size=1)``
(the module is callable) is :func:`atrous.stream.stream`.

- :class:`Streamer`: ``step(x_t)``, ``push(chunk)``, ``reset(mask)``, ``state_dict()`` /
  ``load_state_dict()``, ``generate(n, ...)``, ``refresh()``, ``export_torchscript()``,
  ``export_onnx(path)``, ``step_module()`` (a :class:`StepModule`: the step as a pure
  function of ``(x, [c], [g], *states)``).
- :class:`Residual`: ``activation(body(x) + shortcut(x))``, a residual composition the
  streamer can walk; :func:`register_pointwise` / :func:`register` teach it other layers.
- :mod:`atrous.stream.sampling`: samplers for :meth:`Streamer.generate` and mu-law helpers.

Examples:
    >>> import torch
    >>> import atrous.stream
    >>> from atrous.nn import WaveNet
    >>> net = WaveNet(1, 16, residual_channels=8, layers_per_cycle=4, cycles=2).eval()
    >>> s = atrous.stream(net, batch_size=2)
    >>> s.receptive_field == net.receptive_field
    True
    >>> x = torch.randn(2, 1, 30)
    >>> y = torch.stack([s.step(x[:, :, t]) for t in range(30)], 2)
    >>> torch.allclose(y, net(x), atol=1e-5)
    True
"""

import sys
import types

from atrous.stream.chunk import ChunkModuleBase as StepModule
from atrous.stream.plan import Plan, Residual, register, register_pointwise
from atrous.stream.sampling import argmax_mu_law, argmax_one_hot, categorical, mu_law_decode, mu_law_encode
from atrous.stream.streamer import Streamer, stream
from atrous.stream.verify import StreamMismatch, Verified, verify

__all__ = [
    "Plan",
    "Residual",
    "StepModule",
    "Streamer",
    "argmax_mu_law",
    "argmax_one_hot",
    "categorical",
    "mu_law_decode",
    "mu_law_encode",
    "register",
    "register_pointwise",
    "stream",
    "verify",
    "StreamMismatch",
    "Verified",
]


class _CallableModule(types.ModuleType):
    """Lets ``atrous.stream(model)`` call :func:`stream` although ``atrous.stream`` is a package."""

    def __call__(self, model, batch_size=1, dtype=None, device=None, **kwargs):  # type: ignore[no-untyped-def]
        return stream(model, batch_size=batch_size, dtype=dtype, device=device, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
