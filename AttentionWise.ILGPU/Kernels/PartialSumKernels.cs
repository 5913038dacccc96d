// Split reductions' partial sums folded into their target in a fixed order (the weight gradients of the
// convolutions and of the dense layer).
using ILGPU;
using ILGPU.Runtime;

namespace AttentionWise.Kernels;

/// <summary>The fixed-order serial combine of per-slice partial sums of the host family (GPU-shaped devices run the group
/// combine of <see cref="GpuPartialSumKernels"/>).</summary>
internal static class PartialSumKernels
{
    /// <summary>Thread t: gw[e] += Σ_s partials[s, e] (in order s = 0, 1, …) for the elements e of its run.</summary>
    public static void WeightGradCombine<TView>(Index1D thread, ArrayView<float> gwView, ArrayView<float> partialsView, int slices, LaunchLayout layout)
        where TView : struct, IKernelView<TView>
    {
        var gw = TView.Of(gwView);
        var partials = TView.Of(partialsView);
        for (int k = 0; k < layout.PerThread; k++)
        {
            int e = layout.Element(thread, k);
            if (e >= layout.Length)
                break;
            float s = 0f;
            int p = e;
            for (int i = 0; i < slices; i++)
            {
                s += partials[p];
                p += layout.Length;
            }
            gw[e] += s;
        }
    }
}
