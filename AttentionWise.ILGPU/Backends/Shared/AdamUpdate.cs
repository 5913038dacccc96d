using AttentionWise.Kernels;
using AttentionWise.Ops;

namespace AttentionWise.Backends;

/// <summary>Adam's update as one element-wise kernel per parameter tensor over the device's launch layout; the same code
/// for both families, closed with each family's kernel view (the cpu device's; GPU-shaped devices batch the tensors,
/// <see cref="GpuAdamUpdate"/>).</summary>
internal sealed class AdamUpdate<TView>(ComputeDevice device) : IAdamUpdate
    where TView : struct, IKernelView<TView>
{
    public void Step(IReadOnlyList<AdamTensors> tensors, AdamScalars scalars)
    {
        var k = device.Kernels<AdamKernelSet<TView>>();
        foreach (var t in tensors)
        {
            if (t.Value.Length == 0)
                continue;
            var layout = device.Layout(t.Value.Length);
            var s = new AdamScalars(scalars.Beta1, scalars.Beta2, scalars.Eps, t.StepSize, scalars.SqrtBiasCorrection2);
            k.Step(layout.Threads, t.Value.View, t.M.View, t.V.View, t.Gradient.View, s, layout);
        }
    }

    public void ZeroGradients(IReadOnlyList<DeviceTensor> gradients)
    {
        foreach (var g in gradients)
            g.Zero();
    }
}
