// Element-wise attention heads (SPEC §2): forward and backward kernels. The derivation of the backward
// formulas, and which kernel implements which, is in docs/attention-backward.md.
//
//   X       [N, C, H, W]          the layer input
//   Wx, Wy  [K, C, H, W]          x and y weights of the K heads; Bx, By (optional biases): same shape
//   wp      [2 or 4, Q, H, W]     the weights packed for one forward/backward: Wx, Wy (, Bx, By); Q = K·C
//   oxy     [2, N, Q, H, W]       Ox (softmax over each row, across j, of X⊙Wx + Bx), then
//                                 Oy (softmax over each column, across i, of X⊙Wy + By); q = k·C + c
//   R       = Ox ⊙ Oy             relevance; never stored, recomputed from Ox and Oy where needed
//   Z       [N, Q, H, W]          head outputs X ⊙ R', R' = (R − μ_q)·rstd_q (head batchnorm, affine = false)
//   gX      [N, C, H, W]          input gradient (optionally starting from a skip connection's gradient)
//   pW      [2 or 4, NB, Q, H, W] per block of images: Σ_n X·gPx, Σ_n X·gPy (, Σ_n gPx, Σ_n gPy)
//   partial [Q, NB, 2]            per channel and block of images: sums of two fields of aux
//   aux     one buffer of small arrays (offsets in HeadAux), so that kernels take few views:
//     Stats   [4, Q]              μ, rstd = 1/sqrt(var + eps), then the backward's a = mean(gR'), b = mean(gR'⊙R')
//     InvRow  [N, Q, H]           forward: 1/Σ_j of each row's exponentials (Ox is normalised by the column kernel)
//     ColR    [N, Q, W, 2]        forward, per column: Σ_i R, Σ_i R² (batchnorm statistics; kept for the backward)
//     RowR    [N, Q, H, 2]        forward, per row: Σ_j R, Σ_j R² (kept for the backward)
//     RowA    [N, Q, H]           backward, per row: A = Σ_j R·gR' (gR' = gZ ⊙ X), then s_row = Σ_j R·gR
//     ColA    [N, Q, W]           backward, the same per column: Σ_i R·gR', then s_col
//     Images  [N, Q, 2]           backward, per image: Σ gR', Σ gR'·R'
//     YRowOk  [N, Q, H]           forward: 1 when the row kernel stored exp of the row's y logits (all within
//                                 ±UnshiftedExpLimit), 0 when it left the logits for the column kernel
//     YImageOk [N, Q]             forward: 1 when every row of the image has YRowOk = 1
using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Runtime;

namespace AttentionWise.Kernels;

/// <summary>Sizes of an attention-heads launch: batch N, heads K, channels C, rows H, columns W.</summary>
public readonly struct HeadDims
{
    public HeadDims(int n, int heads, int channels, int height, int width)
    {
        N = n;
        K = heads;
        C = channels;
        H = height;
        W = width;
        Q = heads * channels;
        Plane = height * width;
        WeightSize = Q * Plane;
        Size = n * WeightSize;
    }

    public readonly int N;
    public readonly int K;
    public readonly int C;
    public readonly int H;
    public readonly int W;

    /// <summary>Head-BN channels, K·C.</summary>
    public readonly int Q;

    /// <summary>H·W.</summary>
    public readonly int Plane;

    /// <summary>Elements of one weight array, Q·H·W (offset of Wy in the packed weights).</summary>
    public readonly int WeightSize;

    /// <summary>Elements of Ox, N·Q·H·W (offset of Oy in oxy).</summary>
    public readonly int Size;
}

/// <summary>Offsets of the small arrays in the aux buffer (see the legend).</summary>
public readonly struct HeadAux
{
    public HeadAux(int n, int q, int h, int w)
    {
        int rows = n * q * h;
        int cols = n * q * w;
        Stats = 0;
        InvRow = 4 * q;
        ColR = InvRow + rows;
        RowR = ColR + 2 * cols;
        RowA = RowR + 2 * rows;
        ColA = RowA + rows;
        Images = ColA + cols;
        YRowOk = Images + 2 * n * q;
        YImageOk = YRowOk + rows;
        Length = YImageOk + n * q;
    }

    public readonly int Stats;
    public readonly int InvRow;
    public readonly int ColR;
    public readonly int RowR;
    public readonly int RowA;
    public readonly int ColA;
    public readonly int Images;
    public readonly int YRowOk;
    public readonly int YImageOk;
    public readonly int Length;
}

