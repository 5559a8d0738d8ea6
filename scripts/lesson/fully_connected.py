"""神经网络全连接层: the lesson's SimpleFC, one forward pass, loss.backward() and optimizer.step(),
as the lesson writes them; only parametrised (seed, lr, device), and trained on for --steps."""
import torch
import torch.nn as nn


class Observer:
    """What a program sees between the lesson's steps; the lesson itself needs none of it (no-ops)."""

    def start(self, model):
        """Once: the data, the model, the loss and the optimizer are made; the forward pass is next."""

    def forward(self, input_data, target_output, output, loss):
        """After output = model(input_data) and loss = criterion(...), before loss.backward()."""

    def backward(self, model):
        """After loss.backward() filled the .grad of model.fc's parameters, before optimizer.step()."""

    def step(self, model):
        """After optimizer.step() changed the parameters."""

    def training_step(self, step, loss):
        """Beyond the lesson, for steps > 1: after each further step (2 to steps), with its loss."""


# ANCHOR: model
class SimpleFC(nn.Module):
    """建立一个简单的全连接层: nn.Linear(input_size, output_size)."""

    def __init__(self, input_size, output_size):
        super(SimpleFC, self).__init__()
        self.fc = nn.Linear(input_size, output_size)

    def forward(self, x):
        return self.fc(x)
# ANCHOR_END: model


def train(seed=0, lr=0.01, steps=1, device="cpu", observer=Observer()):
    """神经网络全连接层: the lesson's program, one step; then steps - 1 more; returns the model."""
    torch.manual_seed(seed)
    # ANCHOR: step
    input_data = torch.tensor([[1.0, 2.0, 3.0]]).to(device)
    target_output = torch.tensor([[4.0, 5.0]]).to(device)
    model = SimpleFC(input_size=3, output_size=2).to(device)
    criterion = nn.MSELoss()
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    observer.start(model)
    output = model(input_data)
    loss = criterion(output, target_output)
    observer.forward(input_data, target_output, output, loss)
    loss.backward()
    observer.backward(model)
    optimizer.step()
    observer.step(model)
    # ANCHOR_END: step
    # ANCHOR: train_on
    for step in range(2, steps + 1):
        optimizer.zero_grad()
        loss = criterion(model(input_data), target_output)
        loss.backward()
        optimizer.step()
        observer.training_step(step, loss)
    # ANCHOR_END: train_on
    return model
