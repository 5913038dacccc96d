// Adam update (PyTorch's torch.optim.Adam without weight decay or amsgrad), one flat parameter buffer
// per launch, element-wise through a LaunchLayout.
//
//   p, m, v, g: [n]     parameter, first moment, second moment, gradient
//   m = β1·m + (1 − β1)·g;  v = β2·v + (1 − β2)·g²
//   p = p − stepSize · m / (sqrt(v) / sqrtBc2 + eps)     stepSize = lr / (1 − β1^t), sqrtBc2 = sqrt(1 − β2^t)
// (the bias corrections are computed on the host in double and passed as floats).
using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Runtime;

namespace AttentionWise.Kernels;

/// <summary>The scalars of one Adam step. Passed by value.</summary>
internal readonly struct AdamScalars
{
    public AdamScalars(float beta1, float beta2, float eps, float stepSize, float sqrtBiasCorrection2)
    {
        Beta1 = beta1;
        Beta2 = beta2;
        Eps = eps;
        StepSize = stepSize;
        SqrtBiasCorrection2 = sqrtBiasCorrection2;
    }

    public readonly float Beta1;
    public readonly float Beta2;
    public readonly float Eps;

    /// <summary>lr / (1 − β1^t).</summary>
    public readonly float StepSize;

    /// <summary>sqrt(1 − β2^t).</summary>
    public readonly float SqrtBiasCorrection2;
}

internal static class AdamKernels
{
    public static void Step<TView>(Index1D thread, ArrayView<float> pView, ArrayView<float> mView, ArrayView<float> vView, ArrayView<float> gView,
        AdamScalars s, LaunchLayout layout)
        where TView : struct, IKernelView<TView>
    {
        var p = TView.Of(pView);
        var m = TView.Of(mView);
        var v = TView.Of(vView);
        var g = TView.Of(gView);
        float b1 = s.Beta1, b2 = s.Beta2;
        float c1 = 1f - b1, c2 = 1f - b2;
        for (int k = 0; k < layout.PerThread; k++)
        {
            int e = layout.Element(thread, k);
            if (e >= layout.Length)
                break;
            float grad = g[e];
            float mt = b1 * m[e] + c1 * grad;
            float vt = b2 * v[e] + c2 * (grad * grad);
            m[e] = mt;
            v[e] = vt;
            p[e] = p[e] - s.StepSize * (mt / (XMath.Sqrt(vt) / s.SqrtBiasCorrection2 + s.Eps));
        }
    }
}

/// <summary>The Adam kernel for one kernel view (<see cref="HostView"/> on the host backend, <see cref="DeviceView"/> on the
/// GPU backend), loaded once per device.</summary>
internal sealed class AdamKernelSet<TView> : IKernelSet<AdamKernelSet<TView>>
    where TView : struct, IKernelView<TView>
{
    private AdamKernelSet(KernelLoader loader)
    {
        Step = loader.Load<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, AdamScalars, LaunchLayout>(
            AdamKernels.Step<TView>);
    }

    public Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, AdamScalars, LaunchLayout> Step { get; }

    public static AdamKernelSet<TView> Load(KernelLoader loader) => new(loader);
}