/// <summary>A fixed-order partial sum over blocks of images: entries source[Offset + ((n·Q + q)·E + e)·Stride + 0..1].</summary>
public readonly struct PairSumDims
{
    public PairSumDims(int n, int q, int entries, int stride, int offset, int blockN)
    {
        N = n;
        Q = q;
        Entries = entries;
        Stride = stride;
        Offset = offset;
        BlockN = blockN;
        Blocks = (n + blockN - 1) / blockN;
    }

    public readonly int N;
    public readonly int Q;
    public readonly int Entries;
    public readonly int Stride;
    public readonly int Offset;
    public readonly int BlockN;
    public readonly int Blocks;
}

/// <summary>Settings of the head batchnorm (affine = false) statistics kernels.</summary>
public readonly struct HeadNormConfig
{
    public HeadNormConfig(int q, int blocks, int count, float momentum, float eps, bool training)
    {
        Q = q;
        Blocks = blocks;
        Count = count;
        Momentum = momentum;
        Eps = eps;
        Training = training ? 1 : 0;
    }

    public readonly int Q;
    public readonly int Blocks;

    /// <summary>Elements per channel, N·H·W.</summary>
    public readonly int Count;

    public readonly float Momentum;
    public readonly float Eps;

    /// <summary>1: batch statistics (and running-statistics update); 0: running statistics.</summary>
    public readonly int Training;
}

/// <summary>How backward pass 2 is split into threads: each thread owns a block of images, one channel c
/// and one row i, for every head.</summary>
public readonly struct HeadBackwardLayout
{
    public HeadBackwardLayout(int n, int channels, int height, int blockN, bool bias, bool skip, bool inputGradient)
    {
        BlockN = blockN;
        Blocks = (n + blockN - 1) / blockN;
        Threads = Blocks * channels * height;
        HasBias = bias ? 1 : 0;
        HasSkip = skip ? 1 : 0;
        InputGradient = inputGradient ? 1 : 0;
    }

    public readonly int BlockN;
    public readonly int Blocks;
    public readonly int Threads;
    public readonly int HasBias;

    /// <summary>1: gX starts from the skip connection's gradient instead of zero.</summary>
    public readonly int HasSkip;

    /// <summary>0: gX is not written (first layer of a model).</summary>
    public readonly int InputGradient;
}

public static class AttentionKernels
{
    /// <summary>Logits whose row (column) maximum is within ±this are exponentiated unshifted (no overflow,
    /// no underflow of a whole row); otherwise the maximum is subtracted first.</summary>
    public const float UnshiftedExpLimit = 60f;

    /// <summary>One thread per weight element: wp = [Wx, Wy (, Bx, By)].</summary>
    public static void PackWeights<TView>(Index1D e, ArrayView<float> wpView, ArrayView<float> wxView, ArrayView<float> wyView, ArrayView<float> bxView, ArrayView<float> byView,
        int size, int hasBias)
        where TView : struct, IKernelView<TView>
    {
        var wp = TView.Of(wpView);
        var wx = TView.Of(wxView);
        var wy = TView.Of(wyView);
        var bx = TView.Of(bxView);
        var by = TView.Of(byView);
        wp[e] = wx[e];
        wp[size + e] = wy[e];
        if (hasBias != 0)
        {
            wp[2 * size + e] = bx[e];
            wp[3 * size + e] = by[e];
        }
    }

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

