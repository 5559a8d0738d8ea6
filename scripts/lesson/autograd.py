"""三、自动微分模块: the lesson's graph y = (w + x) * (w + 1) and its backward pass, its three
注意点, and the arguments of torch.autograd.backward; only parametrised (device)."""
# ANCHOR: graph
import torch


def graph(device="cpu"):
    """三、自动微分模块: the lesson's graph on fresh leaves w = [1.], x = [2.]."""
    w = torch.tensor([1.], requires_grad=True, device=device)
    x = torch.tensor([2.], requires_grad=True, device=device)
    a = torch.add(w, x)
    b = torch.add(w, 1)
    y = torch.mul(a, b)
    return w, x, a, b, y


def backward(y):
    """The lesson's backward pass: dy/dw into w.grad, dy/dx into x.grad, the graph kept."""
    y.backward(retain_graph=True)
# ANCHOR_END: graph


# ANCHOR: accumulate
def accumulate(y):
    """注意点: 梯度不自动清零 - another backward pass adds to w.grad and x.grad."""
    y.backward(retain_graph=True)


def zero_grad(w, x):
    """...so they are zeroed by hand before the next pass (optimizer.zero_grad() does this)."""
    w.grad.zero_()
    x.grad.zero_()
# ANCHOR_END: accumulate


# ANCHOR: leaf_rules
def requires_grad(**nodes):
    """注意点: 依赖于叶子节点的节点,requires_grad默认为True - each node's is_leaf and requires_grad."""
    return {name: (t.is_leaf, t.requires_grad) for name, t in nodes.items()}


def retain_grad(device="cpu"):
    """Only leaves keep .grad after backward; a non-leaf keeps it when retain_grad() came first."""
    w, x, a, b, y = graph(device)
    a.retain_grad()
    y.backward()
    return a, b


def add_in_place(w):
    """注意点: 叶子节点不可执行in-place - w.add_(1) raises RuntimeError, w stays as it was."""
    w.add_(1)
# ANCHOR_END: leaf_rules


# ANCHOR: backward_arguments
def retain_graph(device="cpu"):
    """retain_graph: 保存计算图 - without it, a backward pass frees the graph: the second fails."""
    w, x, a, b, y = graph(device)
    y.backward()
    y.backward()


def grad_tensors(device="cpu"):
    """grad_tensors: 多梯度权重 - y0 = a * b and y1 = a + b in one pass, weighted 1 and 2."""
    w, x, a, b, y = graph(device)
    y0 = a * b
    y1 = a + b
    weights = torch.tensor([1., 2.], device=device)
    torch.autograd.backward([y0, y1], grad_tensors=[weights[0:1], weights[1:2]])
    return w, x, y0, y1


def create_graph(device="cpu"):
    """create_graph: 创建导数计算图,用于高阶求导 - d1 = dy/dx of y = x ** 3 is a graph itself."""
    x = torch.tensor([2.], requires_grad=True, device=device)
    y = x ** 3
    (d1,) = torch.autograd.grad(y, x, create_graph=True)
    return x, y, d1


def higher_order(x, d1):
    """create_graph: d1 differentiated again, d2 = 6x (a graph too), then d3 = 6."""
    (d2,) = torch.autograd.grad(d1, x, create_graph=True)
    (d3,) = torch.autograd.grad(d2, x)
    return d2, d3
# ANCHOR_END: backward_arguments
