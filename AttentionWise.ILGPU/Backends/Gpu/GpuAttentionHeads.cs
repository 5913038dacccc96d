using AttentionWise.Kernels;
using AttentionWise.Ops;
using ILGPU;
using ILGPU.Runtime;

namespace AttentionWise.Backends;

/// <summary>
/// The attention heads on GPU-shaped devices: the plane kernels (whole planes in shared memory, GpuHeadPlaneKernels),
/// which keep Ox and Oy in shared memory and recompute them from each row's and column's maximum and normaliser instead
/// of storing them, where a plane fits; else the per-row kernels, which store them. Either way the head batchnorm's
/// variance comes from per-line and per-image M2 (deviations, not E[R²] − E[R]²) through group reductions (one group
/// per channel); the weight gradients are a group reduction over the image blocks. <see cref="HeadsVariant"/> picks a launch
/// other than the chosen one (tests).
/// </summary>
internal sealed class GpuAttentionHeads : KernelAttentionHeads<DeviceView>
{
    /// <summary>Images per block of the backward pass's fixed-order batch reduction on GPUs (more blocks, more threads).</summary>
    public const int GpuBlockImages = 8;

    private readonly HeadsVariant _variant;
    private HeadPlaneTile? _tile;
    private DeviceTensor? _oxy;
    private bool _softmaxesCurrent;

    /// <summary>Images per partial sum of the head batchnorm's statistics: one (a thread per image and channel; the
    /// statistics' group tree adds the images).</summary>
    public GpuAttentionHeads(ComputeDevice device, HeadsGeometry geometry, HeadsVariant variant)
        : base(device, geometry, GpuBlockImages, 1)
    {
        _variant = variant;
    }

    private GpuHeadPlaneKernelSet Planes => Device.Kernels<GpuHeadPlaneKernelSet>();

    /// <summary>The plane kernels' launch for <paramref name="d"/>, or null for the per-row kernels (planes too large for
    /// shared memory, or asked for by the variant).</summary>
    internal HeadPlaneTile? PlaneTile(HeadDims d)
    {
        if (_variant.RowKernels)
            return null;
        var chosen = HeadPlaneTile.Choose(d.H, d.W, d.N * d.Q, BlockImages, Device.MaxGroupThreads, Device.WarpSize);
        if (chosen is null || _variant.Tile is not { } asked)
            return chosen;
        if (!asked.Fits(d.H, d.W, Device.MaxGroupThreads))
            throw new ArgumentException($"The plane launch {asked} does not fit this device or planes of {d.H} × {d.W}.");
        return asked;
    }

    protected override void BeginForward()
    {
        _tile = PlaneTile(Dims);
        _softmaxesCurrent = false;
    }

    /// <summary>The plane kernels keep Ox and Oy in shared memory and recompute them from the rows' and columns'
    /// normalisers; only the per-row kernels store them.</summary>
    protected override bool StoresSoftmaxes => _tile is null;

    /// <summary>With one image per partial sum, the forward writes the batchnorm's partial sums (each image's Σ R and
    /// M2) itself: the plane kernels, or PlaneMoments after the per-row kernels.</summary>
    protected override bool ForwardWritesPartialSums => true;

    /// <summary>The backward plane kernels write theirs too; the per-row kernels leave them to PairPartialSums.</summary>
    protected override bool BackwardWritesPartialSums => _tile is not null;

    /// <summary>Ox and Oy of the latest forward: the stored ones, or (plane kernels) written out from the normalisers on
    /// the first call after each forward.</summary>
    public override DeviceTensor? Softmaxes()
    {
        if (_tile is null)
            return base.Softmaxes();
        var (input, wp, aux) = ForwardState;
        if (input is null || wp is null || aux is null)
            return null;
        if (!_softmaxesCurrent)
        {
            var d = Dims;
            var oxy = Scratch(ref _oxy, Shape.Of(2, d.N, d.Q, d.H, d.W));
            if (d.Size > 0)
            {
                Device.Work(null, 4L * (2L * d.Size + (long)d.N * d.C * d.Plane + 2L * d.N * d.Q * (d.H + d.W) + 2L * d.WeightSize));
                Planes.SoftmaxesPlanes(d.Size, oxy.View, aux.View, input.View, wp.View, d, Geometry.Bias ? 1 : 0, Aux, new HeadPlanes(d));
            }
            _softmaxesCurrent = true;
        }
        return _oxy;
    }

