using AttentionWise.Kernels;
using AttentionWise.Ops;
using ILGPU;

namespace AttentionWise.Backends;

/// <summary>The reductions of GPU-shaped devices: group tree reductions (Kernels/GroupReductionKernels.cs) with groups
/// of <see cref="GroupSize"/> threads: a group per block (or per channel and slice), then a group over the partials.</summary>
internal sealed class GpuReductions : IReductions
{
    private readonly ComputeDevice _device;

    /// <param name="groupSize">Threads per group: a power of two within the device's limit; null for the default,
    /// <see cref="GpuReductionKernelSet.GroupSize(ComputeDevice)"/>.</param>
    public GpuReductions(ComputeDevice device, int? groupSize = null)
    {
        _device = device;
        GroupSize = groupSize is int g ? GpuReductionKernelSet.CheckGroupSize(device, g) : GpuReductionKernelSet.GroupSize(device);
    }

    /// <summary>Threads of every reduction group.</summary>
    public int GroupSize { get; }

    private GpuReductionKernelSet K => _device.Kernels<GpuReductionKernelSet>();

    public void SumTo(DeviceTensor t, DeviceTensor result, int index, float scale, DeviceTensor partials)
    {
        int blocks = partials.Length;
        if (t.Length == 0)
            partials.Zero();
        else
            K.SumBlocksGroup(new KernelConfig(blocks, GroupSize), partials.View, t.View, ReductionKernels.SumBlockLength, t.Length);
        K.SumPartialsGroup(new KernelConfig(1, GroupSize), result.View.SubView(index, 1), partials.View, blocks, scale);
    }

    public void ChannelSums(DeviceTensor a, DeviceTensor b, DeviceTensor shift, DeviceTensor sumA, DeviceTensor sumDot, ChannelGeometry geo, bool withDot,
        bool accumulate, DeviceTensor partials)
    {
        K.ChannelSumsGroup(Slices(geo), partials.View, a.View, b.View, shift.View, geo, new FastDivisor(Math.Max(1, geo.Spatial)), withDot ? 1 : 0);
        K.ChannelSumsCombineGroup(Channels(geo), sumA.View, sumDot.View, partials.View, geo, withDot ? 1 : 0, accumulate ? 1 : 0);
    }

    public void MeanVariance(DeviceTensor x, DeviceTensor mean, DeviceTensor variance, ChannelGeometry geo, DeviceTensor partials)
    {
        K.ChannelMomentsGroup(Slices(geo), partials.View, x.View, geo, new FastDivisor(Math.Max(1, geo.Spatial)));
        K.ChannelMomentsCombineGroup(Channels(geo), mean.View, variance.View, partials.View, geo);
    }

    /// <summary>A group per (channel, slice).</summary>
    private KernelConfig Slices(ChannelGeometry geo) => new(new Index2D(geo.Channels, geo.Slices), new Index2D(GroupSize, 1));

    /// <summary>A group per channel.</summary>
    private KernelConfig Channels(ChannelGeometry geo) => new(geo.Channels, GroupSize);
}
