// Adam update (PyTorch's torch.optim.Adam without weight decay or amsgrad), one flat parameter buffer
// per launch, element-wise through a LaunchLayout; on GPU-shaped devices up to four parameter tensors a launch
// (AdamBatchKernels: the same formula, a thread per element).
//
//   p, m, v, g: [n]     parameter, first moment, second moment, gradient
//   m = β1·m + (1 − β1)·g;  v = β2·v + (1 − β2)·g²
//   p = p − stepSize · m / (sqrt(v) / sqrtBc2 + eps)     stepSize = lr / (1 − β1^t), sqrtBc2 = sqrt(1 − β2^t)
// (the bias corrections are computed on the host in double and passed as floats).
using AttentionWise.Backends;
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

/// <summary>One parameter tensor of an <see cref="AdamBatch"/>: its value, moments and gradient, its step size, and
/// where its elements end in the batch's flat index. Passed by value inside the batch.</summary>
internal readonly struct AdamSlot
{
    public AdamSlot(ArrayView<float> p, ArrayView<float> m, ArrayView<float> v, ArrayView<float> g, float stepSize, int end)
    {
        P = p;
        M = m;
        V = v;
        G = g;
        StepSize = stepSize;
        End = end;
    }

    public readonly ArrayView<float> P;
    public readonly ArrayView<float> M;
    public readonly ArrayView<float> V;
    public readonly ArrayView<float> G;

    /// <summary>lr / (1 − β1^t) of the tensor's group.</summary>
    public readonly float StepSize;

    /// <summary>The batch's flat index one past the tensor's last element (its elements start at the previous slot's End).</summary>
    public readonly int End;
}

/// <summary>Up to four parameter tensors updated by one launch (GPU-shaped devices: a launch per tensor would cost a fixed
/// few microseconds each, most of an optimizer step for small tensors). Unused slots have End equal to the last used one.</summary>
internal readonly struct AdamBatch
{
    public AdamBatch(AdamSlot s0, AdamSlot s1, AdamSlot s2, AdamSlot s3)
    {
        S0 = s0;
        S1 = s1;
        S2 = s2;
        S3 = s3;
    }

    public readonly AdamSlot S0;
    public readonly AdamSlot S1;
    public readonly AdamSlot S2;
    public readonly AdamSlot S3;

    /// <summary>Slots per batch.</summary>
    public const int Slots = 4;
}

/// <summary>The batched Adam update of GPU-shaped devices: the elements of all the batch's tensors, one flat index, through
/// the device's launch layout.</summary>
internal static class AdamBatchKernels
{
    public static void StepBatch(Index1D thread, AdamBatch b, AdamScalars s, LaunchLayout layout)
    {
        for (int k = 0; k < layout.PerThread; k++)
        {
            int e = layout.Element(thread, k);
            if (e >= layout.Length)
                break;
            StepElement(b, s, e);
        }
    }

    private static void StepElement(AdamBatch b, AdamScalars s, int e)
    {
        if (e < b.S0.End)
            Update(b.S0, e, s);
        else if (e < b.S1.End)
            Update(b.S1, e - b.S0.End, s);
        else if (e < b.S2.End)
            Update(b.S2, e - b.S1.End, s);
        else if (e < b.S3.End)
            Update(b.S3, e - b.S2.End, s);
    }

    /// <summary>Zeroes every element of the batch's tensors, through the device's launch layout.</summary>
    public static void ZeroBatch(Index1D thread, ZeroBatch b, LaunchLayout layout)
    {
        for (int k = 0; k < layout.PerThread; k++)
        {
            int e = layout.Element(thread, k);
            if (e >= layout.Length)
                break;
            ZeroElement(b, e);
        }
    }

    private static void ZeroElement(ZeroBatch b, int e)
    {
        if (e < b.End0)
            b.T0[e] = 0f;
        else if (e < b.End1)
            b.T1[e - b.End0] = 0f;
        else if (e < b.End2)
            b.T2[e - b.End1] = 0f;
        else if (e < b.End3)
            b.T3[e - b.End2] = 0f;
    }

    /// <summary>The formula of <see cref="AdamKernels.Step{TView}"/> at element <paramref name="i"/> of a slot.</summary>
    private static void Update(AdamSlot t, int i, AdamScalars s)
    {
        float b1 = s.Beta1, b2 = s.Beta2;
        float c1 = 1f - b1, c2 = 1f - b2;
        float grad = t.G[i];
        float mt = b1 * t.M[i] + c1 * grad;
        float vt = b2 * t.V[i] + c2 * (grad * grad);
        t.M[i] = mt;
        t.V[i] = vt;
        t.P[i] = t.P[i] - t.StepSize * (mt / (XMath.Sqrt(vt) / s.SqrtBiasCorrection2 + s.Eps));
    }
}

/// <summary>Up to four tensors zeroed by one launch (the gradients before a step): each view and where its elements end
/// in the batch's flat index. Unused slots have End equal to the last used one.</summary>
internal readonly struct ZeroBatch
{
    public ZeroBatch(ArrayView<float> t0, int end0, ArrayView<float> t1, int end1, ArrayView<float> t2, int end2, ArrayView<float> t3, int end3)
    {
        T0 = t0;
        T1 = t1;
        T2 = t2;
        T3 = t3;
        End0 = end0;
        End1 = end1;
        End2 = end2;
        End3 = end3;
    }

    public readonly ArrayView<float> T0;
    public readonly ArrayView<float> T1;
    public readonly ArrayView<float> T2;
    public readonly ArrayView<float> T3;
    public readonly int End0;
    public readonly int End1;
    public readonly int End2;
    public readonly int End3;
}

/// <summary>The batched Adam kernel (<see cref="AdamBatchKernels"/>) of GPU-shaped devices.</summary>
[KernelFamily(BackendFamily.Gpu)]
internal sealed class AdamBatchKernelSet : IKernelSet<AdamBatchKernelSet>
{
    private AdamBatchKernelSet(KernelLoader loader)
    {
        StepBatch = loader.Load<Index1D, AdamBatch, AdamScalars, LaunchLayout>(AdamBatchKernels.StepBatch);
        ZeroBatch = loader.Load<Index1D, ZeroBatch, LaunchLayout>(AdamBatchKernels.ZeroBatch);
    }

    public Action<Index1D, AdamBatch, AdamScalars, LaunchLayout> StepBatch { get; }
    public Action<Index1D, ZeroBatch, LaunchLayout> ZeroBatch { get; }

    public static AdamBatchKernelSet Load(KernelLoader loader) => new(loader);
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
