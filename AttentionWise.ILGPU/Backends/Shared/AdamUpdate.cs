using AttentionWise.Kernels;
using AttentionWise.Ops;

namespace AttentionWise.Backends;

/// <summary>Adam's update as one element-wise kernel over the device's launch layout; the same code for both families,
/// closed with each family's kernel view.</summary>
internal sealed class AdamUpdate<TView>(ComputeDevice device) : IAdamUpdate
    where TView : struct, IKernelView<TView>
{
    public void Step(DeviceTensor value, DeviceTensor m, DeviceTensor v, DeviceTensor gradient, AdamScalars scalars)
    {
        var layout = device.Layout(value.Length);
        device.Kernels<AdamKernelSet<TView>>().Step(layout.Threads, value.View, m.View, v.View, gradient.View, scalars, layout);
    }
}
