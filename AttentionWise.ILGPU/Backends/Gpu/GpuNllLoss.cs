using AttentionWise.Kernels;

namespace AttentionWise.Backends;

/// <summary>The GPU family's loss: the shared per-item kernels, and the result summed by one group of the device's
/// reduction size, strided then in a tree (GroupReductionKernels.LossResultGroup).</summary>
internal sealed class GpuNllLoss(ComputeDevice device) : NllLoss<DeviceView>(device)
{
    public override void Result(DeviceTensor result, DeviceTensor perItem) =>
        Device.Kernels<GpuReductionKernelSet>().LossResultGroup(
            new ILGPU.KernelConfig(1, GpuReductionKernelSet.GroupSize(Device)), result.View, perItem.View, perItem.Shape[1]);
}
