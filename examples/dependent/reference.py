"""What examples/dependent prints, from PyTorch: the same lines, value/0xbits for each number."""
import os
import struct
import sys

import torch
from torch import nn

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scripts"))
import reference  # noqa: E402 (the graph as src/nn/graph.rs reads it: reference.autograd_graph)


def show(t):
    values = t.detach().float().flatten().tolist()
    return " ".join(f"{repr_f32(v)}/{struct.unpack('<I', struct.pack('<f', v))[0]:#010x}" for v in values)


def repr_f32(v):
    """Rust's `{:?}` of an f32: the shortest text that reads back to the same float32."""
    for digits in range(1, 18):
        text = f"{v:.{digits}g}"
        if struct.unpack('<f', struct.pack('<f', float(text)))[0] == v:
            break
    if "e" not in text and "." not in text:
        text += ".0"
    return text


def main():
    x = torch.tensor([1., 2.], requires_grad=True)
    y = (x ** 3).sum()
    (g,) = torch.autograd.grad(y, x, create_graph=True)
    torch.autograd.backward([g], grad_tensors=[torch.tensor([1., 1.])])
    print("grad", show(g))
    print("hvp", show(x.grad))

    w = torch.tensor([1.], requires_grad=True)
    x1 = torch.tensor([2.], requires_grad=True)
    a, b = torch.add(w, x1), torch.add(w, 1)
    y1 = torch.mul(a, b)
    graph = reference.autograd_graph([("y", y1)], [("w", w), ("x", x1), ("a", a), ("b", b)])
    for line in reference.graph_lines(graph):
        print("graph", line)

    torch.manual_seed(0)
    layer = nn.Linear(3, 2)
    optimizer = torch.optim.SGD(layer.parameters(), lr=0.1)
    inputs = torch.tensor([[1., 2., 3.], [0.5, -1., 2.]])
    target = torch.tensor([[1., 0.], [0., 1.]])
    criterion = nn.MSELoss()
    for step in range(1, 11):
        optimizer.zero_grad()
        loss = criterion(layer(inputs), target)
        loss.backward()
        optimizer.step()
        print(f"step {step} loss", show(loss))
    print("weight", show(layer.weight))
    print("bias", show(layer.bias))


if __name__ == "__main__":
    main()
