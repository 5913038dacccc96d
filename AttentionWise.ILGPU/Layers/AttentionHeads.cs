using AttentionWise.Ops;

namespace AttentionWise.Layers;

/// <summary>
/// The K element-wise attention heads of one layer (SPEC §2), concatenated along channels:
/// input X [N, C, H, W] → Z [N, K·C, H, W] with channel k·C + c = X ⊙ R'_k, where
/// R_k = softmax_rows(X⊙Wx_k + Bx_k) ⊙ softmax_columns(X⊙Wy_k + By_k) and R' is one
/// BatchNorm2d(K·C, affine = false) of the concatenated R (per head the same as K batchnorms over C).
/// Parameters "wx", "wy" [K, C, H, W] (normal init) and, with <c>bias</c>, "bx", "by" (zeros), all in
/// the <see cref="Parameter.AttentionGroup"/> group; buffers "running_mean", "running_var" [K·C].
/// </summary>
public sealed class AttentionHeads : Module
{
    private readonly IAttentionHeads _op;
    private DeviceTensor? _z, _gx, _relevance;
    private DeviceTensor? _input;

    public AttentionHeads(ComputeDevice device, int channels, int height, int width, int heads, bool bias = false, float momentum = 0.1f, float eps = 1e-5f)
        : this(device, channels, height, width, heads, bias, momentum, eps, HeadsVariant.Chosen)
    {
    }

