using AttentionWise.Kernels;
using AttentionWise.Ops;
using ILGPU;
using ILGPU.Runtime;

namespace AttentionWise.Backends;

/// <summary>
/// The attention heads on GPU-shaped devices: the plane kernels (whole planes in shared memory, GpuHeadPlaneKernels)
/// where a plane fits, else the per-row kernels; the head batchnorm's statistics as group reductions (one group per
/// channel); the weight gradients as a group reduction over the image blocks. <see cref="HeadsVariant"/> picks a launch
/// other than the chosen one (tests).
/// </summary>
internal sealed class GpuAttentionHeads : KernelAttentionHeads<DeviceView>
{
    /// <summary>Images per block of the backward pass's fixed-order batch reduction on GPUs (more blocks, more threads).</summary>
    public const int GpuBlockImages = 8;

    private readonly HeadsVariant _variant;
    private HeadPlaneTile? _tile;

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

    protected override void ForwardSoftmaxes(DeviceTensor oxy, DeviceTensor aux, DeviceTensor input, DeviceTensor wp, int hasBias)
    {
        var d = Dims;
        _tile = PlaneTile(d);
        if (_tile is { } t)
        {
            var planes = new HeadPlanes(d);
            Planes.SoftmaxPlanes(PlaneConfig(t, planes), oxy.View, aux.View, input.View, wp.View, d, hasBias, Aux, planes);
        }
        else
        {
            base.ForwardSoftmaxes(oxy, aux, input, wp, hasBias);
        }
    }

    protected override void ForwardStatistics(DeviceTensor aux, DeviceTensor partial, HeadNorm norm, HeadNormConfig cfg)
    {
        Device.Work(null, 4L * (partial.Length + 6 * Dims.Q));
        Device.Kernels<GpuReductionKernelSet>().HeadNormForwardStatsGroup(StatsConfig(Dims.Q), aux.View, norm.RunningMean.View, norm.RunningVar.View,
            partial.View, cfg);
    }

    protected override void ForwardOutput(DeviceTensor z, DeviceTensor aux, DeviceTensor input, DeviceTensor oxy)
    {
        if (_tile is { } t)
        {
            var planes = new HeadPlanes(Dims);
            Planes.HeadOutputPlanes(PlaneConfig(t, planes), z.View, aux.View, input.View, oxy.View, Dims, Aux, planes);
        }
        else
        {
            base.ForwardOutput(z, aux, input, oxy);
        }
    }

    protected override void BackwardSums(DeviceTensor aux, DeviceTensor gradOutput, DeviceTensor input, DeviceTensor oxy)
    {
        _tile = PlaneTile(Dims);
        if (_tile is { } t)
        {
            var planes = new HeadPlanes(Dims);
            Planes.BackwardSumsPlanes(PlaneConfig(t, planes), aux.View, gradOutput.View, input.View, oxy.View, Dims, Aux, planes);
        }
        else
        {
            base.BackwardSums(aux, gradOutput, input, oxy);
        }
    }

    protected override void BackwardStatistics(DeviceTensor aux, DeviceTensor partial, HeadNormConfig cfg)
    {
        Device.Work(null, 4L * (partial.Length + 2 * Dims.Q));
        Device.Kernels<GpuReductionKernelSet>().HeadNormBackwardStatsGroup(StatsConfig(Dims.Q), aux.View, partial.View, cfg);
    }

    protected override void BackwardInput(DeviceTensor gx, DeviceTensor pw, DeviceTensor gz, DeviceTensor gskip, DeviceTensor input, DeviceTensor oxy,
        DeviceTensor wp, DeviceTensor aux, HeadBackwardLayout layout)
    {
        if (_tile is { } u)
        {
            var config = new KernelConfig(new Index2D(layout.Blocks, Dims.C), new Index2D(u.BackwardThreads, 1));
            Planes.BackwardInputPlanes(config, gx.View, pw.View, gz.View, gskip.View, input.View, oxy.View, wp.View, aux.View, Dims, Aux, layout,
                new HeadPlanes(Dims));
        }
        else
        {
            base.BackwardInput(gx, pw, gz, gskip, input, oxy, wp, aux, layout);
        }
    }

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
