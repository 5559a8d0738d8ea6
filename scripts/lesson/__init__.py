"""The lesson's PyTorch code (../shared/lesson/), one file per section, in the lesson's order and
with the lesson's names, only parametrised (seed, epochs, lr, samples, device ...):

    activations.py          一、softmax的基本概念 (sigmoid, tanh, relu, softmax) and the
                            cross-entropy of 二、交叉熵损失函数
    softmax_regression.py   二、交叉熵损失函数: LinearNet, CrossEntropyLoss, SGD, the training loop
    autograd.py             三、自动微分模块: y = (w + x) * (w + 1), the 注意点, backward's arguments
    fully_connected.py      神经网络全连接层: SimpleFC, MSELoss, one loss.backward() and optimizer.step()

No option parsing, no traces, no files, no signals here: what the programs in
scripts/reference.py need leaves through return values or an observer passed in.
"""