    /// <summary>The heads computed by <paramref name="variant"/> of the device's implementation (tests).</summary>
    internal AttentionHeads(ComputeDevice device, int channels, int height, int width, int heads, bool bias, float momentum, float eps,
        HeadsVariant variant)
        : base(device)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(channels);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(height);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(width);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(heads);
        ArgumentNullException.ThrowIfNull(variant);
        Channels = channels;
        Height = height;
        Width = width;
        Heads = heads;
        HasBias = bias;
        Momentum = momentum;
        Eps = eps;
        var shape = Shape.Of(heads, channels, height, width);
        Wx = AddParameter("wx", shape, ParameterInit.Normal, Parameter.AttentionGroup);
        Wy = AddParameter("wy", shape, ParameterInit.Normal, Parameter.AttentionGroup);
        if (bias)
        {
            Bx = AddParameter("bx", shape, ParameterInit.Zeros, Parameter.AttentionGroup);
            By = AddParameter("by", shape, ParameterInit.Zeros, Parameter.AttentionGroup);
        }
        RunningMean = AddBuffer("running_mean", Shape.Of(heads * channels));
        RunningVar = AddBuffer("running_var", Shape.Of(heads * channels));
        Elementwise.Fill(RunningVar, 1f);
        _op = device.Backend.AttentionHeads(new HeadsGeometry(heads, channels, height, width, bias), variant);
    }

    public int Channels { get; }
    public int Height { get; }
    public int Width { get; }
    public int Heads { get; }
    public bool HasBias { get; }
    public float Momentum { get; }
    public float Eps { get; }

    /// <summary>x weights of every head, [K, C, H, W]; head k is the k-th block of C·H·W values.</summary>
    public Parameter Wx { get; }

    /// <summary>y weights of every head, [K, C, H, W].</summary>
    public Parameter Wy { get; }

    public Parameter? Bx { get; }
    public Parameter? By { get; }

    /// <summary>Head-batchnorm running mean, [K·C] (channel k·C + c).</summary>
    public DeviceTensor RunningMean { get; }

    /// <summary>Head-batchnorm running variance (unbiased, as PyTorch), [K·C].</summary>
    public DeviceTensor RunningVar { get; }

    /// <summary>The latest forward's softmaxes: [2, N, K·C, H, W], the row softmaxes Ox first, then the column softmaxes
    /// Oy (null before a forward). The cpu device's vectorised pass keeps only their normalisers and writes them here when
    /// this is read.</summary>
    public DeviceTensor? Softmaxes => _op.Softmaxes();

    /// <summary>Whether the latest forward ran on the cpu device's vectorised host pass.</summary>
    public bool RanOnHost => _input is not null && _op.RunsOnHost;

    /// <summary>The latest forward's output Z (= the returned tensor), [N, K·C, H, W].</summary>
    public DeviceTensor? Output => _z;

    /// <summary>Elements of one head's weight array, C·H·W.</summary>
    public int HeadLength => Channels * Height * Width;

    /// <summary>The implementation the device chose for these heads.</summary>
    internal IAttentionHeads Op => _op;

    public override Shape OutputShape(Shape input)
    {
        Shape.Require(Shape.Of(input.N, Channels, Height, Width), input, "AttentionHeads input");
        return Shape.Of(input.N, Heads * Channels, Height, Width);
    }

    public override DeviceTensor Forward(DeviceTensor input)
    {
        var z = Scratch(ref _z, OutputShape(input.Shape));
        _input = input;
        _op.Forward(input, Values, new HeadNorm(RunningMean, RunningVar, Momentum, Eps), Training, z);
        return z;
    }

    public override DeviceTensor? Backward(DeviceTensor gradOutput) => Backward(gradOutput, null);

    /// <summary>
    /// Backward with an extra gradient <paramref name="addToInputGradient"/> (shape of the input) added to
    /// the returned input gradient: the skip connection's, fused into the same pass. Adds the gradients of
    /// Wx, Wy (and Bx, By). Returns null when <see cref="Module.ComputeInputGradient"/> is off.
    /// </summary>
    public DeviceTensor? Backward(DeviceTensor gradOutput, DeviceTensor? addToInputGradient)
    {
        if (_input is null || _z is null)
            throw new InvalidOperationException("AttentionHeads.Backward called before Forward.");
        Shape.Require(_z.Shape, gradOutput.Shape, "AttentionHeads.Backward gradient");
        if (addToInputGradient is not null)
            Shape.Require(_input.Shape, addToInputGradient.Shape, "AttentionHeads.Backward skip gradient");
        var gx = ComputeInputGradient ? Scratch(ref _gx, _input.Shape) : null;
        _op.Backward(gradOutput, new HeadsTensors(Wx.Gradient, Wy.Gradient, Bx?.Gradient, By?.Gradient), gx, addToInputGradient);
        return gx;
    }

    protected override void Dispose(bool disposing)
    {
        _op.Dispose();
        base.Dispose(disposing);
    }

    /// <summary>
    /// The relevance R = Ox ⊙ Oy of every head from the latest forward, [N, K·C, H, W], (channel k·C + c),
    /// computed on request into a module-owned tensor (for visualisation; training never calls it).
    /// </summary>
    public DeviceTensor Relevance()
    {
        if (_z is null)
            throw new InvalidOperationException("AttentionHeads.Relevance called before Forward.");
        var r = Scratch(ref _relevance, _z.Shape);
        _op.Relevance(r);
        return r;
    }

    /// <summary>The latest forward's row softmaxes Ox, [N, K·C, H, W], downloaded.</summary>
    public float[] DownloadRowSoftmax() => DownloadHalf(0);

    /// <summary>The latest forward's column softmaxes Oy, [N, K·C, H, W], downloaded.</summary>
    public float[] DownloadColumnSoftmax() => DownloadHalf(1);

    /// <summary>The batchnorm statistics the latest forward used: (mean, 1/sqrt(var + eps)) per channel k·C + c.</summary>
    public (float[] Mean, float[] InvStd) LastNormStatistics()
    {
        if (_z is null)
            throw new InvalidOperationException("AttentionHeads.LastNormStatistics called before Forward.");
        return _op.NormStatistics();
    }

    private HeadsTensors Values => new(Wx.Value, Wy.Value, Bx?.Value, By?.Value);

    private float[] DownloadHalf(int half)
    {
        var oxy = Softmaxes ?? throw new InvalidOperationException("AttentionHeads: no forward pass yet.");
        var all = oxy.Download();
        int size = all.Length / 2;
        return all[(half * size)..((half + 1) * size)];
    }
}
