namespace AttentionWise.Layers;

/// <summary>
/// Log-softmax over the classes followed by the mean negative log-likelihood (PyTorch's
/// <c>F.nll_loss(F.log_softmax(logits, 1), labels)</c>). Labels are class indices in a <see cref="DeviceIntTensor"/>; a
/// label outside 0..K−1 makes the loss NaN. <see cref="Result"/> is the only call that
/// synchronises, and it downloads two floats.
/// </summary>
public sealed class LogSoftmaxNllLoss : IDisposable
{
    private readonly ComputeDevice _device;
    private readonly DeviceTensor _result;
    private DeviceTensor? _logp;
    private DeviceTensor? _perItem;
    private DeviceTensor? _grad;
    private DeviceIntTensor? _labels;
    private bool _disposed;

    public LogSoftmaxNllLoss(ComputeDevice device)
    {
        _device = device ?? throw new ArgumentNullException(nameof(device));
        _result = device.Allocate(Shape.Of(2));
    }

    /// <summary>The log-probabilities [N, K] of the latest <see cref="Forward"/>.</summary>
    public DeviceTensor LogProbabilities => _logp ?? throw new InvalidOperationException("LogSoftmaxNllLoss: no Forward yet.");

    /// <summary>Computes the log-probabilities and per-item losses of logits [N, K] against labels [N].</summary>
    public void Forward(DeviceTensor logits, DeviceIntTensor labels)
    {
        ArgumentNullException.ThrowIfNull(logits);
        ArgumentNullException.ThrowIfNull(labels);
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (logits.Shape.Rank != 2 || logits.Shape[1] == 0)
            throw new ShapeMismatchException("LogSoftmaxNllLoss logits ([N, K] with K ≥ 1)", Shape.Of(logits.Shape.Rank >= 1 ? logits.Shape[0] : 0, 10), logits.Shape);
        int n = logits.Shape[0];
        if (n == 0)
            throw new ArgumentException("LogSoftmaxNllLoss: the batch is empty.", nameof(logits));
        Shape.Require(Shape.Of(n), labels.Shape, "LogSoftmaxNllLoss labels");
        var logp = Resize(ref _logp, logits.Shape);
        var perItem = Resize(ref _perItem, Shape.Of(2, n));
        _device.Backend.NllLoss.Forward(logp, perItem, logits, labels);
        _labels = labels;
    }

    /// <summary>The mean NLL over the batch and the number of items whose argmax is the label.</summary>
    public (float Loss, int Correct) Result()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_perItem is null)
            throw new InvalidOperationException("LogSoftmaxNllLoss.Result called before Forward.");
        _device.Backend.NllLoss.Result(_result, _perItem);
        var r = _result.Download();
        return (r[0], (int)r[1]);
    }

    /// <summary>d(mean NLL)/d logits [N, K] = (softmax − one-hot) / N; the tensor belongs to this object.</summary>
    public DeviceTensor Backward() => Backward(0);

    /// <summary>
    /// The gradient of the mean NLL over a larger batch of which this forward pass saw a part (micro-batching):
    /// (softmax − one-hot) / <paramref name="meanOver"/>. Summed over every part of the batch, the parameter
    /// gradients equal those of the whole batch at once. 0 means the batch of the last Forward.
    /// </summary>
    public DeviceTensor Backward(int meanOver)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(meanOver);
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_logp is null || _labels is null)
            throw new InvalidOperationException("LogSoftmaxNllLoss.Backward called before Forward.");
        int n = _logp.Shape[0];
        var g = Resize(ref _grad, _logp.Shape);
        if (meanOver != 0 && meanOver < n)
            throw new ArgumentOutOfRangeException(nameof(meanOver), $"The batch of {meanOver} cannot be smaller than its part of {n}.");
        _device.Backend.NllLoss.Backward(g, _logp, _labels, 1f / (meanOver == 0 ? n : meanOver));
        return g;
    }

    private DeviceTensor Resize(ref DeviceTensor? slot, Shape shape)
    {
        if (slot is null)
            slot = _device.Allocate(shape);
        else if (!slot.Shape.Equals(shape))
            slot.Resize(shape);
        return slot;
    }

    public void Dispose()
    {
        if (_disposed)
            return;
        _disposed = true;
        _result.Dispose();
        _logp?.Dispose();
        _perItem?.Dispose();
        _grad?.Dispose();
    }
}
