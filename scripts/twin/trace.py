"""The JSON trace's values, as src/io/trace.rs writes them: floats exact, NaN and infinities as
strings, tensors as nested lists, and the header every program's trace starts with."""
import math

import torch


def number(v):
    """A float for JSON; NaN and infinities as strings, as src/io/trace.rs writes them."""
    if math.isfinite(v):
        return v
    return "nan" if math.isnan(v) else ("inf" if v > 0 else "-inf")


def tensor_json(t):
    """A tensor as nested lists of Python floats (f32 widened exactly to f64)."""
    values = t.detach().cpu().double().tolist()
    if isinstance(values, float):
        return number(values)

    def walk(v):
        return [walk(x) for x in v] if isinstance(v, list) else number(v)

    return walk(values)


def named_json(module):
    return {name: tensor_json(p) for name, p in module.named_parameters()}


def grads_json(module):
    return {name: None if p.grad is None else tensor_json(p.grad) for name, p in module.named_parameters()}


def trace(program, device, config, fields):
    """A program's trace: the header every program writes (program, torch_version, device and
    config), then the program's own fields (as src/io/trace.rs trace)."""
    return {"program": program, "torch_version": torch.__version__, "device": str(device), "config": config, **fields}