    /// <summary>
    /// Forward, one thread per row (n, k, c, i), both exponentials: exp(X·Wx + Bx − shift) into Ox (shift
    /// from the row's maximum, see <see cref="SoftmaxShift"/>) with 1/Σ_j into InvRow; and exp(X·Wy + By)
    /// unshifted into Oy, with YRowOk = 1 when every y logit of the row is within ±UnshiftedExpLimit, else 0:
    /// then the column kernel recomputes its column shifted.
    /// </summary>
    public static void RowSoftmax<TView>(Index1D row, ArrayView<float> oxyView, ArrayView<float> auxView, ArrayView<float> xView, ArrayView<float> wpView,
        HeadDims d, int hasBias, HeadAux a)
        where TView : struct, IKernelView<TView>
    {
        var oxy = TView.Of(oxyView);
        var aux = TView.Of(auxView);
        var x = TView.Of(xView);
        var wp = TView.Of(wpView);
        int i = row % d.H;
        int t = row / d.H;
        int c = t % d.C;
        t /= d.C;
        int k = t % d.K;
        int n = t / d.K;
        int w = d.W;
        int o = row * w;
        int oy = o + d.Size;
        int xo = ((n * d.C + c) * d.H + i) * w;
        int wo = ((k * d.C + c) * d.H + i) * w;
        int wy = wo + d.WeightSize;

        // One optimistic pass: logits, their unshifted exponentials, the row sum, the x maximum and the largest
        // |y logit|. Only when the maximum is out of range is the row recomputed with a shift.
        int bx = wo + 2 * d.WeightSize, by = wy + 2 * d.WeightSize;
        float m0 = float.NegativeInfinity, m1 = float.NegativeInfinity;
        float my0 = 0f, my1 = 0f;
        float s0 = 0f, s1 = 0f;
        int j = 0;
        for (; j + 1 < w; j += 2)
        {
            float x0 = x[xo + j], x1 = x[xo + j + 1];
            float px0 = x0 * wp[wo + j], px1 = x1 * wp[wo + j + 1];
            float py0 = x0 * wp[wy + j], py1 = x1 * wp[wy + j + 1];
            if (hasBias != 0)
            {
                px0 += wp[bx + j];
                px1 += wp[bx + j + 1];
                py0 += wp[by + j];
                py1 += wp[by + j + 1];
            }
            float e0 = ExpOrOne(px0), e1 = ExpOrOne(px1);
            oxy[o + j] = e0;
            oxy[o + j + 1] = e1;
            oxy[oy + j] = ExpOrOne(py0);
            oxy[oy + j + 1] = ExpOrOne(py1);
            s0 += e0;
            s1 += e1;
            m0 = XMath.Max(m0, px0);
            m1 = XMath.Max(m1, px1);
            my0 = XMath.Max(my0, XMath.Abs(py0));
            my1 = XMath.Max(my1, XMath.Abs(py1));
        }
        if (j < w)
        {
            float x0 = x[xo + j];
            float px0 = x0 * wp[wo + j];
            float py0 = x0 * wp[wy + j];
            if (hasBias != 0)
            {
                px0 += wp[bx + j];
                py0 += wp[by + j];
            }
            float e0 = ExpOrOne(px0);
            oxy[o + j] = e0;
            oxy[oy + j] = ExpOrOne(py0);
            s0 += e0;
            m0 = XMath.Max(m0, px0);
            my0 = XMath.Max(my0, XMath.Abs(py0));
        }
        float shift = SoftmaxShift(XMath.Max(m0, m1));
        if (shift != 0f)
        {
            // Rare: large x logits. Recompute the row's exponentials with the maximum subtracted.
            s0 = 0f;
            s1 = 0f;
            for (j = 0; j < w; j++)
            {
                float p = x[xo + j] * wp[wo + j];
                if (hasBias != 0)
                    p += wp[bx + j];
                float e = XMath.Exp(p - shift);
                oxy[o + j] = e;
                s0 += e;
            }
        }
        aux[a.InvRow + row] = 1f / (s0 + s1);
        // Where a y logit is large its unshifted exponential may have overflowed: the column kernel recomputes.
        int yOk = XMath.Max(my0, my1) <= UnshiftedExpLimit ? 1 : 0;
        aux[a.YRowOk + row] = yOk;
    }

    /// <summary>Forward, one thread per image (n, q): YImageOk = 1 when every row of the image stored exp of
    /// its y logits (see <see cref="RowSoftmax"/>).</summary>
    public static void ImageFlags<TView>(Index1D image, ArrayView<float> auxView, HeadDims d, HeadAux a)
        where TView : struct, IKernelView<TView>
    {
        var aux = TView.Of(auxView);
        int r = a.YRowOk + image * d.H;
        float s0 = 0f, s1 = 0f;
        int i = 0;
        for (; i + 1 < d.H; i += 2)
        {
            s0 += aux[r + i];
            s1 += aux[r + i + 1];
        }
        if (i < d.H)
            s0 += aux[r + i];
        aux[a.YImageOk + image] = s0 + s1 == d.H ? 1f : 0f;
    }

