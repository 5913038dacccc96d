using AttentionWise.Kernels;
using AttentionWise.Ops;
using ILGPU;

namespace AttentionWise.Backends;

/// <summary>The cpu device's reductions: every thread of the host launcher reduces a whole block or a whole channel slice
/// (Kernels/ReductionKernels.cs), then one thread per result combines them in order.</summary>
internal sealed class HostReductions(ComputeDevice device) : IReductions
{
    private HostReductionKernelSet K => device.Kernels<HostReductionKernelSet>();

    public void SumTo(DeviceTensor t, DeviceTensor result, int index, float scale, DeviceTensor partials)
    {
        int blocks = partials.Length;
        if (t.Length == 0)
            partials.Zero();
        else
            K.SumBlocks(blocks, partials.View, t.View, ReductionKernels.SumBlockLength, t.Length);
        K.SumPartials(new Index1D(1), result.View.SubView(index, 1), partials.View, blocks, scale);
    }

    public void ChannelSums(DeviceTensor a, DeviceTensor b, DeviceTensor shift, DeviceTensor sumA, DeviceTensor sumDot, ChannelGeometry geo, bool withDot,
        bool accumulate, DeviceTensor partials)
    {
        K.ChannelSumsPartial(new Index2D(geo.Channels, geo.Slices), partials.View, a.View, b.View, shift.View, geo, withDot ? 1 : 0);
        K.ChannelSumsCombine(geo.Channels, sumA.View, sumDot.View, partials.View, geo, withDot ? 1 : 0, accumulate ? 1 : 0);
    }

    public void MeanVariance(DeviceTensor x, DeviceTensor mean, DeviceTensor variance, ChannelGeometry geo, DeviceTensor partials)
    {
        K.ChannelMomentsPartial(new Index2D(geo.Channels, geo.Slices), partials.View, x.View, geo);
        K.ChannelMomentsCombine(geo.Channels, mean.View, variance.View, partials.View, geo);
    }
}
