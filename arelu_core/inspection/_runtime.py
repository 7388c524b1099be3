"""Context managers for running a model on one image from a page: one thread, eval mode."""
from __future__ import annotations

import contextlib
import sys

import torch
from torch import nn


@contextlib.contextmanager
def one_thread():
    """One thread for torch's and Numba's parallel regions for the duration.

    For a single small image every op takes microseconds, and waking thread pools costs far more
    (orders of magnitude on a busy 2-core CPU). Both settings are per calling thread (torch's OpenMP
    backend, Numba's thread masking), so a training in another thread keeps its threads.
    """
    torch_threads = torch.get_num_threads()
    numba = sys.modules.get("numba")          # only when the AReLU kernels loaded it
    numba_threads = numba.get_num_threads() if numba is not None else None
    torch.set_num_threads(1)
    if numba is not None:
        numba.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(torch_threads)
        if numba is not None:
            numba.set_num_threads(numba_threads)


@contextlib.contextmanager
def eval_mode(model: nn.Module):
    """Eval mode for the duration (RReLU's mean slope, no dropout), then the caller's mode back."""
    was_training = model.training
    model.eval()
    try:
        yield model
    finally:
        model.train(was_training)


def device_of(model: nn.Module) -> torch.device:
    return next(model.parameters()).device