    /// <summary>
    /// Forward, one thread per column (n, k, c, j): Oy[·, j] = softmax_i(X·Wy + By) from the row kernel's
    /// exponentials (or recomputed with the column's maximum subtracted when a row left logits); normalises
    /// the column's elements of Ox with InvRow; and the column's sums Σ_i R, Σ_i R² of R = Ox⊙Oy into ColR.
    /// </summary>
    public static void ColumnSoftmax<TView>(Index1D col, ArrayView<float> oxyView, ArrayView<float> auxView, ArrayView<float> xView, ArrayView<float> wpView,
        HeadDims d, int hasBias, HeadAux a)
        where TView : struct, IKernelView<TView>
    {
        var oxy = TView.Of(oxyView);
        var aux = TView.Of(auxView);
        var x = TView.Of(xView);
        var wp = TView.Of(wpView);
        int w = d.W;
        int j = col % w;
        int t = col / w;             // image (n·K + k)·C + c
        int ox = t * d.Plane + j;
        int oy = ox + d.Size;
        int end = d.Plane;
        float s = 0f;
        if (aux[a.YImageOk + t] > 0f)
        {
            float s1 = 0f;
            int e = 0;
            for (; e + w < end; e += 2 * w)
            {
                s += oxy[oy + e];
                s1 += oxy[oy + e + w];
            }
            if (e < end)
                s += oxy[oy + e];
            s += s1;
        }
        else
        {
            // Rare: some y logit of the image is large. Recompute the column's logits and subtract their maximum.
            int c = t % d.C;
            int nk = t / d.C;
            int k = nk % d.K;
            int n = nk / d.K;
            int xo = (n * d.C + c) * d.Plane + j;
            int wo = (k * d.C + c) * d.Plane + j + d.WeightSize;
            float m = float.NegativeInfinity;
            for (int e = 0; e < end; e += w)
            {
                float p = x[xo + e] * wp[wo + e];
                if (hasBias != 0)
                    p += wp[wo + 2 * d.WeightSize + e];
                oxy[oy + e] = p;
                m = XMath.Max(m, p);
            }
            float shift = SoftmaxShift(m);
            for (int e = 0; e < end; e += w)
            {
                float v = XMath.Exp(oxy[oy + e] - shift);
                oxy[oy + e] = v;
                s += v;
            }
        }
        float inv = 1f / s;
        float r1 = 0f, r2 = 0f, q1 = 0f, q2 = 0f;
        int rowIndex = a.InvRow + t * d.H;
        for (int e = 0; e < end; e += w, rowIndex++)
        {
            float vx = oxy[ox + e] * aux[rowIndex];
            float vy = oxy[oy + e] * inv;
            oxy[ox + e] = vx;
            oxy[oy + e] = vy;
            float r = vx * vy;
            // Two independent chains (even and odd rows).
            if ((rowIndex & 1) == 0)
            {
                r1 += r;
                r2 += r * r;
            }
            else
            {
                q1 += r;
                q2 += r * r;
            }
        }
        aux[a.ColR + 2 * col] = r1 + q1;
        aux[a.ColR + 2 * col + 1] = r2 + q2;
    }

    /// <summary>One thread per (channel q, block b of images): fields 0 and 1 of the entries summed over the
    /// block's images and every entry e, in a fixed order, into partial[q, b, 0..1].</summary>
    public static void PairPartialSums<TView>(Index1D thread, ArrayView<float> partialView, ArrayView<float> sourceView, PairSumDims d)
        where TView : struct, IKernelView<TView>
    {
        var partial = TView.Of(partialView);
        var source = TView.Of(sourceView);
        int q = thread / d.Blocks;
        int b = thread % d.Blocks;
        int n0 = b * d.BlockN;
        int n1 = XMath.Min(d.N, n0 + d.BlockN);
        float a0 = 0f, a1 = 0f;
        for (int n = n0; n < n1; n++)
        {
            int e = d.Offset + (n * d.Q + q) * d.Entries * d.Stride;
            float p0 = 0f, p1 = 0f;
            for (int k = 0; k < d.Entries; k++, e += d.Stride)
            {
                p0 += source[e];
                p1 += source[e + 1];
            }
            a0 += p0;
            a1 += p1;
        }
        partial[2 * thread] = a0;
        partial[2 * thread + 1] = a1;
    }

    /// <summary>Head batchnorm statistics, one thread per channel q. Training: batch mean and biased
    /// variance E[R²] − E[R]² (exact enough: where it cancels, the variance is far below eps), running
    /// statistics updated with the unbiased variance as PyTorch does; evaluation: the running statistics.
    /// Writes Stats[q] = μ, Stats[Q + q] = 1/sqrt(var + eps).</summary>
    public static void HeadNormForwardStats<TView>(Index1D q, ArrayView<float> auxView, ArrayView<float> runningMeanView, ArrayView<float> runningVarView,
        ArrayView<float> partialView, HeadNormConfig cfg)
        where TView : struct, IKernelView<TView>
    {
        var aux = TView.Of(auxView);
        var runningMean = TView.Of(runningMeanView);
        var runningVar = TView.Of(runningVarView);
        var partial = TView.Of(partialView);
        float mean, variance;
        if (cfg.Training != 0)
        {
            float s1 = 0f, s2 = 0f;
            int p = q * cfg.Blocks * 2;
            for (int b = 0; b < cfg.Blocks; b++, p += 2)
            {
                s1 += partial[p];
                s2 += partial[p + 1];
            }
            float inv = 1f / cfg.Count;
            mean = s1 * inv;
            variance = XMath.Max(s2 * inv - mean * mean, 0f);
            float unbiased = cfg.Count > 1 ? variance * cfg.Count / (cfg.Count - 1) : variance;
            runningMean[q] = (1f - cfg.Momentum) * runningMean[q] + cfg.Momentum * mean;
            runningVar[q] = (1f - cfg.Momentum) * runningVar[q] + cfg.Momentum * unbiased;
        }
        else
        {
            mean = runningMean[q];
            variance = runningVar[q];
        }
        aux[q] = mean;
        aux[cfg.Q + q] = XMath.Rsqrt(variance + cfg.Eps);
    }

