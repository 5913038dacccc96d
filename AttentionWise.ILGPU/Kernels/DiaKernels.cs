// DIA shared attention (SPEC §3): global average pooling, the DIA LSTM cell with its two small
// Linear → ReLU → Linear branches, and the channel scaling + ReLU, forward beside backward.
//
//   F       [N, C, H, W]     a conv's output; P = H·W
//   s       [N, C]           global average pool of F
//   h, c    [N, C]           LSTM state (h is the channel mask in (0, 1))
//   W1      [R, C], b1 [R]   first Linear of a branch (R = C / r hidden units), PyTorch layout [out, in]
//   a       [N, R]           ReLU(b1 + in·W1ᵀ) of a branch (in = s for "ih", h for "hh")
//   W2      [4C, R], b2 [4C] second Linear of a branch; gates = W2ih·a_ih + b2ih + W2hh·a_hh + b2hh
//   act     [N, 4C]          gate activations i, f, g, o (σ, σ, tanh, σ), chunk order i, f, g, o
//   out     [N, C, H, W]     ReLU(F ⊙ h) (h broadcast over H, W)
//   gGates  [N, 4C]          gradient of the gate pre-activations
//   gz      [N, R]           gradient of a branch's hidden pre-activation
using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Runtime;

namespace AttentionWise.Kernels;

