using AttentionWise.Kernels;

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
    /// <summary>Images per block of the backward pass's fixed-order batch reduction on CPUs. A constant
    /// (not a function of the core count) so that results are bit-identical on every CPU.</summary>
    public const int CpuBlockImages = 64;

    /// <summary>The same on GPUs, where more blocks give more threads.</summary>
    public const int GpuBlockImages = 8;

    private DeviceTensor? _ox, _oy, _z, _cols, _partial, _stats, _rows, _pw, _gx, _relevance;
    private DeviceTensor? _input;
    private HeadDims _dims;
    private bool _forwardTraining;

    public AttentionHeads(ComputeDevice device, int channels, int height, int width, int heads, bool bias = false, float momentum = 0.1f, float eps = 1e-5f)
        : base(device)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(channels);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(height);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(width);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(heads);
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

    /// <summary>The latest forward's row softmaxes Ox, [N, K·C, H, W] (kept for the backward pass).</summary>
    public DeviceTensor? RowSoftmax => _ox;

    /// <summary>The latest forward's column softmaxes Oy, [N, K·C, H, W].</summary>
    public DeviceTensor? ColumnSoftmax => _oy;

    /// <summary>The latest forward's output Z (= the returned tensor), [N, K·C, H, W].</summary>
    public DeviceTensor? Output => _z;

    /// <summary>Elements of one head's weight array, C·H·W.</summary>
    public int HeadLength => Channels * Height * Width;

    public override Shape OutputShape(Shape input)
    {
        Shape.Require(Shape.Of(input.N, Channels, Height, Width), input, "AttentionHeads input");
        return Shape.Of(input.N, Heads * Channels, Height, Width);
    }

    public override DeviceTensor Forward(DeviceTensor input)
    {
        var outShape = OutputShape(input.Shape);
        int n = input.Shape.N;
        var d = new HeadDims(n, Heads, Channels, Height, Width);
        _dims = d;
        _input = input;
        _forwardTraining = Training;
        var ox = Scratch(ref _ox, outShape);
        var oy = Scratch(ref _oy, outShape);
        var z = Scratch(ref _z, outShape);
        var stats = Scratch(ref _stats, Shape.Of(4 * d.Q));
        if (n == 0)
            return z;

        var k = Device.Kernels<AttentionKernelSet>();
        var bx = Bx?.Value.View ?? Wx.Value.View;
        var by = By?.Value.View ?? Wy.Value.View;
        int hasBias = HasBias ? 1 : 0;
        float shift = 1f / d.Plane;
        k.RowSoftmax(n * d.Q * d.H, ox.View, input.View, Wx.Value.View, bx, d, hasBias);
        var cols = Scratch(ref _cols, Shape.Of(n, d.Q, d.W, 2));
        k.ColumnSoftmax(n * d.Q * d.W, oy.View, cols.View, ox.View, input.View, Wy.Value.View, by, d, hasBias, shift);

        var sums = new PairSumDims(n, d.Q, d.W, 2, BlockImages);
        var cfg = NormConfig(n, sums.Blocks, Training);
        var partial = Scratch(ref _partial, Shape.Of(d.Q, sums.Blocks, 2));
        if (Training)
            k.PairPartialSums(d.Q * sums.Blocks, partial.View, cols.View, sums);
        k.HeadNormForwardStats(d.Q, stats.View, RunningMean.View, RunningVar.View, partial.View, cfg);
        k.HeadOutput(n * d.Q * d.H, z.View, input.View, ox.View, oy.View, stats.View, d);
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
        if (_input is null || _ox is null || _oy is null || _stats is null)
            throw new InvalidOperationException("AttentionHeads.Backward called before Forward.");
        var d = _dims;
        Shape.Require(_ox.Shape, gradOutput.Shape, "AttentionHeads.Backward gradient");
        if (addToInputGradient is not null)
            Shape.Require(_input.Shape, addToInputGradient.Shape, "AttentionHeads.Backward skip gradient");
        bool wantInput = ComputeInputGradient;
        var gx = wantInput ? Scratch(ref _gx, _input.Shape) : null;
        int n = d.N;
        if (n == 0)
            return gx;

        var k = Device.Kernels<AttentionKernelSet>();
        var rows = Scratch(ref _rows, Shape.Of(n, d.Q, d.H, 5));
        k.BackwardRows(n * d.Q * d.H, rows.View, gradOutput.View, _input.View, _ox.View, _oy.View, _stats.View, d);

        var sums = new PairSumDims(n, d.Q, d.H, 5, BlockImages);
        var cfg = NormConfig(n, sums.Blocks, _forwardTraining);
        var partial = Scratch(ref _partial, Shape.Of(d.Q, sums.Blocks, 2));
        if (_forwardTraining)
            k.PairPartialSums(d.Q * sums.Blocks, partial.View, rows.View, sums);
        k.HeadNormBackwardStats(d.Q, _stats.View, partial.View, cfg);

        var layout = new HeadBackwardLayout(n, d.C, d.W, BlockImages, Device.Kind == DeviceKind.Cpu ? d.W : 1, HasBias, addToInputGradient is not null, wantInput);
        var pw = Scratch(ref _pw, Shape.Of(HasBias ? 4 : 2, layout.Blocks, d.Q, d.H, d.W));
        k.BackwardColumns(layout.Threads, (gx ?? gradOutput).View, pw.View, gradOutput.View, (addToInputGradient ?? _input).View,
            _input.View, _ox.View, _oy.View, Wx.Value.View, Wy.Value.View, _stats.View, rows.View, d, layout);

        int size = d.Q * d.Plane;
        k.WeightGradients(size, Wx.Gradient.View, Wy.Gradient.View, (Bx ?? Wx).Gradient.View, (By ?? Wy).Gradient.View,
            pw.View, size, layout.Blocks, HasBias ? 1 : 0);
        return gx;
    }

    /// <summary>
    /// The relevance R = Ox ⊙ Oy of every head from the latest forward, [N, K·C, H, W] (channel k·C + c),
    /// computed on request into a module-owned tensor (for visualisation; training never calls it).
    /// </summary>
    public DeviceTensor Relevance()
    {
        if (_ox is null || _oy is null)
            throw new InvalidOperationException("AttentionHeads.Relevance called before Forward.");
        var r = Scratch(ref _relevance, _ox.Shape);
        Elementwise.Multiply(_ox, _oy, r);
        return r;
    }

    /// <summary>The batchnorm statistics the latest forward used: (mean, 1/sqrt(var + eps)) per channel k·C + c.</summary>
    public (float[] Mean, float[] InvStd) LastNormStatistics()
    {
        if (_stats is null)
            throw new InvalidOperationException("AttentionHeads.LastNormStatistics called before Forward.");
        var s = _stats.Download();
        int q = Heads * Channels;
        return (s[..q], s[q..(2 * q)]);
    }

    private int BlockImages => Device.Kind == DeviceKind.Cpu ? CpuBlockImages : GpuBlockImages;

    private HeadNormConfig NormConfig(int n, int blocks, bool training) =>
        new(Heads * Channels, blocks, n * Height * Width, 1f / (Height * Width), Momentum, Eps, training);
}
