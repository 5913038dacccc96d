namespace AttentionWise.Ops;

/// <summary>What a dense product does with its result.</summary>
internal enum DenseOutput
{
    /// <summary>y = x·wᵀ + b.</summary>
    Write,

    /// <summary>y = ReLU(x·wᵀ + b) (NaN kept).</summary>
    Relu,

    /// <summary>y += x·wᵀ + b.</summary>
    Accumulate,
}

/// <summary>
/// The dense (fully connected) op, as PyTorch's nn.Linear: y = x·wᵀ + b, its input gradient and its accumulating weight
/// gradient. x, gx: [N, I] (any [N, …] with items of I elements); w, gw: [O, I]; b, gb: [O]; y, gy: [N, O]. Linear and
/// the DIA unit's branches run through it.
/// </summary>
internal interface IDense
{
    /// <summary>True when the products run as host BLAS calls (the cpu device with its host passes and a BLAS).</summary>
    bool RunsOnHost { get; }

    /// <summary>y = x·wᵀ + b (b may be null), then <paramref name="output"/>'s epilogue.</summary>
    void Forward(DeviceTensor x, DeviceTensor weight, DeviceTensor? bias, DeviceTensor y, DenseOutput output, DenseWorkspace workspace);

    /// <summary>gx = gy·w (overwritten); with <paramref name="reluOutput"/> (the output of a ReLU that x went through),
    /// gx = gy·w where reluOutput &gt; 0, else 0.</summary>
    void InputGradient(DeviceTensor gy, DeviceTensor weight, DeviceTensor gx, DeviceTensor? reluOutput = null);

    /// <summary>gw += gyᵀ·x and, when <paramref name="gradBias"/> is given, gb += Σ_n gy[n].</summary>
    void WeightGradient(DeviceTensor x, DeviceTensor gy, DeviceTensor gradWeight, DeviceTensor? gradBias, DenseWorkspace workspace);
}

/// <summary>The scratch tensors one user of <see cref="IDense"/> keeps between calls (slice partials, a second product's
/// result, the bias reduction's workspace), allocated on first use and reused; disposed with their owner.</summary>
internal sealed class DenseWorkspace(ComputeDevice device) : IDisposable
{
    private readonly ScratchTensors _scratch = new(device);
    private DeviceTensor? _partials, _product, _reduction;

    /// <summary>Partial products of sliced kernels.</summary>
    public DeviceTensor Partials(Shape shape) => _scratch.Get(ref _partials, shape);

    /// <summary>A product computed apart before it is added (an accumulating forward without a BLAS).</summary>
    public DeviceTensor Product(Shape shape) => _scratch.Get(ref _product, shape);

    /// <summary>The workspace of the bias gradient's channel reduction.</summary>
    public DeviceTensor Reduction => _scratch.Get(ref _reduction, Shape.Of(1));

    public void Dispose() => _scratch.Dispose();
}