public static class DiaKernels
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

    /// <summary>One thread per (n, j): a[n, j] = ReLU(b[j] + Σ_i in[n, i]·W[j, i]); NaN stays NaN.</summary>
    public static void DenseRelu<TView>(Index1D t, ArrayView<float> aView, ArrayView<float> inputView, ArrayView<float> weightView, ArrayView<float> biasView, int inFeatures, int outFeatures)
        where TView : struct, IKernelView<TView>
    {
        var a = TView.Of(aView);
        var input = TView.Of(inputView);
        var weight = TView.Of(weightView);
        var bias = TView.Of(biasView);
        int j = t % outFeatures;
        int n = t / outFeatures;
        int xi = n * inFeatures;
        int wi = j * inFeatures;
        float s0 = 0f, s1 = 0f;
        int i = 0;
        for (; i + 1 < inFeatures; i += 2)
        {
            s0 += input[xi + i] * weight[wi + i];
            s1 += input[xi + i + 1] * weight[wi + i + 1];
        }
        if (i < inFeatures)
            s0 += input[xi + i] * weight[wi + i];
        float v = bias[j] + s0 + s1;
        a[t] = ReluOp.Of(v);
    }

    /// <summary>
    /// One thread per (n, c): the four gate pre-activations of channel c from both branches, their
    /// activations (into act), c' = f⊙c + i⊙g and h' = o⊙σ(c').
    /// </summary>
    public static void Cell<TView>(Index1D t, ArrayView<float> actView, ArrayView<float> cNextView, ArrayView<float> hNextView, ArrayView<float> cPrevView,
        ArrayView<float> aIhView, ArrayView<float> aHhView, ArrayView<float> w2IhView, ArrayView<float> b2IhView, ArrayView<float> w2HhView, ArrayView<float> b2HhView,
        int channels, int hidden)
        where TView : struct, IKernelView<TView>
    {
        var act = TView.Of(actView);
        var cNext = TView.Of(cNextView);
        var hNext = TView.Of(hNextView);
        var cPrev = TView.Of(cPrevView);
        var aIh = TView.Of(aIhView);
        var aHh = TView.Of(aHhView);
        var w2Ih = TView.Of(w2IhView);
        var b2Ih = TView.Of(b2IhView);
        var w2Hh = TView.Of(w2HhView);
        var b2Hh = TView.Of(b2HhView);
        int c = t % channels;
        int n = t / channels;
        int ai = n * hidden;
        // The four gate rows of channel c in both branches: one pass over the hidden units, eight independent sums.
        int r0 = c * hidden, r1 = (channels + c) * hidden, r2 = (2 * channels + c) * hidden, r3 = (3 * channels + c) * hidden;
        float i0 = b2Ih[c] + b2Hh[c], f0 = b2Ih[channels + c] + b2Hh[channels + c];
        float g0 = b2Ih[2 * channels + c] + b2Hh[2 * channels + c], o0 = b2Ih[3 * channels + c] + b2Hh[3 * channels + c];
        float i1 = 0f, f1 = 0f, g1 = 0f, o1 = 0f;
        for (int j = 0; j < hidden; j++)
        {
            float x = aIh[ai + j];
            float y = aHh[ai + j];
            i0 += x * w2Ih[r0 + j];
            i1 += y * w2Hh[r0 + j];
            f0 += x * w2Ih[r1 + j];
            f1 += y * w2Hh[r1 + j];
            g0 += x * w2Ih[r2 + j];
            g1 += y * w2Hh[r2 + j];
            o0 += x * w2Ih[r3 + j];
            o1 += y * w2Hh[r3 + j];
        }
        float gi = i0 + i1, gf = f0 + f1, gg = g0 + g1, go = o0 + o1;
        float i = Sigmoid(gi);
        float f = Sigmoid(gf);
        float g = XMath.Tanh(gg);
        float o = Sigmoid(go);
        float cn = f * cPrev[t] + i * g;
        int b = n * 4 * channels + c;
        act[b] = i;
        act[b + channels] = f;
        act[b + 2 * channels] = g;
        act[b + 3 * channels] = o;
        cNext[t] = cn;
        hNext[t] = o * Sigmoid(cn);
    }

    /// <summary>
    /// One thread per (n, c), when the gate pre-activations were computed by matrix products (the cpu device's BLAS
    /// path): act[n, ·] holds them on entry and their activations i, f, g, o on exit; c' = f⊙c + i⊙g, h' = o⊙σ(c').
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

    /// <summary>One thread per (n, j): gz[n, j] = [a &gt; 0]·Σ_o gOut[n, o]·W[o, j] (back through Linear then ReLU).</summary>
    public static void DenseBackwardHidden<TView>(Index1D t, ArrayView<float> gzView, ArrayView<float> gOutView, ArrayView<float> weightView, ArrayView<float> aView,
        int hidden, int outFeatures)
        where TView : struct, IKernelView<TView>
    {
        var gz = TView.Of(gzView);
        var gOut = TView.Of(gOutView);
        var weight = TView.Of(weightView);
        var a = TView.Of(aView);
        int j = t % hidden;
        int n = t / hidden;
        float v = 0f;
        if (a[t] > 0f)
        {
            int go = n * outFeatures;
            float s0 = 0f, s1 = 0f;
            int o = 0;
            for (; o + 1 < outFeatures; o += 2)
            {
                s0 += gOut[go + o] * weight[o * hidden + j];
                s1 += gOut[go + o + 1] * weight[(o + 1) * hidden + j];
            }
            if (o < outFeatures)
                s0 += gOut[go + o] * weight[o * hidden + j];
            v = s0 + s1;
        }
        gz[t] = v;
    }

    /// <summary>One thread per (n, i): gIn[n, i] = Σ_j gz[n, j]·W[j, i] (back through a Linear to its input).</summary>
    public static void DenseBackwardInput<TView>(Index1D t, ArrayView<float> gInView, ArrayView<float> gzView, ArrayView<float> weightView, int inFeatures, int hidden)
        where TView : struct, IKernelView<TView>
    {
        var gIn = TView.Of(gInView);
        var gz = TView.Of(gzView);
        var weight = TView.Of(weightView);
        int i = t % inFeatures;
        int n = t / inFeatures;
        int gb = n * hidden;
        float s0 = 0f, s1 = 0f;
        int j = 0;
        for (; j + 1 < hidden; j += 2)
        {
            s0 += gz[gb + j] * weight[j * inFeatures + i];
            s1 += gz[gb + j + 1] * weight[(j + 1) * inFeatures + i];
        }
        if (j < hidden)
            s0 += gz[gb + j] * weight[j * inFeatures + i];
        gIn[t] = s0 + s1;
    }

    /// <summary>Threads of <see cref="DenseWeightGradient"/> for a Linear of these sizes: one per output o and group of
    /// four inputs, the bias counted as input number inFeatures.</summary>
    public static int WeightGradientThreads(int inFeatures, int outFeatures) => outFeatures * ((inFeatures + 4) / 4);

    /// <summary>
    /// Linear weight gradients, one thread per (o, group of four inputs i, with i = inFeatures standing for the
    /// bias): gW[o, i] += Σ_n gOut[n, o]·in[n, i], gb[o] += Σ_n gOut[n, o]; the batch is summed in order, and the
    /// four weights of a thread share each gOut load.
    /// </summary>
    public static void DenseWeightGradient<TView>(Index1D t, ArrayView<float> gWeightView, ArrayView<float> gBiasView, ArrayView<float> gOutView, ArrayView<float> inputView,
        int n, int inFeatures, int outFeatures)
        where TView : struct, IKernelView<TView>
    {
        var gWeight = TView.Of(gWeightView);
        var gBias = TView.Of(gBiasView);
        var gOut = TView.Of(gOutView);
        var input = TView.Of(inputView);
        int groups = (inFeatures + 4) / 4;
        int g = t % groups;
        int o = t / groups;
        int i0 = 4 * g;
        // Lanes past the last input read input 0 and are not written.
        int x0 = i0 < inFeatures ? i0 : 0;
        int x1 = i0 + 1 < inFeatures ? i0 + 1 : 0;
        int x2 = i0 + 2 < inFeatures ? i0 + 2 : 0;
        int x3 = i0 + 3 < inFeatures ? i0 + 3 : 0;
        float a0 = 0f, a1 = 0f, a2 = 0f, a3 = 0f, ab = 0f;
        for (int k = 0, go = o, xi = 0; k < n; k++, go += outFeatures, xi += inFeatures)
        {
            float v = gOut[go];
            a0 += v * input[xi + x0];
            a1 += v * input[xi + x1];
            a2 += v * input[xi + x2];
            a3 += v * input[xi + x3];
            ab += v;
        }
        int w = o * inFeatures + i0;
        if (i0 < inFeatures)
            gWeight[w] += a0;
        if (i0 + 1 < inFeatures)
            gWeight[w + 1] += a1;
        if (i0 + 2 < inFeatures)
            gWeight[w + 2] += a2;
        if (i0 + 3 < inFeatures)
            gWeight[w + 3] += a3;
        if (i0 <= inFeatures && inFeatures < i0 + 4)
            gBias[o] += ab;
    }

    private static float Sigmoid(float v) => 1f / (1f + XMath.Exp(-v));

    /// <summary>1 where a ReLU output is positive, 0 where it is 0, without a data-dependent branch (random signs
    /// make branches mispredict half the time): min(max(out·2^126, 0), 1), exact for every normal float output. A NaN
    /// output gives NaN on the CPU accelerator and 0 on OpenCL and CUDA (XMath.Max/Min, see ScaleRelu).</summary>
    public static float ReluMask(float output) => XMath.Min(XMath.Max(output * 8.507059e37f, 0f), 1f);
}