    /// <summary>Forward, one thread per row (n, q, i): Z = X ⊙ (Ox⊙Oy − μ_q)·rstd_q, and the row's sums
    /// Σ_j R, Σ_j R² into RowR (kept for the backward pass).</summary>
    public static void HeadOutput<TView>(Index1D row, ArrayView<float> zView, ArrayView<float> auxView, ArrayView<float> xView, ArrayView<float> oxyView, HeadDims d, HeadAux a)
        where TView : struct, IKernelView<TView>
    {
        var z = TView.Of(zView);
        var aux = TView.Of(auxView);
        var x = TView.Of(xView);
        var oxy = TView.Of(oxyView);
        int i = row % d.H;
        int t = row / d.H;          // n·Q + q
        int q = t % d.Q;
        int n = t / d.Q;
        int c = q % d.C;
        int w = d.W;
        int o = row * w;
        int oy = o + d.Size;
        int xo = ((n * d.C + c) * d.H + i) * w;
        float mu = aux[q];
        float rstd = aux[d.Q + q];
        float r1 = 0f, r2 = 0f;
        for (int j = 0; j < w; j++)
        {
            float r = oxy[o + j] * oxy[oy + j];
            z[o + j] = x[xo + j] * ((r - mu) * rstd);
            r1 += r;
            r2 += r * r;
        }
        aux[a.RowR + 2 * row] = r1;
        aux[a.RowR + 2 * row + 1] = r2;
    }

    /// <summary>
    /// Backward pass 1, one thread per image (n, q), from gR' = gZ⊙X, R = Ox⊙Oy and R' = (R − μ)·rstd:
    /// A = Σ R·gR' of every row (into RowA) and every column (into ColA), and the image's Σ gR', Σ gR'·R'
    /// (into Images) for the batchnorm backward.
    /// </summary>
    public static void BackwardSums<TView>(Index1D image, ArrayView<float> auxView, ArrayView<float> gzView, ArrayView<float> xView, ArrayView<float> oxyView, HeadDims d, HeadAux a)
        where TView : struct, IKernelView<TView>
    {
        var aux = TView.Of(auxView);
        var gz = TView.Of(gzView);
        var x = TView.Of(xView);
        var oxy = TView.Of(oxyView);
        int q = image % d.Q;
        int n = image / d.Q;
        int c = q % d.C;
        int w = d.W;
        int h = d.H;
        int o = image * d.Plane;
        int xo = (n * d.C + c) * d.Plane;
        int cb = a.ColA + image * w;
        int rb = a.RowA + image * h;
        int dy = d.Size;
        float mu = aux[q];
        float rstd = aux[d.Q + q];
        for (int j = 0; j < w; j++)
            aux[cb + j] = 0f;
        float sg = 0f, sgr = 0f;
        for (int i = 0; i < h; i++, o += w, xo += w)
        {
            float sa = 0f;
            for (int j = 0; j < w; j++)
            {
                float r = oxy[o + j] * oxy[dy + o + j];
                float g = gz[o + j] * x[xo + j];
                float rg = r * g;
                sg += g;
                sgr += g * ((r - mu) * rstd);
                sa += rg;
                aux[cb + j] += rg;
            }
            aux[rb + i] = sa;
        }
        aux[a.Images + 2 * image] = sg;
        aux[a.Images + 2 * image + 1] = sgr;
    }

