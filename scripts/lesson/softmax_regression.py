"""二、交叉熵损失函数: the lesson's softmax regression, LinearNet trained with CrossEntropyLoss and
SGD, as the lesson writes it; only parametrised (seed, samples, epochs, lr, logits, device)."""
import torch
from torch import nn


class Observer:
    """What a program sees of the training; the lesson itself needs none of it (no-ops)."""

    def start(self, net):
        """Once: the net, the loss and the optimizer are made; the first epoch is next."""

    def epoch(self, epoch, train_l):
        """After each epoch's optimizer.step() and train_l += l, before the lesson's print."""


# ANCHOR: net
class LinearNet(nn.Module):
    """定义网络结构: 一层全连接层 + Softmax层 (logits=True skips the softmax: --logits)."""

    def __init__(self, logits=False):
        super(LinearNet, self).__init__()
        self.dense = nn.Linear(4, 3)
        self.softmax = nn.Softmax(dim=1)
        self.logits = logits  # the raw scores, the correct input of CrossEntropyLoss

    def forward(self, x):
        y = self.dense(x.view((-1, 4)))
        if not self.logits:
            y = self.softmax(y)
        return y
# ANCHOR_END: net


def train(seed=7, samples=7, epochs=70, lr=0.1, logits=False, device="cpu", observer=Observer(), file=None):
    """训练模型: the lesson's program from torch.manual_seed to the loop's print (to `file`,
    stdout when None); returns the trained net and its data X, target."""
    # ANCHOR: data
    torch.manual_seed(seed)
    X = torch.rand((samples, 2, 2)).to(device)
    target = torch.randint(0, 2, (samples,)).to(device)
    # ANCHOR_END: data
    net = LinearNet(logits=logits).to(device)
    # ANCHOR: loss_and_optimizer
    loss = nn.CrossEntropyLoss()  # 交叉熵损失函数
    optimizer = torch.optim.SGD(net.parameters(), lr=lr)  # 随机梯度下降法
    # ANCHOR_END: loss_and_optimizer
    observer.start(net)
    # ANCHOR: train
    for epoch in range(epochs):
        train_l = 0.0
        y_hat = net(X)
        l = loss(y_hat, target).sum()
        optimizer.zero_grad()
        l.backward()
        optimizer.step()
        train_l += l
        observer.epoch(epoch, train_l)
        print('epoch %d, loss %.4f' % (epoch + 1, train_l), file=file)
    # ANCHOR_END: train
    return net, X, target
