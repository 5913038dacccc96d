using AttentionWise.Kernels;
using AttentionWise.Ops;

namespace AttentionWise.Backends;

/// <summary>The loss as one thread per item (forward, backward) and one thread for the result's fixed-order sums; the same
/// code for both families, closed with each family's kernel view (the GPU family sums the result with a group instead:
/// <see cref="GpuNllLoss"/>).</summary>
internal class NllLoss<TView>(ComputeDevice device) : INllLoss
    where TView : struct, IKernelView<TView>
{
    protected ComputeDevice Device { get; } = device;

    public void Forward(DeviceTensor logp, DeviceTensor perItem, DeviceTensor logits, DeviceIntTensor labels)
    {
        int n = logits.Shape[0], classes = logits.Shape[1];
        Device.Kernels<LossKernelSet<TView>>().Forward(n, logp.View, perItem.View, logits.View, labels.View, n, classes);
    }

    public virtual void Result(DeviceTensor result, DeviceTensor perItem) =>
        Device.Kernels<LossKernelSet<TView>>().Result(1, result.View, perItem.View, perItem.Shape[1]);

    public void Backward(DeviceTensor g, DeviceTensor logp, DeviceIntTensor labels, float scale)
    {
        int n = logp.Shape[0], classes = logp.Shape[1];
        Device.Kernels<LossKernelSet<TView>>().Backward(n, g.View, logp.View, labels.View, classes, scale);
    }
}
