"""Compile, ONNX export and DistributedDataParallel: the layers behave like PyTorch's own."""

import os
import warnings

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from atrous import nn as ann


def _models():
    torch.manual_seed(0)
    return {
        "tcn": (ann.TCN(2, [8, 8, 8], kernel_size=3).eval(), torch.randn(2, 2, 50)),
        "wavenet": (
            ann.WaveNet(1, 16, residual_channels=8, layers_per_cycle=4, cycles=2).eval(),
            torch.randn(2, 1, 40),
        ),
        "conv2d_same_stride": (
            ann.Conv2d(3, 4, 3, stride=2, dilation=2, padding="same").eval(),
            torch.randn(1, 3, 17, 16),
        ),
        "tconv_asym": (
            ann.ConvTranspose1d(3, 4, 3, stride=2, padding=((2, 0),), output_padding=1).eval(),
            torch.randn(1, 3, 9),
        ),
    }


@pytest.mark.parametrize("name", ["tcn", "wavenet", "conv2d_same_stride"])
@pytest.mark.slow
def test_torch_compile_matches_eager(name):
    model, x = _models()[name]
    compiled = torch.compile(model)
    with torch.no_grad():
        torch.testing.assert_close(compiled(x), model(x), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("name", ["tcn", "wavenet", "conv2d_same_stride", "tconv_asym"])
@pytest.mark.slow
def test_onnx_export_matches_eager(name, tmp_path):
    ort = pytest.importorskip("onnxruntime")
    model, x = _models()[name]
    path = tmp_path / f"{name}.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        program = torch.onnx.export(model, (x,), dynamo=True)
    program.save(str(path))
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (out,) = session.run(None, {session.get_inputs()[0].name: x.numpy()})
    with torch.no_grad():
        np.testing.assert_allclose(out, model(x).numpy(), atol=1e-4, rtol=1e-4)


def _ddp_worker(rank, world, init_file, result_dir):
    torch.manual_seed(0)  # same initial weights on every rank
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    try:
        model = ann.TCN(2, [4, 4], kernel_size=3, dropout=0.0)
        ddp = torch.nn.parallel.DistributedDataParallel(model)
        opt = torch.optim.SGD(ddp.parameters(), lr=0.1)
        g = torch.Generator().manual_seed(100 + rank)  # different data per rank
        x = torch.randn(3, 2, 20, generator=g)
        loss = ddp(x).pow(2).mean()
        loss.backward()
        opt.step()
        flat = torch.cat([p.detach().flatten() for p in model.parameters()])
        torch.save(flat, os.path.join(result_dir, f"rank{rank}.pt"))
    finally:
        dist.destroy_process_group()


@pytest.mark.slow
def test_distributed_data_parallel_two_processes(tmp_path):
    world = 2
    mp.spawn(_ddp_worker, args=(world, str(tmp_path / "init"), str(tmp_path)), nprocs=world, join=True)
    a, b = (torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in range(world))
    torch.testing.assert_close(a, b)  # gradients were averaged: ranks agree
    # and equal one process that averages the two ranks' losses
    torch.manual_seed(0)
    model = ann.TCN(2, [4, 4], kernel_size=3, dropout=0.0)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    losses = [
        model(torch.randn(3, 2, 20, generator=torch.Generator().manual_seed(100 + r))).pow(2).mean()
        for r in range(world)
    ]
    (sum(losses) / world).backward()
    opt.step()
    torch.testing.assert_close(torch.cat([p.detach().flatten() for p in model.parameters()]), a, atol=1e-6, rtol=1e-5)