    protected override void ForwardSoftmaxes(DeviceTensor? oxy, DeviceTensor aux, DeviceTensor partial, DeviceTensor input, DeviceTensor wp, int hasBias)
    {
        if (_tile is { } t)
        {
            var d = Dims;
            var planes = new HeadPlanes(d);
            // Reads X and the weights; writes the rows' and columns' normalisers, the columns' sums and the partial sums.
            Device.Work(ForwardFlops(d), 4L * (InputFloats(d) + 2L * d.WeightSize * (hasBias + 1) + 2L * d.N * d.Q * (d.H + 2 * d.W) + partial.Length));
            Planes.SoftmaxPlanes(PlaneConfig(t, planes), aux.View, partial.View, input.View, wp.View, d, hasBias, Aux, planes);
        }
        else
        {
            // The per-row kernels store Ox and Oy and each column's Σ R, Σ R²; the columns' and images' moments replace
            // the sums.
            base.ForwardSoftmaxes(oxy, aux, partial, input, wp, hasBias);
            var d = Dims;
            Device.Work(null, 4L * (2L * d.Size + 2L * d.N * d.Q * d.W));
            Planes.LineMoments(d.N * d.Q * d.W, aux.View, oxy!.View, d, Aux, 1);
            Device.Work(null, 4L * (2L * d.N * d.Q * d.W + partial.Length));
            Planes.PlaneMoments(d.N * d.Q, partial.View, aux.View, d, Aux);
        }
    }

    protected override void ForwardStatistics(DeviceTensor aux, DeviceTensor partial, HeadNorm norm, HeadNormConfig cfg)
    {
        Device.Work(null, 4L * (partial.Length + 6 * Dims.Q));
        Device.Kernels<GpuReductionKernelSet>().HeadNormForwardMomentsGroup(StatsConfig(Dims.Q), aux.View, norm.RunningMean.View, norm.RunningVar.View,
            partial.View, cfg);
    }

    protected override void ForwardOutput(DeviceTensor z, DeviceTensor aux, DeviceTensor input, DeviceTensor? oxy, DeviceTensor wp, int hasBias)
    {
        if (_tile is { } t)
        {
            var d = Dims;
            var planes = new HeadPlanes(d);
            // Reads X, the weights and the normalisers; writes Z and the rows' sums.
            Device.Work(RecomputeFlops(d, 12), 4L * (InputFloats(d) + 2L * d.WeightSize * (hasBias + 1) + 2L * d.N * d.Q * (d.H + d.W) + d.Size
                + 2L * d.N * d.Q * d.H));
            Planes.HeadOutputPlanes(PlaneConfig(t, planes), z.View, aux.View, input.View, wp.View, d, hasBias, Aux, planes);
        }
        else
        {
            // The per-row kernel sums each row's R and R²; the rows' moments replace them for the backward.
            base.ForwardOutput(z, aux, input, oxy, wp, hasBias);
            var d = Dims;
            Device.Work(null, 4L * (2L * d.Size + 2L * d.N * d.Q * d.H));
            Planes.LineMoments(d.N * d.Q * d.H, aux.View, oxy!.View, d, Aux, 0);
        }
    }

    protected override void BackwardSums(DeviceTensor aux, DeviceTensor partial, DeviceTensor gradOutput, DeviceTensor input, DeviceTensor? oxy,
        DeviceTensor wp, int hasBias)
    {
        if (_tile is { } t)
        {
            var d = Dims;
            var planes = new HeadPlanes(d);
            // Reads gZ, X, the weights and the normalisers; writes the rows' and columns' A and the partial sums.
            Device.Work(RecomputeFlops(d, 10), 4L * (d.Size + InputFloats(d) + 2L * d.WeightSize * (hasBias + 1) + 3L * d.N * d.Q * (d.H + d.W)
                + partial.Length));
            Planes.BackwardSumsPlanes(PlaneConfig(t, planes), aux.View, partial.View, gradOutput.View, input.View, wp.View, d, hasBias, Aux, planes);
        }
        else
        {
            base.BackwardSums(aux, partial, gradOutput, input, oxy, wp, hasBias);
        }
    }

