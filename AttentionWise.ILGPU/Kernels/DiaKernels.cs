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
    public static void GlobalAveragePool(Index1D nc, ArrayView<float> s, ArrayView<float> f, int plane)
    {
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

    /// <summary>One thread per (n, j): a[n, j] = ReLU(b[j] + Σ_i in[n, i]·W[j, i]).</summary>
    public static void DenseRelu(Index1D t, ArrayView<float> a, ArrayView<float> input, ArrayView<float> weight, ArrayView<float> bias, int inFeatures, int outFeatures)
    {
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
        a[t] = v > 0f ? v : 0f;
    }

    /// <summary>
    /// One thread per (n, c): the four gate pre-activations of channel c from both branches, their
    /// activations (into act), c' = f⊙c + i⊙g and h' = o⊙σ(c').
    /// </summary>
    public static void Cell(Index1D t, ArrayView<float> act, ArrayView<float> cNext, ArrayView<float> hNext, ArrayView<float> cPrev,
        ArrayView<float> aIh, ArrayView<float> aHh, ArrayView<float> w2Ih, ArrayView<float> b2Ih, ArrayView<float> w2Hh, ArrayView<float> b2Hh,
        int channels, int hidden)
    {
        int c = t % channels;
        int n = t / channels;
        int ai = n * hidden;
        float gi = Gate(aIh, aHh, w2Ih, b2Ih, w2Hh, b2Hh, ai, c, hidden);
        float gf = Gate(aIh, aHh, w2Ih, b2Ih, w2Hh, b2Hh, ai, channels + c, hidden);
        float gg = Gate(aIh, aHh, w2Ih, b2Ih, w2Hh, b2Hh, ai, 2 * channels + c, hidden);
        float go = Gate(aIh, aHh, w2Ih, b2Ih, w2Hh, b2Hh, ai, 3 * channels + c, hidden);
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

    /// <summary>One thread per (n, c): out = ReLU(F ⊙ h[n, c]) over the plane.</summary>
    public static void ScaleRelu(Index1D nc, ArrayView<float> output, ArrayView<float> f, ArrayView<float> h, int plane)
    {
        int o = nc * plane;
        float hv = h[nc];
        for (int p = 0; p < plane; p++)
        {
            float v = f[o + p] * hv;
            output[o + p] = v > 0f ? v : 0f;
        }
    }

    /// <summary>Backward of out = ReLU(F⊙h), one thread per (n, c): gh[n, c] = Σ_p [out &gt; 0]·gOut·F.</summary>
    public static void ScaleReluBackwardMask(Index1D nc, ArrayView<float> gh, ArrayView<float> gOut, ArrayView<float> output, ArrayView<float> f, int plane)
    {
        int o = nc * plane;
        float s0 = 0f, s1 = 0f;
        int p = 0;
        for (; p + 1 < plane; p += 2)
        {
            if (output[o + p] > 0f)
                s0 += gOut[o + p] * f[o + p];
            if (output[o + p + 1] > 0f)
                s1 += gOut[o + p + 1] * f[o + p + 1];
        }
        if (p < plane && output[o + p] > 0f)
            s0 += gOut[o + p] * f[o + p];
        gh[nc] = s0 + s1;
    }

    /// <summary>Backward of out = ReLU(F⊙h) and s = mean(F), one thread per (n, c):
    /// gF = [out &gt; 0]·gOut·h + gs/P.</summary>
    public static void ScaleReluBackwardInput(Index1D nc, ArrayView<float> gf, ArrayView<float> gOut, ArrayView<float> output, ArrayView<float> h,
        ArrayView<float> gs, int plane)
    {
        int o = nc * plane;
        float hv = h[nc];
        float pooled = gs[nc] / plane;
        for (int p = 0; p < plane; p++)
            gf[o + p] = (output[o + p] > 0f ? gOut[o + p] * hv : 0f) + pooled;
    }

    /// <summary>
    /// Backward of the cell, one thread per (n, c): from gh (= ghOut + ghCarry when hasCarry) and the carried
    /// gc, the gate pre-activation gradients (into gGates) and the gradient of the previous c (into gcPrev).
    /// </summary>
    public static void CellBackward(Index1D t, ArrayView<float> gGates, ArrayView<float> gcPrev, ArrayView<float> ghOut, ArrayView<float> ghCarry,
        ArrayView<float> gcCarry, ArrayView<float> act, ArrayView<float> cNext, ArrayView<float> cPrev, int channels, int hasCarry)
    {
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
    public static void DenseBackwardHidden(Index1D t, ArrayView<float> gz, ArrayView<float> gOut, ArrayView<float> weight, ArrayView<float> a,
        int hidden, int outFeatures)
    {
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
    public static void DenseBackwardInput(Index1D t, ArrayView<float> gIn, ArrayView<float> gz, ArrayView<float> weight, int inFeatures, int hidden)
    {
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

    /// <summary>
    /// Linear weight gradients, one thread per (o, i) with i = inFeatures standing for the bias:
    /// gW[o, i] += Σ_n gOut[n, o]·in[n, i], gb[o] += Σ_n gOut[n, o]; the batch is summed in order.
    /// </summary>
    public static void DenseWeightGradient(Index1D t, ArrayView<float> gWeight, ArrayView<float> gBias, ArrayView<float> gOut, ArrayView<float> input,
        int n, int inFeatures, int outFeatures)
    {
        int stride = inFeatures + 1;
        int i = t % stride;
        int o = t / stride;
        float s0 = 0f, s1 = 0f;
        int k = 0;
        if (i == inFeatures)
        {
            for (; k + 1 < n; k += 2)
            {
                s0 += gOut[k * outFeatures + o];
                s1 += gOut[(k + 1) * outFeatures + o];
            }
            if (k < n)
                s0 += gOut[k * outFeatures + o];
            gBias[o] += s0 + s1;
        }
        else
        {
            for (; k + 1 < n; k += 2)
            {
                s0 += gOut[k * outFeatures + o] * input[k * inFeatures + i];
                s1 += gOut[(k + 1) * outFeatures + o] * input[(k + 1) * inFeatures + i];
            }
            if (k < n)
                s0 += gOut[k * outFeatures + o] * input[k * inFeatures + i];
            gWeight[o * inFeatures + i] += s0 + s1;
        }
    }

    private static float Sigmoid(float v) => 1f / (1f + XMath.Exp(-v));

    private static float Gate(ArrayView<float> aIh, ArrayView<float> aHh, ArrayView<float> w2Ih, ArrayView<float> b2Ih, ArrayView<float> w2Hh,
        ArrayView<float> b2Hh, int ai, int row, int hidden)
    {
        int wi = row * hidden;
        float s0 = b2Ih[row], s1 = b2Hh[row];
        for (int j = 0; j < hidden; j++)
        {
            s0 += aIh[ai + j] * w2Ih[wi + j];
            s1 += aHh[ai + j] * w2Hh[wi + j];
        }
        return s0 + s1;
    }
}

/// <summary>The DIA kernels, loaded once per accelerator.</summary>
public sealed class DiaKernelSet : IKernelSet<DiaKernelSet>
{
    private DiaKernelSet(Accelerator a)
    {
        GlobalAveragePool = a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, int>(DiaKernels.GlobalAveragePool);
        DenseRelu = a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int>(DiaKernels.DenseRelu);
        Cell = a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>,
            ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int>(DiaKernels.Cell);
        ScaleRelu = a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, int>(DiaKernels.ScaleRelu);
        ScaleReluBackwardMask = a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int>(
            DiaKernels.ScaleReluBackwardMask);
        ScaleReluBackwardInput = a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>,
            ArrayView<float>, int>(DiaKernels.ScaleReluBackwardInput);
        CellBackward = a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>,
            ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int>(DiaKernels.CellBackward);
        DenseBackwardHidden = a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int>(
            DiaKernels.DenseBackwardHidden);
        DenseBackwardInput = a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int>(DiaKernels.DenseBackwardInput);
        DenseWeightGradient = a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, int>(
            DiaKernels.DenseWeightGradient);
    }

    public Action<Index1D, ArrayView<float>, ArrayView<float>, int> GlobalAveragePool { get; }
    public Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int> DenseRelu { get; }
    public Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>,
        ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int> Cell { get; }
    public Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, int> ScaleRelu { get; }
    public Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int> ScaleReluBackwardMask { get; }
    public Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int> ScaleReluBackwardInput { get; }
    public Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>,
        ArrayView<float>, int, int> CellBackward { get; }
    public Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int> DenseBackwardHidden { get; }
    public Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int> DenseBackwardInput { get; }
    public Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, int> DenseWeightGradient { get; }

    public static DiaKernelSet Load(Accelerator accelerator) => new(accelerator);
}
