namespace AttentionWise.Ops;

/// <summary>Log-softmax followed by the negative log-likelihood and its gradient (see
/// <see cref="Layers.LogSoftmaxNllLoss"/>, which owns the tensors and checks the shapes).</summary>
internal interface INllLoss
{
    /// <summary>logp [N, K] = log-softmax of logits [N, K]; perItem [2, N] = each item's loss and hit (1 when its argmax is
    /// its label).</summary>
    void Forward(DeviceTensor logp, DeviceTensor perItem, DeviceTensor logits, DeviceIntTensor labels);

    /// <summary>result [2] = the mean loss and the number of hits over perItem [2, N], summed in a fixed order.</summary>
    void Result(DeviceTensor result, DeviceTensor perItem);

    /// <summary>g [N, K] = (softmax − one-hot) · <paramref name="scale"/>.</summary>
    void Backward(DeviceTensor g, DeviceTensor logp, DeviceIntTensor labels, float scale);
}
