using AttentionWise.Host;
using AttentionWise.Kernels;
using ILGPU;
using ILGPU.Runtime;

namespace AttentionWise.Layers;

/// <summary>How the plane kernels of the attention heads (Kernels/AttentionPlaneKernels.cs) are launched on a GPU-shaped
/// device.</summary>
/// <param name="Lanes">Threads of a plane's team (X of the group).</param>
/// <param name="Planes">Teams, so planes, per group (Y of the group).</param>
/// <param name="BackwardThreads">Threads of a BackwardInputPlanes group.</param>
internal readonly record struct HeadPlaneTile(int Lanes, int Planes, int BackwardThreads)
{
    /// <summary>The launch for images of h × w on a device with <paramref name="maxThreads"/> threads per group and warps
    /// of <paramref name="warp"/>, or null where a plane (or a block of <paramref name="blockImages"/> planes for the
    /// backward pass) does not fit the kernels' shared memory. A team has enough lanes for a lane per row and per
    /// column (whole warps); a group takes as many teams as fit; the backward pass takes the thread count, in whole
    /// warps, that leaves the fewest lanes idle over the passes across a plane (ties: more threads).</summary>
    public static HeadPlaneTile? Choose(int h, int w, int planes, int blockImages, int maxThreads, int warp)
    {
        maxThreads = Math.Max(1, Math.Min(maxThreads, AttentionPlaneKernels.MaxThreads));
        warp = Math.Clamp(warp, 1, maxThreads);
        int shared = HeadPlanes.SharedFloats(h, w);
        int hw = h * w;
        if (shared > AttentionPlaneKernels.PlaneShared || (long)blockImages * hw > AttentionPlaneKernels.BlockShared || hw == 0)
            return null;
        int lanes = Math.Min(maxThreads, (Math.Max(h, w) + warp - 1) / warp * warp);
        int teams = Math.Max(1, Math.Min(Math.Min(maxThreads / lanes, AttentionPlaneKernels.PlaneShared / shared), Math.Max(1, planes)));
        int best = warp;
        double bestUse = 0;
        for (int t = warp; t <= maxThreads; t += warp)
        {
            int passes = (hw + t - 1) / t;
            double use = (double)hw / (passes * t);
            if (use > bestUse + 1e-12 || (use >= bestUse - 1e-12 && t > best))
            {
                best = t;
                bestUse = Math.Max(use, bestUse);
            }
        }
        return new HeadPlaneTile(lanes, teams, best);
    }
}

/// <summary>Tests force plane-kernel launches through these, so that every team size and group shape (and the per-row
/// kernels on a GPU-shaped device) is checked whatever the chooser picks for the test shapes.</summary>
internal static class AttentionPlaneOverrides
{
    /// <summary>A launch to use instead of the chosen one (its sizes must fit the device and the kernels' limits).</summary>
    public static HeadPlaneTile? Tile { get; set; }

    /// <summary>Run the per-row kernels on GPU-shaped devices too.</summary>
    public static bool RowKernels { get; set; }

    /// <summary>Rows of the weight-gradient groups (null: chosen by the device).</summary>
    public static int? WeightGradRows { get; set; }

    public static void Clear()
    {
        Tile = null;
        RowKernels = false;
        WeightGradRows = null;
    }
}

