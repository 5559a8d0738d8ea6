"""一、softmax的基本概念 (sigmoid, tanh, ReLU and softmax) and the cross-entropy of
二、交叉熵损失函数, as the plain PyTorch calls."""
import torch
import torch.nn.functional as F
from torch import nn


# ANCHOR: activations
def sigmoid(x):
    """一、Sigmoid: maps to (0, 1); 二分类问题选择sigmoid激活函数."""
    return torch.sigmoid(x)


def tanh(x):
    """一、Tanh: maps to (-1, 1), zero-centred."""
    return torch.tanh(x)


def relu(x):
    """一、ReLU: max(0, x), gradient 1 for x > 0 and 0 for x < 0 (死亡ReLU)."""
    return torch.relu(x)


def softmax(z, dim=1):
    """一、Softmax: scores to a probability distribution summing to 1; 多分类问题选择softmax激活函数."""
    return torch.softmax(z, dim)
# ANCHOR_END: activations


# ANCHOR: cross_entropy
def cross_entropy_by_hand(z, one_hot):
    """二、交叉熵损失函数: -sum_i y_i log(p_i), with one-hot y and p = softmax(z), averaged."""
    return -(one_hot * softmax(z, 1).log()).sum(1).mean()


def log_softmax_nll(z, y):
    """二、交叉熵损失函数: nn.LogSoftmax() then nn.NLLLoss()."""
    return nn.NLLLoss()(nn.LogSoftmax(dim=1)(z), y)


def cross_entropy(z, y):
    """二、交叉熵损失函数: nn.CrossEntropyLoss(), both of them in one."""
    return nn.CrossEntropyLoss()(z, y)
# ANCHOR_END: cross_entropy


# ANCHOR: binary_cross_entropy
def binary_cross_entropy_by_hand(z, y):
    """二、交叉熵损失函数, 二分类: -(y log(p) + (1 - y) log(1 - p)) with p = sigmoid(z), averaged."""
    p = sigmoid(z)
    return -(y * torch.log(p) + (1.0 - y) * torch.log(1.0 - p)).mean()


def binary_cross_entropy(z, y):
    """二分类: sigmoid, then the binary cross-entropy."""
    return F.binary_cross_entropy(sigmoid(z), y)


def binary_cross_entropy_with_logits(z, y):
    """二分类: sigmoid and the binary cross-entropy fused, on the logits."""
    return F.binary_cross_entropy_with_logits(z, y)
# ANCHOR_END: binary_cross_entropy