    /// <summary>Backward batchnorm coefficients, one thread per channel q: a = mean(gR'), b = mean(gR'⊙R')
    /// in training mode, 0 in evaluation mode, into Stats[2Q + q] and Stats[3Q + q].</summary>
    public static void HeadNormBackwardStats<TView>(Index1D q, ArrayView<float> auxView, ArrayView<float> partialView, HeadNormConfig cfg)
        where TView : struct, IKernelView<TView>
    {
        var aux = TView.Of(auxView);
        var partial = TView.Of(partialView);
        float a = 0f, b = 0f;
        if (cfg.Training != 0)
        {
            int p = q * cfg.Blocks * 2;
            for (int k = 0; k < cfg.Blocks; k++, p += 2)
            {
                a += partial[p];
                b += partial[p + 1];
            }
            float inv = 1f / cfg.Count;
            a *= inv;
            b *= inv;
        }
        aux[2 * cfg.Q + q] = a;
        aux[3 * cfg.Q + q] = b;
    }

    /// <summary>Backward, one thread per image (n, q): turns each row's and column's A into
    /// s = Σ R·gR = rstd·(A − a·ΣR − b·ΣR·R'), with ΣR·R' = rstd·(ΣR² − μ·ΣR) from the forward's sums.</summary>
    public static void SoftmaxCoefficients<TView>(Index1D image, ArrayView<float> auxView, HeadDims d, HeadAux ax)
        where TView : struct, IKernelView<TView>
    {
        var aux = TView.Of(auxView);
        int q = image % d.Q;
        float mu = aux[q];
        float rstd = aux[d.Q + q];
        float a = aux[2 * d.Q + q];
        float b = aux[3 * d.Q + q];
        for (int i = 0, p = image * d.H; i < d.H; i++, p++)
        {
            float sr = aux[ax.RowR + 2 * p];
            aux[ax.RowA + p] = rstd * (aux[ax.RowA + p] - a * sr - b * rstd * (aux[ax.RowR + 2 * p + 1] - mu * sr));
        }
        for (int j = 0, p = image * d.W; j < d.W; j++, p++)
        {
            float sr = aux[ax.ColR + 2 * p];
            aux[ax.ColA + p] = rstd * (aux[ax.ColA + p] - a * sr - b * rstd * (aux[ax.ColR + 2 * p + 1] - mu * sr));
        }
    }

    /// <summary>
    /// Backward pass 2, one thread per (block of images, channel c, row i), for every head k and column j,
    /// with the block's images innermost so that the weight-gradient sums stay in registers:
    /// gR = rstd·(gR' − a − b·R'), u = R·gR, gPx = u − Ox·s_row, gPy = u − Oy·s_col;
    /// gX = [gSkip] + Σ_k (gZ·R' + Wx·gPx + Wy·gPy); the block's sums of X·gPx, X·gPy (, gPx, gPy) into pW.
    /// </summary>
    public static void BackwardInput<TView>(Index1D thread, ArrayView<float> gxView, ArrayView<float> pwView, ArrayView<float> gzView, ArrayView<float> gskipView,
        ArrayView<float> xView, ArrayView<float> oxyView, ArrayView<float> wpView, ArrayView<float> auxView, HeadDims d, HeadAux ax, HeadBackwardLayout layout)
        where TView : struct, IKernelView<TView>
    {
        var gx = TView.Of(gxView);
        var pw = TView.Of(pwView);
        var gz = TView.Of(gzView);
        var gskip = TView.Of(gskipView);
        var x = TView.Of(xView);
        var oxy = TView.Of(oxyView);
        var wp = TView.Of(wpView);
        var aux = TView.Of(auxView);
        int i = thread % d.H;
        int u0 = thread / d.H;
        int c = u0 % d.C;
        int b = u0 / d.C;
        int w = d.W;
        int n0 = b * layout.BlockN;
        int n1 = XMath.Min(d.N, n0 + layout.BlockN);
        int rowOffset = i * w;

        if (layout.InputGradient != 0)
        {
            for (int n = n0; n < n1; n++)
            {
                int xb = (n * d.C + c) * d.Plane + rowOffset;
                for (int j = 0; j < w; j++)
                    gx[xb + j] = layout.HasSkip != 0 ? gskip[xb + j] : 0f;
            }
        }

        int field = layout.Blocks * d.WeightSize;
        int xStep = d.C * d.Plane;      // one image further in X and gX
        int oStep = d.Q * d.Plane;      // one image further in Ox, Oy and gZ
        int srStep = d.Q * d.H;
        int scStep = d.Q * w;
        for (int k = 0; k < d.K; k++)
        {
            int q = k * d.C + c;
            float mu = aux[q];
            float rstd = aux[d.Q + q];
            float a = aux[2 * d.Q + q];
            float bb = aux[3 * d.Q + q];
            // gR = rstd·gR' − alpha − beta·R and R' = rstd·R − gamma.
            float alpha = rstd * (a - bb * rstd * mu);
            float beta = bb * rstd * rstd;
            float gamma = rstd * mu;
            int wb = q * d.Plane + rowOffset;
            int pb = (b * d.Q + q) * d.Plane + rowOffset;
            for (int j = 0; j < w; j++)
            {
                pw[pb + j] = 0f;
                pw[field + pb + j] = 0f;
                if (layout.HasBias != 0)
                {
                    pw[2 * field + pb + j] = 0f;
                    pw[3 * field + pb + j] = 0f;
                }
            }
            for (int n = n0; n < n1; n++)
            {
                int image = n * d.Q + q;
                int ob = image * d.Plane + rowOffset;
                int xb = (n * d.C + c) * d.Plane + rowOffset;
                int sc = ax.ColA + image * w;
                float sRow = aux[ax.RowA + image * d.H + i];
                for (int j = 0; j < w; j++)
                {
                    float oxv = oxy[ob + j];
                    float oyv = oxy[d.Size + ob + j];
                    float xv = x[xb + j];
                    float gzv = gz[ob + j];
                    float r = oxv * oyv;
                    float uu = r * (rstd * gzv * xv - alpha - beta * r);
                    float gpx = uu - oxv * sRow;
                    float gpy = uu - oyv * aux[sc + j];
                    if (layout.InputGradient != 0)
                        gx[xb + j] += gzv * (rstd * r - gamma) + wp[wb + j] * gpx + wp[d.WeightSize + wb + j] * gpy;
                    pw[pb + j] += xv * gpx;
                    pw[field + pb + j] += xv * gpy;
                    if (layout.HasBias != 0)
                    {
                        pw[2 * field + pb + j] += gpx;
                        pw[3 * field + pb + j] += gpy;
                    }
                }
            }
        }
    }