/// <summary>
/// The K element-wise attention heads of one layer (SPEC §2), concatenated along channels:
/// input X [N, C, H, W] → Z [N, K·C, H, W] with channel k·C + c = X ⊙ R'_k, where
/// R_k = softmax_rows(X⊙Wx_k + Bx_k) ⊙ softmax_columns(X⊙Wy_k + By_k) and R' is one
/// BatchNorm2d(K·C, affine = false) of the concatenated R (per head the same as K batchnorms over C).
/// Parameters "wx", "wy" [K, C, H, W] (normal init) and, with <c>bias</c>, "bx", "by" (zeros), all in
/// the <see cref="Parameter.AttentionGroup"/> group; buffers "running_mean", "running_var" [K·C].
/// </summary>
public sealed unsafe class AttentionHeads : Module
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

    // The cpu device's vectorised host pass (made on first use), and whether the latest forward ran on it; the softmaxes
    // are then written into _oxy only when asked for (_oxyCurrent).
    private HostAttentionHeads? _host;
    private DeviceTensor? _hostState;
    private bool _onHost, _oxyCurrent;

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
    /// softmaxes Ox first, then the column softmaxes Oy. The cpu device's host pass keeps only their normalisers and
    /// writes them here when this is read.</summary>
    public DeviceTensor? Softmaxes
    {
        get
        {
            if (_onHost && !_oxyCurrent && _host is not null)
            {
                var oxy = Scratch(ref _oxy, Shape.Of(2, _dims.N, _dims.Q, _dims.H, _dims.W));
                _host.Softmaxes(oxy.HostPointer);
                _oxyCurrent = true;
            }
            return _oxy;
        }
    }

    /// <summary>Whether the latest forward ran on the cpu device's vectorised host pass
    /// (<see cref="HostAttentionHeads"/>).</summary>
    public bool RanOnHost => _onHost;

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
        _onHost = HostPasses.VectorOn(Device);
        if (_onHost)
        {
            var hz = Scratch(ref _z, outShape);
            _oxyCurrent = false;
            _host ??= new HostAttentionHeads(Heads, Channels, Height, Width, HasBias, HostPasses.Width(Device), HostLauncher.Shared);
            var state = Scratch(ref _hostState, Shape.Of(checked((int)Math.Max(1, _host.StateFloats(n)))));
            LaunchTimer.Run("Heads.HostForward", () => _host.Forward(n, input.HostPointer, Wx.Value.HostPointer, Wy.Value.HostPointer,
                HasBias ? Bx!.Value.HostPointer : null, HasBias ? By!.Value.HostPointer : null, hz.HostPointer,
                RunningMean.HostPointer, RunningVar.HostPointer, Training, Momentum, Eps, state.HostPointer));
            return hz;
        }
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

        var tile = PlaneTile(d);
        var planes = new HeadPlanes(d);
        if (tile is { } t)
        {
            LaunchTimer.Run("Heads.SoftmaxPlanes", () => k.SoftmaxPlanes!(PlaneConfig(t, planes), oxy.View, aux.View, input.View, wp.View, d, hasBias, ax, planes));
        }
        else
        {
            LaunchTimer.Run("Heads.RowSoftmax", () => k.RowSoftmax(n * d.Q * d.H, oxy.View, aux.View, input.View, wp.View, d, hasBias, ax));
            LaunchTimer.Run("Heads.ImageFlags", () => k.ImageFlags(n * d.Q, aux.View, d, ax));
            LaunchTimer.Run("Heads.ColumnSoftmax", () => k.ColumnSoftmax(n * d.Q * d.W, oxy.View, aux.View, input.View, wp.View, d, hasBias, ax));
        }

        var sums = new PairSumDims(n, d.Q, d.W, 2, ax.ColR, SumImages);
        var cfg = NormConfig(n, sums.Blocks, Training);
        var partial = Scratch(ref _partial, Shape.Of(d.Q, sums.Blocks, 2));
        LaunchTimer.Run("Heads.NormStatistics", () =>
        {
            if (cfg.Training != 0)
            {
                Device.Work(null, 4L * (n * d.Q * d.W * 2 + partial.Length));
                k.PairPartialSums(d.Q * sums.Blocks, partial.View, aux.View, sums);
            }
            if (Device.GpuShaped)
            {
                Device.Work(null, 4L * (partial.Length + 6 * d.Q));
                Device.Kernels<ReductionKernelSet>().HeadNormForwardStatsGroup!(StatsConfig(d.Q), aux.View, RunningMean.View, RunningVar.View, partial.View, cfg);
            }
            else
                k.HeadNormForwardStats(d.Q, aux.View, RunningMean.View, RunningVar.View, partial.View, cfg);
        });
        if (tile is { } u)
            LaunchTimer.Run("Heads.HeadOutputPlanes", () => k.HeadOutputPlanes!(PlaneConfig(u, planes), z.View, aux.View, input.View, oxy.View, d, ax, planes));
        else
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
        if (_onHost && _host is not null && _input is not null && _z is not null)
            return HostBackward(gradOutput, addToInputGradient);
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
        var tile = PlaneTile(d);
        var planes = new HeadPlanes(d);
        if (tile is { } t)
            LaunchTimer.Run("Heads.BackwardSumsPlanes", () => k.BackwardSumsPlanes!(PlaneConfig(t, planes), aux.View, gradOutput.View, input.View, oxy.View, d, ax, planes));
        else
            LaunchTimer.Run("Heads.BackwardSums", () => k.BackwardSums(n * d.Q, aux.View, gradOutput.View, input.View, oxy.View, d, ax));

        var sums = new PairSumDims(n, d.Q, 1, 2, ax.Images, SumImages);
        var cfg = NormConfig(n, sums.Blocks, _forwardTraining);
        var partial = Scratch(ref _partial, Shape.Of(d.Q, sums.Blocks, 2));
        LaunchTimer.Run("Heads.BackwardCoefficients", () =>
        {
            if (cfg.Training != 0)
            {
                Device.Work(null, 4L * (n * d.Q * 2 + partial.Length));
                k.PairPartialSums(d.Q * sums.Blocks, partial.View, aux.View, sums);
            }
            if (Device.GpuShaped)
            {
                Device.Work(null, 4L * (partial.Length + 2 * d.Q));
                Device.Kernels<ReductionKernelSet>().HeadNormBackwardStatsGroup!(StatsConfig(d.Q), aux.View, partial.View, cfg);
            }
            else
                k.HeadNormBackwardStats(d.Q, aux.View, partial.View, cfg);
            // Reads R's row and column sums (2 each) and the coefficients (1 each), writes the coefficients.
            Device.Work(null, 4L * n * d.Q * (d.H + d.W) * 4);
            k.SoftmaxCoefficients(n * d.Q, aux.View, d, ax);
        });

        var layout = new HeadBackwardLayout(n, d.C, d.H, BlockImages, HasBias, addToInputGradient is not null, wantInput);
        var pw = Scratch(ref _pw, Shape.Of(HasBias ? 4 : 2, layout.Blocks, d.Q, d.H, d.W));
        if (tile is { } u)
        {
            var config = new KernelConfig(new Index2D(layout.Blocks, d.C), new Index2D(u.BackwardThreads, 1));
            LaunchTimer.Run(wantInput ? "Heads.BackwardInputPlanes" : "Heads.BackwardInputPlanes (no input gradient)", () => k.BackwardInputPlanes!(config,
                (gx ?? gradOutput).View, pw.View, gradOutput.View, (addToInputGradient ?? input).View, input.View, oxy.View, wp.View, aux.View, d, ax, layout, planes));
        }
        else
        {
            LaunchTimer.Run(wantInput ? "Heads.BackwardInput" : "Heads.BackwardInput (no input gradient)", () => k.BackwardInput(layout.Threads, (gx ?? gradOutput).View, pw.View, gradOutput.View,
                (addToInputGradient ?? input).View, input.View, oxy.View, wp.View, aux.View, d, ax, layout));
        }

        if (k.WeightGradientsGroup is { } grouped)
        {
            var (lanes, rows) = WeightGradGroup(Device);
            var config = new KernelConfig(new Index2D((d.WeightSize + lanes - 1) / lanes, 1), new Index2D(lanes, rows));
            LaunchTimer.Run("Heads.WeightGradientsGroup", () => grouped(config, Wx.Gradient.View, Wy.Gradient.View, (Bx ?? Wx).Gradient.View,
                (By ?? Wy).Gradient.View, pw.View, d.WeightSize, layout.Blocks, HasBias ? 1 : 0));
        }
        else
        {
            LaunchTimer.Run("Heads.WeightGradients", () => k.WeightGradients(d.WeightSize, Wx.Gradient.View, Wy.Gradient.View, (Bx ?? Wx).Gradient.View,
                (By ?? Wy).Gradient.View, pw.View, d.WeightSize, layout.Blocks, HasBias ? 1 : 0));
        }
        return gx;
    }

    private DeviceTensor? HostBackward(DeviceTensor gradOutput, DeviceTensor? addToInputGradient)
    {
        Shape.Require(_z!.Shape, gradOutput.Shape, "AttentionHeads.Backward gradient");
        if (addToInputGradient is not null)
            Shape.Require(_input!.Shape, addToInputGradient.Shape, "AttentionHeads.Backward skip gradient");
        var gx = ComputeInputGradient ? Scratch(ref _gx, _input!.Shape) : null;
        if (_dims.N == 0)
            return gx;
        LaunchTimer.Run("Heads.HostBackward", () => _host!.Backward(gradOutput.HostPointer, gx is null ? null : gx.HostPointer,
            addToInputGradient is null ? null : addToInputGradient.HostPointer, Wx.Gradient.HostPointer, Wy.Gradient.HostPointer,
            HasBias ? Bx!.Gradient.HostPointer : null, HasBias ? By!.Gradient.HostPointer : null));
        return gx;
    }

    protected override void Dispose(bool disposing)
    {
        _host?.Dispose();
        _host = null;
        base.Dispose(disposing);
    }

    /// <summary>
    /// The relevance R = Ox ⊙ Oy of every head from the latest forward, [N, K·C, H, W] (channel k·C + c),
    /// computed on request into a module-owned tensor (for visualisation; training never calls it).
    /// </summary>
    public DeviceTensor Relevance()
    {
        var oxy = Softmaxes;
        if (oxy is null || _z is null)
            throw new InvalidOperationException("AttentionHeads.Relevance called before Forward.");
        var r = Scratch(ref _relevance, _z.Shape);
        if (r.Length > 0)
            Device.Kernels<AttentionKernelSet>().Relevance(_dims.N * _dims.Q * _dims.H, r.View, oxy.View, _dims);
        return r;
    }

    /// <summary>The latest forward's row softmaxes Ox, [N, K·C, H, W], downloaded.</summary>
    public float[] DownloadRowSoftmax() => DownloadHalf(0);

    /// <summary>The latest forward's column softmaxes Oy, [N, K·C, H, W], downloaded.</summary>
    public float[] DownloadColumnSoftmax() => DownloadHalf(1);

    /// <summary>The batchnorm statistics the latest forward used: (mean, 1/sqrt(var + eps)) per channel k·C + c.</summary>
    public (float[] Mean, float[] InvStd) LastNormStatistics()
    {
        if (_onHost && _host is not null)
            return (_host.Mean.ToArray(), _host.InvStd.ToArray());
        if (_aux is null)
            throw new InvalidOperationException("AttentionHeads.LastNormStatistics called before Forward.");
        var s = _aux.Download();
        int q = Heads * Channels;
        return (s[..q], s[q..(2 * q)]);
    }

    private float[] DownloadHalf(int half)
    {
        var oxy = Softmaxes;
        if (oxy is null)
            throw new InvalidOperationException("AttentionHeads: no forward pass yet.");
        var all = oxy.Download();
        int size = all.Length / 2;
        return all[(half * size)..((half + 1) * size)];
    }

    private int BlockImages => Device.GpuShaped ? GpuBlockImages : CpuBlockImages;

    /// <summary>Images per partial sum of the head batchnorm's statistics: on GPU-shaped devices one (a thread per image
    /// and channel, and the statistics' group tree adds the images), on CPUs the backward pass's blocks.</summary>
    private int SumImages => Device.GpuShaped ? 1 : CpuBlockImages;

    /// <summary>The plane kernels' launch on a GPU-shaped device, or null for the per-row kernels (the cpu device, planes
    /// too large for shared memory, or forced by a test).</summary>
    internal HeadPlaneTile? PlaneTile(HeadDims d)
    {
        if (!Device.GpuShaped || AttentionPlaneOverrides.RowKernels)
            return null;
        var chosen = HeadPlaneTile.Choose(d.H, d.W, d.N * d.Q, BlockImages, Device.MaxGroupThreads, Device.WarpSize);
        if (chosen is not null && AttentionPlaneOverrides.Tile is { } forced)
        {
            int max = Math.Min(Device.MaxGroupThreads, AttentionPlaneKernels.MaxThreads);
            bool fits = forced.Lanes >= 1 && forced.Planes >= 1 && forced.BackwardThreads >= 1 && forced.Lanes * forced.Planes <= max
                && forced.BackwardThreads <= max && forced.Planes * HeadPlanes.SharedFloats(d.H, d.W) <= AttentionPlaneKernels.PlaneShared;
            if (fits)
                return forced;
        }
        return chosen;
    }

    /// <summary>The weight-gradient groups on a GPU-shaped device, (lanes, rows): 32 × 32 where groups of 1,024 threads
    /// are allowed, else powers of two within the device's group (at least 2 lanes, which avoids PoCL's 1 × n fault);
    /// <see cref="AttentionPlaneOverrides.WeightGradRows"/> forces the rows (tests), the lanes then fill the group.</summary>
    internal static (int Lanes, int Rows) WeightGradGroup(ComputeDevice device)
    {
        int max = Math.Max(2, Math.Min(AttentionPlaneKernels.WeightGradLanes * AttentionPlaneKernels.WeightGradMaxRows, device.MaxGroupThreads));
        static int Floor2(int v)
        {
            int p = 1;
            while (p * 2 <= v)
                p *= 2;
            return p;
        }
        int rowLimit = Math.Min(AttentionPlaneKernels.WeightGradMaxRows, max / 2);
        int rows = AttentionPlaneOverrides.WeightGradRows is int forced && forced >= 1 && forced <= rowLimit
            ? forced
            : Floor2(Math.Max(1, Math.Min(rowLimit, max / AttentionPlaneKernels.WeightGradLanes)));
        int lanes = Floor2(Math.Min(AttentionPlaneKernels.WeightGradLanes, max / rows));
        return (lanes, rows);
    }

    /// <summary>GPU-shaped devices: a reduction group per head-batchnorm channel.</summary>
    private KernelConfig StatsConfig(int channels) => new(channels, ReductionKernelSet.GroupSize(Device));

    private static KernelConfig PlaneConfig(HeadPlaneTile t, HeadPlanes p) =>
        new(new Index2D((p.Planes + t.Planes - 1) / t.Planes, 1), new Index2D(t.Lanes, t.Planes));

    private HeadNormConfig NormConfig(int n, int blocks, bool training) =>
        new(Heads * Channels, blocks, n * Height * Width, Momentum, Eps, training);
}
