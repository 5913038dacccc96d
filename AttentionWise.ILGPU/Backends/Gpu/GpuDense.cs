using AttentionWise.Kernels;
using AttentionWise.Ops;
using ILGPU;

namespace AttentionWise.Backends;

/// <summary>The dense op of GPU-shaped devices: the kernels of <see cref="KernelDense{TView}"/>, with a long input row
/// (forward) or a large batch (weight gradient) cut into slices that run in parallel and are then added in slice order
/// (<see cref="LinearForwardSlices"/>, <see cref="LinearWeightSlices"/>: chosen from the device's resident threads).</summary>
internal sealed class GpuDense(ComputeDevice device) : KernelDense<DeviceView>(device)
{
    protected override void Product(DeviceTensor x, DeviceTensor weight, DeviceTensor? bias, DeviceTensor y, int n, int inFeatures, int outFeatures,
        DenseWorkspace workspace)
    {
        var (slices, perSlice) = LinearForwardSlices.Choose(n, inFeatures, outFeatures, Device.MaxThreads);
        if (slices <= 1)
        {
            base.Product(x, weight, bias, y, n, inFeatures, outFeatures, workspace);
            return;
        }
        var k = Device.Kernels<GpuLinearKernelSet>();
        var partials = workspace.Partials(Shape.Of(slices, n, outFeatures));
        k.ForwardSlices(new Index3D((outFeatures + 3) / 4, n, slices), partials.View, x.View, weight.View, inFeatures, outFeatures, n, perSlice);
        k.ForwardCombine(y.Length, y.View, partials.View, (bias ?? weight).View, slices, outFeatures, bias is null ? 0 : 1);
    }

    protected override void WeightProduct(DeviceTensor x, DeviceTensor gy, DeviceTensor gradWeight, int n, int inFeatures, int outFeatures,
        DenseWorkspace workspace)
    {
        var (slices, perSlice) = LinearWeightSlices.Choose(n, inFeatures, outFeatures, Device.MaxThreads);
        if (slices <= 1)
        {
            base.WeightProduct(x, gy, gradWeight, n, inFeatures, outFeatures, workspace);
            return;
        }
        int size = inFeatures * outFeatures;
        var partials = workspace.Partials(Shape.Of(slices, size));
        Device.Work(2.0 * n * inFeatures * outFeatures);
        Device.Kernels<GpuLinearKernelSet>().BackwardWeightSlices(new Index3D((inFeatures + 3) / 4, (outFeatures + 1) / 2, slices), partials.View,
            gy.View, x.View, n, inFeatures, outFeatures, perSlice);
        GpuPartialSums.Combine(Device, gradWeight, partials, slices);
    }
}