    protected override void BackwardStatistics(DeviceTensor aux, DeviceTensor partial, HeadNormConfig cfg)
    {
        Device.Work(null, 4L * (partial.Length + 2 * Dims.Q));
        Device.Kernels<GpuReductionKernelSet>().HeadNormBackwardStatsGroup(StatsConfig(Dims.Q), aux.View, partial.View, cfg);
    }

    /// <summary>From the rows' and columns' moments, which both paths make.</summary>
    protected override void Coefficients(DeviceTensor aux)
    {
        var d = Dims;
        Planes.CoefficientsPlanes(d.N * d.Q * (d.H + d.W), aux.View, d, Aux);
    }

    protected override void BackwardInput(DeviceTensor gx, DeviceTensor pw, DeviceTensor gz, DeviceTensor gskip, DeviceTensor input, DeviceTensor? oxy,
        DeviceTensor wp, DeviceTensor aux, HeadBackwardLayout layout)
    {
        if (_tile is { } u)
        {
            var d = Dims;
            // Reads gZ, X, the skip gradient, the weights, the normalisers and the lines' coefficients; writes gX and pW.
            Device.Work(RecomputeFlops(d, 25), 4L * (d.Size + InputFloats(d) * (layout.HasSkip + layout.InputGradient) + InputFloats(d)
                + 2L * d.WeightSize * (layout.HasBias + 1) + 3L * d.N * d.Q * (d.H + d.W) + pw.Length));
            var config = new KernelConfig(new Index2D(layout.Blocks, d.C), new Index2D(u.BackwardThreads, 1));
            Planes.BackwardInputPlanes(config, gx.View, pw.View, gz.View, gskip.View, input.View, wp.View, aux.View, d, Aux, layout, new HeadPlanes(d));
        }
        else
        {
            base.BackwardInput(gx, pw, gz, gskip, input, oxy, wp, aux, layout);
        }
    }

    /// <summary>FP32 operations a recomputed Ox and Oy cost per element: two products, two differences, two products by
    /// the normalisers and two exponentials, each counted as 8 (the special-function units run an eighth of the FP32
    /// rate on sm_75 to sm_90).</summary>
    private const int RecomputeOps = 6 + 2 * 8;

    /// <summary>The FLOPs of a plane kernel that recomputes Ox and Oy at every element and does <paramref name="other"/>
    /// further operations there.</summary>
    private static double RecomputeFlops(HeadDims d, int other) => (double)d.Size * (RecomputeOps + other);

    /// <summary>SoftmaxPlanes' FLOPs per element: the logits, maxima, exponentials (twice: the sum, then the value),
    /// normalisation, R and its two column sums.</summary>
    private static double ForwardFlops(HeadDims d) => (double)d.Size * (2 + 2 + 4 * 8 + 2 + 2 + 2 + 4);

    private static long InputFloats(HeadDims d) => (long)d.N * d.C * d.Plane;

    protected override void WeightGradients(HeadsTensors g, DeviceTensor pw, int blocks)
    {
        var d = Dims;
        var (lanes, rows) = GpuHeadGroups.WeightGradients(Device, _variant.WeightGradRows);
        var config = new KernelConfig(new Index2D((d.WeightSize + lanes - 1) / lanes, 1), new Index2D(lanes, rows));
        Planes.WeightGradientsGroup(config, g.Wx.View, g.Wy.View, (g.Bx ?? g.Wx).View, (g.By ?? g.Wy).View, pw.View, d.WeightSize, blocks,
            Geometry.Bias ? 1 : 0);
    }

    /// <summary>A reduction group per head-batchnorm channel.</summary>
    private KernelConfig StatsConfig(int channels) => new(channels, GpuHeadGroups.Statistics(Device, _variant.StatsGroupSize));

    private static KernelConfig PlaneConfig(HeadPlaneTile t, HeadPlanes p) =>
        new(new Index2D((p.Planes + t.Planes - 1) / t.Planes, 1), new Index2D(t.Lanes, t.Planes));
}
