// DIA shared attention (SPEC §3): global average pooling, the DIA LSTM cell from its gate pre-activations (the two
// small Linear → ReLU → Linear branches run through the dense op), and the channel scaling + ReLU, forward beside backward.
//
//   F       [N, C, H, W]     a conv's output; P = H·W
//   s       [N, C]           global average pool of F
//   h, c    [N, C]           LSTM state (h is the channel mask in (0, 1))
//   gates   [N, 4C]          W2ih·a_ih + b2ih + W2hh·a_hh + b2hh, from the branches' dense layers (the dense op)
//   act     [N, 4C]          gate activations i, f, g, o (σ, σ, tanh, σ), chunk order i, f, g, o
//   out     [N, C, H, W]     ReLU(F ⊙ h) (h broadcast over H, W)
//   gGates  [N, 4C]          gradient of the gate pre-activations
using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Runtime;

namespace AttentionWise.Kernels;

internal static class DiaKernels
{
    /// <summary>One thread per (n, c): s = mean of the plane.</summary>
    public static void GlobalAveragePool<TView>(Index1D nc, ArrayView<float> sView, ArrayView<float> fView, int plane)
        where TView : struct, IKernelView<TView>
    {
        var s = TView.Of(sView);
        var f = TView.Of(fView);
        int o = nc * plane;
        float a0 = 0f, a1 = 0f, a2 = 0f, a3 = 0f;
        int p = 0;
        for (; p + 3 < plane; p += 4)
        {
            a0 += f[o + p];
            a1 += f[o + p + 1];
            a2 += f[o + p + 2];
            a3 += f[o + p + 3];
        }
        for (; p < plane; p++)
            a0 += f[o + p];
        s[nc] = ((a0 + a1) + (a2 + a3)) / plane;
    }

    /// <summary>
    /// One thread per (n, c), after the dense op computed the gate pre-activations of both branches: act[n, ·] holds them on entry and their activations i, f, g, o on exit; c' = f⊙c + i⊙g, h' = o⊙σ(c').
    /// </summary>
    public static void CellFromGates<TView>(Index1D t, ArrayView<float> actView, ArrayView<float> cNextView, ArrayView<float> hNextView,
        ArrayView<float> cPrevView, int channels)
        where TView : struct, IKernelView<TView>
    {
        var act = TView.Of(actView);
        var cNext = TView.Of(cNextView);
        var hNext = TView.Of(hNextView);
        var cPrev = TView.Of(cPrevView);
        int c = t % channels;
        int n = t / channels;
        int b = n * 4 * channels + c;
        float i = Sigmoid(act[b]);
        float f = Sigmoid(act[b + channels]);
        float g = XMath.Tanh(act[b + 2 * channels]);
        float o = Sigmoid(act[b + 3 * channels]);
        float cn = f * cPrev[t] + i * g;
        act[b] = i;
        act[b + channels] = f;
        act[b + 2 * channels] = g;
        act[b + 3 * channels] = o;
        cNext[t] = cn;
        hNext[t] = o * Sigmoid(cn);
    }

    /// <summary>One thread per (n, c): out = ReLU(F ⊙ h[n, c]) over the plane; NaN stays NaN so that a diverging run
    /// is seen. Not XMath.Max(v, 0): ILGPU 1.5.3 compiles that to OpenCL's fmax (PTX max), which returns 0 for a NaN
    /// v, while the CPU accelerator runs Math.Max, which returns NaN (docs/ilgpu-bugs.md).</summary>
    public static void ScaleRelu<TView>(Index1D nc, ArrayView<float> outputView, ArrayView<float> fView, ArrayView<float> hView, int plane)
        where TView : struct, IKernelView<TView>
    {
        var output = TView.Of(outputView);
        var f = TView.Of(fView);
        var h = TView.Of(hView);
        int o = nc * plane;
        float hv = h[nc];
        for (int p = 0; p < plane; p++)
        {
            output[o + p] = ReluOp.Of(f[o + p] * hv);
        }
    }

    /// <summary>Backward of out = ReLU(F⊙h), one thread per (n, c): gh[n, c] = Σ_p [out &gt; 0]·gOut·F, computed as
    /// Σ_p gOut·max(F, 0) (h is a sigmoid product, so out &gt; 0 exactly when F &gt; 0): no data-dependent branch.
    /// XMath.Max drops a NaN F on OpenCL and CUDA (see ScaleRelu); that F has already made the forward output NaN.</summary>
    public static void ScaleReluBackwardMask<TView>(Index1D nc, ArrayView<float> ghView, ArrayView<float> gOutView, ArrayView<float> outputView, ArrayView<float> fView, int plane)
        where TView : struct, IKernelView<TView>
    {
        var gh = TView.Of(ghView);
        var gOut = TView.Of(gOutView);
        var output = TView.Of(outputView);
        var f = TView.Of(fView);
        int o = nc * plane;
        float s0 = 0f, s1 = 0f;
        int p = 0;
        for (; p + 1 < plane; p += 2)
        {
            s0 += gOut[o + p] * XMath.Max(f[o + p], 0f);
            s1 += gOut[o + p + 1] * XMath.Max(f[o + p + 1], 0f);
        }
        if (p < plane)
            s0 += gOut[o + p] * XMath.Max(f[o + p], 0f);
        gh[nc] = s0 + s1;
    }