    /// <summary>On request (visualisation), one thread per row (n, q, i): R = Ox ⊙ Oy.</summary>
    public static void Relevance<TView>(Index1D row, ArrayView<float> rView, ArrayView<float> oxyView, HeadDims d)
        where TView : struct, IKernelView<TView>
    {
        var r = TView.Of(rView);
        var oxy = TView.Of(oxyView);
        int o = row * d.W;
        for (int j = 0; j < d.W; j++)
            r[o + j] = oxy[o + j] * oxy[d.Size + o + j];
    }

    /// <summary>One thread per weight element e of [Q, H, W]: adds the blocks' partial sums, in block order,
    /// to the gradients of Wx, Wy (and Bx, By when hasBias is 1).</summary>
    public static void WeightGradients<TView>(Index1D e, ArrayView<float> gwxView, ArrayView<float> gwyView, ArrayView<float> gbxView, ArrayView<float> gbyView,
        ArrayView<float> pwView, int size, int blocks, int hasBias)
        where TView : struct, IKernelView<TView>
    {
        var gwx = TView.Of(gwxView);
        var gwy = TView.Of(gwyView);
        var gbx = TView.Of(gbxView);
        var gby = TView.Of(gbyView);
        var pw = TView.Of(pwView);
        int field = blocks * size;
        float sx = 0f, sy = 0f, tx = 0f, ty = 0f;
        for (int b = 0, p = e; b < blocks; b++, p += size)
        {
            sx += pw[p];
            sy += pw[field + p];
            if (hasBias != 0)
            {
                tx += pw[2 * field + p];
                ty += pw[3 * field + p];
            }
        }
        gwx[e] += sx;
        gwy[e] += sy;
        if (hasBias != 0)
        {
            gbx[e] += tx;
            gby[e] += ty;
        }
    }
}

/// <summary>The attention-head kernels, loaded once per device: the per-row kernels everywhere (on GPU-shaped devices
/// they serve planes too large for the plane kernels' shared memory), and the plane kernels (AttentionPlaneKernels.cs)
/// on GPU-shaped devices; those properties stay null on the cpu device.</summary>
public sealed class AttentionKernelSet : IKernelSet<AttentionKernelSet>
{
    private AttentionKernelSet(KernelLoader a)
    {
        if (a.HostViews)
            Init<HostView>(a);
        else
            Init<DeviceView>(a);
        if (a.GpuShaped)
        {
            SoftmaxPlanes = a.LoadGrouped<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, HeadDims, int, HeadAux, HeadPlanes>(
                AttentionPlaneKernels.SoftmaxPlanes);
            HeadOutputPlanes = a.LoadGrouped<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, HeadDims, HeadAux, HeadPlanes>(
                AttentionPlaneKernels.HeadOutputPlanes);
            BackwardSumsPlanes = a.LoadGrouped<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, HeadDims, HeadAux, HeadPlanes>(
                AttentionPlaneKernels.BackwardSumsPlanes);
            BackwardInputPlanes = a.LoadGrouped<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>,
                ArrayView<float>, ArrayView<float>, HeadDims, HeadAux, HeadBackwardLayout, HeadPlanes>(AttentionPlaneKernels.BackwardInputPlanes);
            WeightGradientsGroup = a.LoadGrouped<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, int>(
                AttentionPlaneKernels.WeightGradientsGroup);
        }
    }

