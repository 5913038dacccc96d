// The softmax arithmetic every implementation of the element-wise attention heads shares: the per-row kernels, the GPU
// plane kernels and the cpu device's vectorised passes decide when to shift the exponentials the same way.
using ILGPU.Algorithms;

namespace AttentionWise.Kernels;

/// <summary>When the heads' softmaxes are shifted, and the row kernels' exp.</summary>
internal static class AttentionKernels
{
    /// <summary>Logits whose row (column) maximum is within ±this are exponentiated unshifted (no overflow,
    /// no underflow of a whole row); otherwise the maximum is subtracted first.</summary>
    public const float UnshiftedExpLimit = 60f;

    /// <summary>
    /// exp(v) without a call where that is exact to float precision: 1 for v = 0 (zero pixels and post-ReLU zeros
    /// make zero logits common), a degree-5 Taylor polynomial for |v| &lt; 1/8 (remainder below 1e-8 relative; the
    /// logits of this model are mostly that small, its weights being of order 0.02–0.05), XMath.Exp otherwise.
    /// A call is the costly part of the row kernel on CPUs.
    /// </summary>
    public static float ExpOrOne(float v)
    {
        if (v == 0f)
            return 1f;
        if (v > -0.125f && v < 0.125f)
            return 1f + v * (1f + v * (0.5f + v * (1f / 6f + v * (1f / 24f + v * (1f / 120f)))));
        return XMath.Exp(v);
    }

    /// <summary>The shift for exp: 0 when the maximum logit m is within ±UnshiftedExpLimit (the usual case:
    /// nothing overflows, and no whole row underflows), else m (the textbook max-subtracted softmax).</summary>
    public static float SoftmaxShift(float m) => m > UnshiftedExpLimit || m < -UnshiftedExpLimit ? m : 0f;
}