    /// <summary>Backward of out = ReLU(F⊙h) and s = mean(F), one thread per (n, c):
    /// gF = [out &gt; 0]·gOut·h + gs/P.</summary>
    public static void ScaleReluBackwardInput<TView>(Index1D nc, ArrayView<float> gfView, ArrayView<float> gOutView, ArrayView<float> outputView, ArrayView<float> hView,
        ArrayView<float> gsView, int plane)
        where TView : struct, IKernelView<TView>
    {
        var gf = TView.Of(gfView);
        var gOut = TView.Of(gOutView);
        var output = TView.Of(outputView);
        var h = TView.Of(hView);
        var gs = TView.Of(gsView);
        int o = nc * plane;
        float hv = h[nc];
        float pooled = gs[nc] / plane;
        for (int p = 0; p < plane; p++)
            gf[o + p] = gOut[o + p] * hv * ReluMask(output[o + p]) + pooled;
    }

    /// <summary>
    /// Backward of the cell, one thread per (n, c): from gh (= ghOut + ghCarry when hasCarry) and the carried
    /// gc, the gate pre-activation gradients (into gGates) and the gradient of the previous c (into gcPrev).
    /// </summary>
    public static void CellBackward<TView>(Index1D t, ArrayView<float> gGatesView, ArrayView<float> gcPrevView, ArrayView<float> ghOutView, ArrayView<float> ghCarryView,
        ArrayView<float> gcCarryView, ArrayView<float> actView, ArrayView<float> cNextView, ArrayView<float> cPrevView, int channels, int hasCarry)
        where TView : struct, IKernelView<TView>
    {
        var gGates = TView.Of(gGatesView);
        var gcPrev = TView.Of(gcPrevView);
        var ghOut = TView.Of(ghOutView);
        var ghCarry = TView.Of(ghCarryView);
        var gcCarry = TView.Of(gcCarryView);
        var act = TView.Of(actView);
        var cNext = TView.Of(cNextView);
        var cPrev = TView.Of(cPrevView);
        int c = t % channels;
        int n = t / channels;
        int b = n * 4 * channels + c;
        float i = act[b];
        float f = act[b + channels];
        float g = act[b + 2 * channels];
        float o = act[b + 3 * channels];
        float gh = ghOut[t];
        float gc = 0f;
        if (hasCarry != 0)
        {
            gh += ghCarry[t];
            gc = gcCarry[t];
        }
        float sc = Sigmoid(cNext[t]);
        gc += gh * o * sc * (1f - sc);
        float go = gh * sc;
        gGates[b] = gc * g * i * (1f - i);
        gGates[b + channels] = gc * cPrev[t] * f * (1f - f);
        gGates[b + 2 * channels] = gc * i * (1f - g * g);
        gGates[b + 3 * channels] = go * o * (1f - o);
        gcPrev[t] = gc * f;
    }

    private static float Sigmoid(float v) => 1f / (1f + XMath.Exp(-v));

    /// <summary>1 where a ReLU output is positive, 0 where it is 0, without a data-dependent branch (random signs
    /// make branches mispredict half the time): min(max(out·2^126, 0), 1), exact for every normal float output. A NaN
    /// output gives NaN on the CPU accelerator and 0 on OpenCL and CUDA (XMath.Max/Min, see ScaleRelu).</summary>
    public static float ReluMask(float output) => XMath.Min(XMath.Max(output * 8.507059e37f, 0f), 1f);
}

/// <summary>The DIA unit's own kernels (its dense layers run through the dense op), closed with a family's kernel
/// view.</summary>
internal sealed class DiaKernelSet<TView> : IKernelSet<DiaKernelSet<TView>>
    where TView : struct, IKernelView<TView>
{
    private DiaKernelSet(KernelLoader a)
    {
        GlobalAveragePool = a.Load<Index1D, ArrayView<float>, ArrayView<float>, int>(DiaKernels.GlobalAveragePool<TView>);
        CellFromGates = a.Load<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int>(DiaKernels.CellFromGates<TView>);
        ScaleRelu = a.Load<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, int>(DiaKernels.ScaleRelu<TView>);
        ScaleReluBackwardMask = a.Load<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int>(
            DiaKernels.ScaleReluBackwardMask<TView>);
        ScaleReluBackwardInput = a.Load<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>,
            ArrayView<float>, int>(DiaKernels.ScaleReluBackwardInput<TView>);
        CellBackward = a.Load<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>,
            ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int>(DiaKernels.CellBackward<TView>);
    }

    public Action<Index1D, ArrayView<float>, ArrayView<float>, int> GlobalAveragePool { get; }
    public Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int> CellFromGates { get; }
    public Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, int> ScaleRelu { get; }
    public Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int> ScaleReluBackwardMask { get; }
    public Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int> ScaleReluBackwardInput { get; }
    public Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>,
        ArrayView<float>, int, int> CellBackward { get; }

    public static DiaKernelSet<TView> Load(KernelLoader loader) => new(loader);
}