/// <summary>The DIA kernels, loaded once per device.</summary>
public sealed class DiaKernelSet : IKernelSet<DiaKernelSet>
{
    private DiaKernelSet(KernelLoader a)
    {
        if (a.HostViews)
            Init<HostView>(a);
        else
            Init<DeviceView>(a);
    }

    private void Init<TView>(KernelLoader a)
        where TView : struct, IKernelView<TView>
    {
        GlobalAveragePool = a.Load<Index1D, ArrayView<float>, ArrayView<float>, int>(DiaKernels.GlobalAveragePool<TView>);
        DenseRelu = a.Load<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int>(DiaKernels.DenseRelu<TView>);
        Cell = a.Load<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>,
            ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int>(DiaKernels.Cell<TView>);
        CellFromGates = a.Load<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int>(DiaKernels.CellFromGates<TView>);
        ScaleRelu = a.Load<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, int>(DiaKernels.ScaleRelu<TView>);
        ScaleReluBackwardMask = a.Load<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int>(
            DiaKernels.ScaleReluBackwardMask<TView>);
        ScaleReluBackwardInput = a.Load<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>,
            ArrayView<float>, int>(DiaKernels.ScaleReluBackwardInput<TView>);
        CellBackward = a.Load<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>,
            ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int>(DiaKernels.CellBackward<TView>);
        DenseBackwardHidden = a.Load<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int>(
            DiaKernels.DenseBackwardHidden<TView>);
        DenseBackwardInput = a.Load<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int>(DiaKernels.DenseBackwardInput<TView>);
        DenseWeightGradient = a.Load<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, int>(
            DiaKernels.DenseWeightGradient<TView>);
    }

    public Action<Index1D, ArrayView<float>, ArrayView<float>, int> GlobalAveragePool { get; private set; } = null!;
    public Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int> DenseRelu { get; private set; } = null!;
    public Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>,
        ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int> Cell { get; private set; } = null!;
    public Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int> CellFromGates { get; private set; } = null!;
    public Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, int> ScaleRelu { get; private set; } = null!;
    public Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int> ScaleReluBackwardMask { get; private set; } = null!;
    public Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int> ScaleReluBackwardInput { get; private set; } = null!;
    public Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>,
        ArrayView<float>, int, int> CellBackward { get; private set; } = null!;
    public Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int> DenseBackwardHidden { get; private set; } = null!;
    public Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int> DenseBackwardInput { get; private set; } = null!;
    public Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, int> DenseWeightGradient { get; private set; } = null!;

    public static DiaKernelSet Load(KernelLoader loader) => new(loader);
}
