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

    private DeviceTensor? _oxy, _z, _wp, _aux, _partial, _pw, _gx, _relevance;
    private DeviceTensor? _input;
    private HeadDims _dims;
    private HeadAux _auxLayout;
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

    /// <summary>The latest forward's softmaxes, kept for the backward pass: [2, N, K·C, H, W], the row
    /// softmaxes Ox first, then the column softmaxes Oy.</summary>
    public DeviceTensor? Softmaxes => _oxy;

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
        var ax = new HeadAux(n, d.Q, d.H, d.W);
        _dims = d;
        _auxLayout = ax;
        _input = input;
        _forwardTraining = Training;
        var oxy = Scratch(ref _oxy, Shape.Of(2, n, d.Q, d.H, d.W));
        var z = Scratch(ref _z, outShape);
        var aux = Scratch(ref _aux, Shape.Of(ax.Length));
        var wp = Scratch(ref _wp, Shape.Of(HasBias ? 4 : 2, d.Q, d.H, d.W));
        var k = Device.Kernels<AttentionKernelSet>();
        int hasBias = HasBias ? 1 : 0;
        LaunchTimer.Run("Heads.PackWeights", () => k.PackWeights(d.WeightSize, wp.View, Wx.Value.View, Wy.Value.View,
            (Bx ?? Wx).Value.View, (By ?? Wy).Value.View, d.WeightSize, hasBias));
        if (n == 0)
            return z;

        LaunchTimer.Run("Heads.RowSoftmax", () => k.RowSoftmax(n * d.Q * d.H, oxy.View, aux.View, input.View, wp.View, d, hasBias, ax));
        LaunchTimer.Run("Heads.ImageFlags", () => k.ImageFlags(n * d.Q, aux.View, d, ax));
        LaunchTimer.Run("Heads.ColumnSoftmax", () => k.ColumnSoftmax(n * d.Q * d.W, oxy.View, aux.View, input.View, wp.View, d, hasBias, ax));

        var sums = new PairSumDims(n, d.Q, d.W, 2, ax.ColR, BlockImages);
        var cfg = NormConfig(n, sums.Blocks, Training);
        var partial = Scratch(ref _partial, Shape.Of(d.Q, sums.Blocks, 2));
        LaunchTimer.Run("Heads.NormStatistics", () =>
        {
            if (cfg.Training != 0)
                k.PairPartialSums(d.Q * sums.Blocks, partial.View, aux.View, sums);
            k.HeadNormForwardStats(d.Q, aux.View, RunningMean.View, RunningVar.View, partial.View, cfg);
        });
        LaunchTimer.Run("Heads.HeadOutput", () => k.HeadOutput(n * d.Q * d.H, z.View, aux.View, input.View, oxy.View, d, ax));
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
        if (_input is null || _oxy is null || _aux is null || _wp is null || _z is null)
            throw new InvalidOperationException("AttentionHeads.Backward called before Forward.");
        var d = _dims;
        var ax = _auxLayout;
        Shape.Require(_z.Shape, gradOutput.Shape, "AttentionHeads.Backward gradient");
        if (addToInputGradient is not null)
            Shape.Require(_input.Shape, addToInputGradient.Shape, "AttentionHeads.Backward skip gradient");
        bool wantInput = ComputeInputGradient;
        var gx = wantInput ? Scratch(ref _gx, _input.Shape) : null;
        int n = d.N;
        if (n == 0)
            return gx;

        var k = Device.Kernels<AttentionKernelSet>();
        var input = _input;
        var oxy = _oxy;
        var aux = _aux;
        var wp = _wp;
        LaunchTimer.Run("Heads.BackwardSums", () => k.BackwardSums(n * d.Q, aux.View, gradOutput.View, input.View, oxy.View, d, ax));

        var sums = new PairSumDims(n, d.Q, 1, 2, ax.Images, BlockImages);
        var cfg = NormConfig(n, sums.Blocks, _forwardTraining);
        var partial = Scratch(ref _partial, Shape.Of(d.Q, sums.Blocks, 2));
        LaunchTimer.Run("Heads.BackwardCoefficients", () =>
        {
            if (cfg.Training != 0)
                k.PairPartialSums(d.Q * sums.Blocks, partial.View, aux.View, sums);
            k.HeadNormBackwardStats(d.Q, aux.View, partial.View, cfg);
            k.SoftmaxCoefficients(n * d.Q, aux.View, d, ax);
        });

        var layout = new HeadBackwardLayout(n, d.C, d.H, BlockImages, HasBias, addToInputGradient is not null, wantInput);
        var pw = Scratch(ref _pw, Shape.Of(HasBias ? 4 : 2, layout.Blocks, d.Q, d.H, d.W));
        LaunchTimer.Run(wantInput ? "Heads.BackwardInput" : "Heads.BackwardInput (no input gradient)", () => k.BackwardInput(layout.Threads, (gx ?? gradOutput).View, pw.View, gradOutput.View,
            (addToInputGradient ?? input).View, input.View, oxy.View, wp.View, aux.View, d, ax, layout));

        LaunchTimer.Run("Heads.WeightGradients", () => k.WeightGradients(d.WeightSize, Wx.Gradient.View, Wy.Gradient.View, (Bx ?? Wx).Gradient.View,
            (By ?? Wy).Gradient.View, pw.View, d.WeightSize, layout.Blocks, HasBias ? 1 : 0));
        return gx;
    }

    /// <summary>
    /// The relevance R = Ox ⊙ Oy of every head from the latest forward, [N, K·C, H, W] (channel k·C + c),
    /// computed on request into a module-owned tensor (for visualisation; training never calls it).
    /// </summary>
    public DeviceTensor Relevance()
    {
        if (_oxy is null || _z is null)
            throw new InvalidOperationException("AttentionHeads.Relevance called before Forward.");
        var r = Scratch(ref _relevance, _z.Shape);
        if (r.Length > 0)
            Device.Kernels<AttentionKernelSet>().Relevance(_dims.N * _dims.Q * _dims.H, r.View, _oxy.View, _dims);
        return r;
    }

    /// <summary>The latest forward's row softmaxes Ox, [N, K·C, H, W], downloaded.</summary>
    public float[] DownloadRowSoftmax() => DownloadHalf(0);

    /// <summary>The latest forward's column softmaxes Oy, [N, K·C, H, W], downloaded.</summary>
    public float[] DownloadColumnSoftmax() => DownloadHalf(1);

    /// <summary>The batchnorm statistics the latest forward used: (mean, 1/sqrt(var + eps)) per channel k·C + c.</summary>
    public (float[] Mean, float[] InvStd) LastNormStatistics()
    {
        if (_aux is null)
            throw new InvalidOperationException("AttentionHeads.LastNormStatistics called before Forward.");
        var s = _aux.Download();
        int q = Heads * Channels;
        return (s[..q], s[q..(2 * q)]);
    }

    private float[] DownloadHalf(int half)
    {
        if (_oxy is null)
            throw new InvalidOperationException("AttentionHeads: no forward pass yet.");
        var all = _oxy.Download();
        int size = all.Length / 2;
        return all[(half * size)..((half + 1) * size)];
    }

    private int BlockImages => Device.GpuShaped ? GpuBlockImages : CpuBlockImages;

    private HeadNormConfig NormConfig(int n, int blocks, bool training) =>
        new(Heads * Channels, blocks, n * Height * Width, Momentum, Eps, training);
}