    /// <summary>GPU-shaped devices only (null on the cpu device).</summary>
    public Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, int>? WeightGradientsGroup { get; }

    private void Init<TView>(KernelLoader a)
        where TView : struct, IKernelView<TView>
    {
        PackWeights = a.Load<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>,
            int, int>(AttentionKernels.PackWeights<TView>);
        RowSoftmax = a.Load<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, HeadDims, int, HeadAux>(
            AttentionKernels.RowSoftmax<TView>);
        ImageFlags = a.Load<Index1D, ArrayView<float>, HeadDims, HeadAux>(AttentionKernels.ImageFlags<TView>);
        ColumnSoftmax = a.Load<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, HeadDims, int, HeadAux>(
            AttentionKernels.ColumnSoftmax<TView>);
        PairPartialSums = a.Load<Index1D, ArrayView<float>, ArrayView<float>, PairSumDims>(AttentionKernels.PairPartialSums<TView>);
        HeadNormForwardStats = a.Load<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, HeadNormConfig>(
            AttentionKernels.HeadNormForwardStats<TView>);
        HeadOutput = a.Load<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, HeadDims, HeadAux>(
            AttentionKernels.HeadOutput<TView>);
        BackwardSums = a.Load<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, HeadDims, HeadAux>(
            AttentionKernels.BackwardSums<TView>);
        HeadNormBackwardStats = a.Load<Index1D, ArrayView<float>, ArrayView<float>, HeadNormConfig>(AttentionKernels.HeadNormBackwardStats<TView>);
        SoftmaxCoefficients = a.Load<Index1D, ArrayView<float>, HeadDims, HeadAux>(AttentionKernels.SoftmaxCoefficients<TView>);
        BackwardInput = a.Load<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>,
            ArrayView<float>, ArrayView<float>, ArrayView<float>, HeadDims, HeadAux, HeadBackwardLayout>(AttentionKernels.BackwardInput<TView>);
        WeightGradients = a.Load<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>,
            int, int, int>(AttentionKernels.WeightGradients<TView>);
        Relevance = a.Load<Index1D, ArrayView<float>, ArrayView<float>, HeadDims>(AttentionKernels.Relevance<TView>);
    }

    public Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int> PackWeights { get; private set; } = null!;
    public Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, HeadDims, int, HeadAux> RowSoftmax { get; private set; } = null!;
    public Action<Index1D, ArrayView<float>, HeadDims, HeadAux> ImageFlags { get; private set; } = null!;
    public Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, HeadDims, int, HeadAux> ColumnSoftmax { get; private set; } = null!;
    public Action<Index1D, ArrayView<float>, ArrayView<float>, PairSumDims> PairPartialSums { get; private set; } = null!;
    public Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, HeadNormConfig> HeadNormForwardStats { get; private set; } = null!;
    public Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, HeadDims, HeadAux> HeadOutput { get; private set; } = null!;
    public Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, HeadDims, HeadAux> BackwardSums { get; private set; } = null!;
    public Action<Index1D, ArrayView<float>, ArrayView<float>, HeadNormConfig> HeadNormBackwardStats { get; private set; } = null!;
    public Action<Index1D, ArrayView<float>, HeadDims, HeadAux> SoftmaxCoefficients { get; private set; } = null!;
    public Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>,
        ArrayView<float>, HeadDims, HeadAux, HeadBackwardLayout> BackwardInput { get; private set; } = null!;
    public Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, int> WeightGradients { get; private set; } = null!;

    public Action<Index1D, ArrayView<float>, ArrayView<float>, HeadDims> Relevance { get; private set; } = null!;

    // GPU-shaped devices: whole planes in shared memory (explicitly grouped).
    public Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, HeadDims, int, HeadAux, HeadPlanes>? SoftmaxPlanes { get; }
    public Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, HeadDims, HeadAux, HeadPlanes>? HeadOutputPlanes { get; }
    public Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, HeadDims, HeadAux, HeadPlanes>? BackwardSumsPlanes { get; }
    public Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>,
        ArrayView<float>, HeadDims, HeadAux, HeadBackwardLayout, HeadPlanes>? BackwardInputPlanes { get; }

    public static AttentionKernelSet Load(KernelLoader loader) => new(loader);
}
