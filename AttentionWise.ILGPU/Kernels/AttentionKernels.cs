// Element-wise attention heads (SPEC §2): forward and backward kernels. The derivation of the backward
// formulas, and which kernel implements which, is in docs/attention-backward.md.
//
//   X       [N, C, H, W]          the layer input
//   Wx, Wy  [K, C, H, W]          x and y weights of the K heads; Bx, By (optional biases): same shape
//   Ox, Oy  [N, K, C, H, W]       Ox: softmax over each row (across j) of X⊙Wx(+Bx);
//                                 Oy: softmax over each column (across i) of X⊙Wy(+By)
//   R       = Ox ⊙ Oy             relevance; never stored, recomputed from Ox and Oy where needed
//   stats   [4, Q]                Q = K·C head-BN channels (q = k·C + c): mean μ, rstd = 1/sqrt(var + eps),
//                                 then the backward's a = mean(gR'), b = mean(gR' ⊙ R')
//   Z       [N, Q, H, W]          head outputs X ⊙ R', R' = (R − μ)·rstd ([N, K, C, H, W] flattened)
//   cols    [N, Q, W, 2]          per column: Σ_i (R − s), Σ_i (R − s)² with the shift s = 1/(H·W)
//   rows    [N, Q, H, 5]          per row: Σ_j gR', Σ_j gR'·R', Σ_j R·gR', Σ_j R, Σ_j R·R'   (gR' = gZ ⊙ X)
//   partial [Q, NB, 2]            per channel and block of images: sums of two fields of cols or rows
//   pW      [4, NB, Q, H, W]      per block of images: Σ_n X·gPx, Σ_n X·gPy, Σ_n gPx, Σ_n gPy
//   gX      [N, C, H, W]          input gradient (optionally plus a skip connection's gradient)
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
}

/// <summary>Sizes of a fixed-order partial sum over blocks of images: entries [N, Q, E, Stride], fields 0 and 1.</summary>
public readonly struct PairSumDims
{
    public PairSumDims(int n, int q, int entries, int stride, int blockN)
    {
        N = n;
        Q = q;
        Entries = entries;
        Stride = stride;
        BlockN = blockN;
        Blocks = (n + blockN - 1) / blockN;
    }

    public readonly int N;
    public readonly int Q;
    public readonly int Entries;
    public readonly int Stride;
    public readonly int BlockN;
    public readonly int Blocks;
}

/// <summary>Settings of the head batchnorm (affine = false) statistics kernels.</summary>
public readonly struct HeadNormConfig
{
    public HeadNormConfig(int q, int blocks, int count, float shift, float momentum, float eps, bool training)
    {
        Q = q;
        Blocks = blocks;
        Count = count;
        Shift = shift;
        Momentum = momentum;
        Eps = eps;
        Training = training ? 1 : 0;
    }

    public readonly int Q;
    public readonly int Blocks;

    /// <summary>Elements per channel, N·H·W.</summary>
    public readonly int Count;

    /// <summary>The shift the column sums were taken around (1/(H·W)).</summary>
    public readonly float Shift;

    public readonly float Momentum;
    public readonly float Eps;

    /// <summary>1: batch statistics (and running-statistics update); 0: running statistics.</summary>
    public readonly int Training;
}

/// <summary>How the backward column pass is split into threads: each thread owns a block of images, one
/// channel c and a group of columns, for every head.</summary>
public readonly struct HeadBackwardLayout
{
    public HeadBackwardLayout(int n, int channels, int width, int blockN, int columnsPerThread, bool bias, bool skip, bool inputGradient)
    {
        BlockN = blockN;
        Blocks = (n + blockN - 1) / blockN;
        ColumnsPerThread = columnsPerThread;
        ColumnGroups = (width + columnsPerThread - 1) / columnsPerThread;
        Threads = Blocks * channels * ColumnGroups;
        HasBias = bias ? 1 : 0;
        HasSkip = skip ? 1 : 0;
        InputGradient = inputGradient ? 1 : 0;
    }

    public readonly int BlockN;
    public readonly int Blocks;
    public readonly int ColumnsPerThread;
    public readonly int ColumnGroups;
    public readonly int Threads;
    public readonly int HasBias;

    /// <summary>1: gX starts from the skip connection's gradient instead of zero.</summary>
    public readonly int HasSkip;

    /// <summary>0: gX is not written (first layer of a model).</summary>
    public readonly int InputGradient;
}

public static class AttentionKernels
{
    /// <summary>Forward, one thread per row (n, k, c, i): Ox[row, ·] = softmax_j(X·Wx + Bx).</summary>
    public static void RowSoftmax(Index1D row, ArrayView<float> ox, ArrayView<float> x, ArrayView<float> wx, ArrayView<float> bx, HeadDims d, int hasBias)
    {
        int i = row % d.H;
        int t = row / d.H;
        int c = t % d.C;
        t /= d.C;
        int k = t % d.K;
        int n = t / d.K;
        int w = d.W;
        int o = row * w;
        int xo = ((n * d.C + c) * d.H + i) * w;
        int wo = ((k * d.C + c) * d.H + i) * w;

        float m = float.NegativeInfinity;
        for (int j = 0; j < w; j++)
        {
            float p = x[xo + j] * wx[wo + j];
            if (hasBias != 0)
                p += bx[wo + j];
            ox[o + j] = p;
            m = XMath.Max(m, p);
        }
        float s0 = 0f, s1 = 0f;
        int jj = 0;
        for (; jj + 1 < w; jj += 2)
        {
            float e0 = XMath.Exp(ox[o + jj] - m);
            float e1 = XMath.Exp(ox[o + jj + 1] - m);
            ox[o + jj] = e0;
            ox[o + jj + 1] = e1;
            s0 += e0;
            s1 += e1;
        }
        if (jj < w)
        {
            float e = XMath.Exp(ox[o + jj] - m);
            ox[o + jj] = e;
            s0 += e;
        }
        float inv = 1f / (s0 + s1);
        for (int j = 0; j < w; j++)
            ox[o + j] *= inv;
    }

    /// <summary>Forward, one thread per column (n, k, c, j): Oy[·, j] = softmax_i(X·Wy + By), and the
    /// column's sums Σ(R − s), Σ(R − s)² of R = Ox⊙Oy for the head batchnorm statistics.</summary>
    public static void ColumnSoftmax(Index1D col, ArrayView<float> oy, ArrayView<float> cols, ArrayView<float> ox, ArrayView<float> x,
        ArrayView<float> wy, ArrayView<float> by, HeadDims d, int hasBias, float shift)
    {
        int w = d.W;
        int j = col % w;
        int t = col / w;             // (n·K + k)·C + c
        int c = t % d.C;
        int nk = t / d.C;
        int k = nk % d.K;
        int n = nk / d.K;
        int o = t * d.Plane + j;
        int xo = (n * d.C + c) * d.Plane + j;
        int wo = (k * d.C + c) * d.Plane + j;
        int h = d.H;

        float m = float.NegativeInfinity;
        for (int i = 0, e = 0; i < h; i++, e += w)
        {
            float p = x[xo + e] * wy[wo + e];
            if (hasBias != 0)
                p += by[wo + e];
            oy[o + e] = p;
            m = XMath.Max(m, p);
        }
        float s = 0f;
        for (int i = 0, e = 0; i < h; i++, e += w)
        {
            float v = XMath.Exp(oy[o + e] - m);
            oy[o + e] = v;
            s += v;
        }
        float inv = 1f / s;
        float r1 = 0f, r2 = 0f;
        for (int i = 0, e = 0; i < h; i++, e += w)
        {
            float v = oy[o + e] * inv;
            oy[o + e] = v;
            float r = ox[o + e] * v - shift;
            r1 += r;
            r2 += r * r;
        }
        cols[2 * col] = r1;
        cols[2 * col + 1] = r2;
    }

    /// <summary>One thread per (channel q, block b of images): fields 0 and 1 of source[n, q, e, ·] summed
    /// over the block's images and every entry e, in a fixed order, into partial[q, b, 0..1].</summary>
    public static void PairPartialSums(Index1D thread, ArrayView<float> partial, ArrayView<float> source, PairSumDims d)
    {
        int q = thread / d.Blocks;
        int b = thread % d.Blocks;
        int n0 = b * d.BlockN;
        int n1 = XMath.Min(d.N, n0 + d.BlockN);
        float a0 = 0f, a1 = 0f;
        for (int n = n0; n < n1; n++)
        {
            int e = (n * d.Q + q) * d.Entries * d.Stride;
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
    /// variance from the shifted sums, running statistics updated (unbiased variance, as PyTorch);
    /// evaluation: the running statistics. Writes stats[q] = μ, stats[Q + q] = 1/sqrt(var + eps).</summary>
    public static void HeadNormForwardStats(Index1D q, ArrayView<float> stats, ArrayView<float> runningMean, ArrayView<float> runningVar,
        ArrayView<float> partial, HeadNormConfig cfg)
    {
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
            float m1 = s1 * inv;
            variance = XMath.Max(s2 * inv - m1 * m1, 0f);
            mean = cfg.Shift + m1;
            float unbiased = cfg.Count > 1 ? variance * cfg.Count / (cfg.Count - 1) : variance;
            runningMean[q] = (1f - cfg.Momentum) * runningMean[q] + cfg.Momentum * mean;
            runningVar[q] = (1f - cfg.Momentum) * runningVar[q] + cfg.Momentum * unbiased;
        }
        else
        {
            mean = runningMean[q];
            variance = runningVar[q];
        }
        stats[q] = mean;
        stats[cfg.Q + q] = XMath.Rsqrt(variance + cfg.Eps);
    }

    /// <summary>Forward, one thread per row (n, q, i): Z = X ⊙ (Ox⊙Oy − μ_q)·rstd_q.</summary>
    public static void HeadOutput(Index1D row, ArrayView<float> z, ArrayView<float> x, ArrayView<float> ox, ArrayView<float> oy, ArrayView<float> stats, HeadDims d)
    {
        int i = row % d.H;
        int t = row / d.H;          // n·Q + q
        int q = t % d.Q;
        int n = t / d.Q;
        int c = q % d.C;
        int w = d.W;
        int o = row * w;
        int xo = ((n * d.C + c) * d.H + i) * w;
        float mu = stats[q];
        float rstd = stats[d.Q + q];
        for (int j = 0; j < w; j++)
            z[o + j] = x[xo + j] * ((ox[o + j] * oy[o + j] - mu) * rstd);
    }

    /// <summary>Backward, one thread per row (n, q, i): the row's five sums (see the legend) from
    /// gR' = gZ⊙X, R = Ox⊙Oy and R' = (R − μ)·rstd.</summary>
    public static void BackwardRows(Index1D row, ArrayView<float> rows, ArrayView<float> gz, ArrayView<float> x, ArrayView<float> ox, ArrayView<float> oy,
        ArrayView<float> stats, HeadDims d)
    {
        int i = row % d.H;
        int t = row / d.H;
        int q = t % d.Q;
        int n = t / d.Q;
        int c = q % d.C;
        int w = d.W;
        int o = row * w;
        int xo = ((n * d.C + c) * d.H + i) * w;
        float mu = stats[q];
        float rstd = stats[d.Q + q];
        float sg = 0f, sgr = 0f, sa = 0f, sb = 0f, sc = 0f;
        for (int j = 0; j < w; j++)
        {
            float r = ox[o + j] * oy[o + j];
            float rn = (r - mu) * rstd;
            float g = gz[o + j] * x[xo + j];
            sg += g;
            sgr += g * rn;
            sa += r * g;
            sb += r;
            sc += r * rn;
        }
        int p = row * 5;
        rows[p] = sg;
        rows[p + 1] = sgr;
        rows[p + 2] = sa;
        rows[p + 3] = sb;
        rows[p + 4] = sc;
    }

    /// <summary>Backward batchnorm coefficients, one thread per channel q: a = mean(gR'), b = mean(gR'⊙R')
    /// in training mode, 0 in evaluation mode, into stats[2Q + q] and stats[3Q + q].</summary>
    public static void HeadNormBackwardStats(Index1D q, ArrayView<float> stats, ArrayView<float> partial, HeadNormConfig cfg)
    {
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
        stats[2 * cfg.Q + q] = a;
        stats[3 * cfg.Q + q] = b;
    }

    /// <summary>
    /// Backward, one thread per (block of images, channel c, group of columns), for every head k:
    /// gR = rstd·(gR' − a − b·R'), u = R·gR, s_col = Σ_i u, s_row = Σ_j u (from the row sums),
    /// gPx = u − Ox·s_row, gPy = u − Oy·s_col;
    /// gX = [gSkip] + Σ_k (gZ·R' + Wx·gPx + Wy·gPy); the block's partial sums of X·gPx, X·gPy, gPx, gPy into pW.
    /// </summary>
    public static void BackwardColumns(Index1D thread, ArrayView<float> gx, ArrayView<float> pw, ArrayView<float> gz, ArrayView<float> gskip,
        ArrayView<float> x, ArrayView<float> ox, ArrayView<float> oy, ArrayView<float> wx, ArrayView<float> wy, ArrayView<float> stats,
        ArrayView<float> rows, HeadDims d, HeadBackwardLayout layout)
    {
        int jg = thread % layout.ColumnGroups;
        int u0 = thread / layout.ColumnGroups;
        int c = u0 % d.C;
        int b = u0 / d.C;
        int w = d.W;
        int h = d.H;
        int plane = d.Plane;
        int j0 = jg * layout.ColumnsPerThread;
        int j1 = XMath.Min(w, j0 + layout.ColumnsPerThread);
        int n0 = b * layout.BlockN;
        int n1 = XMath.Min(d.N, n0 + layout.BlockN);
        int field = layout.Blocks * d.Q * plane;

        for (int n = n0; n < n1; n++)
        {
            int xb = (n * d.C + c) * plane;
            for (int k = 0; k < d.K; k++)
            {
                int q = k * d.C + c;
                int ob = (n * d.Q + q) * plane;
                int wb = q * plane;
                int pb = (b * d.Q + q) * plane;
                int rb = (n * d.Q + q) * h * 5;
                float mu = stats[q];
                float rstd = stats[d.Q + q];
                float a = stats[2 * d.Q + q];
                float bb = stats[3 * d.Q + q];
                for (int j = j0; j < j1; j++)
                {
                    float sa = 0f, sb = 0f, sc = 0f;
                    for (int i = 0, e = j; i < h; i++, e += w)
                    {
                        float r = ox[ob + e] * oy[ob + e];
                        float g = gz[ob + e] * x[xb + e];
                        sa += r * g;
                        sb += r;
                        sc += r * ((r - mu) * rstd);
                    }
                    float sCol = rstd * (sa - a * sb - bb * sc);
                    for (int i = 0, e = j, p = rb; i < h; i++, e += w, p += 5)
                    {
                        float oxv = ox[ob + e];
                        float oyv = oy[ob + e];
                        float xv = x[xb + e];
                        float gzv = gz[ob + e];
                        float r = oxv * oyv;
                        float rn = (r - mu) * rstd;
                        float uu = r * (rstd * (gzv * xv - a - bb * rn));
                        float sRow = rstd * (rows[p + 2] - a * rows[p + 3] - bb * rows[p + 4]);
                        float gpx = uu - oxv * sRow;
                        float gpy = uu - oyv * sCol;
                        if (layout.InputGradient != 0)
                        {
                            float contribution = gzv * rn + wx[wb + e] * gpx + wy[wb + e] * gpy;
                            if (k == 0)
                                gx[xb + e] = layout.HasSkip != 0 ? gskip[xb + e] + contribution : contribution;
                            else
                                gx[xb + e] += contribution;
                        }
                        int pi = pb + e;
                        if (n == n0)
                        {
                            pw[pi] = xv * gpx;
                            pw[field + pi] = xv * gpy;
                            if (layout.HasBias != 0)
                            {
                                pw[2 * field + pi] = gpx;
                                pw[3 * field + pi] = gpy;
                            }
                        }
                        else
                        {
                            pw[pi] += xv * gpx;
                            pw[field + pi] += xv * gpy;
                            if (layout.HasBias != 0)
                            {
                                pw[2 * field + pi] += gpx;
                                pw[3 * field + pi] += gpy;
                            }
                        }
                    }
                }
            }
        }
    }

    /// <summary>One thread per weight element e of [Q, H, W]: adds the blocks' partial sums, in block order,
    /// to the gradients of Wx, Wy (and Bx, By when hasBias is 1).</summary>
    public static void WeightGradients(Index1D e, ArrayView<float> gwx, ArrayView<float> gwy, ArrayView<float> gbx, ArrayView<float> gby,
        ArrayView<float> pw, int size, int blocks, int hasBias)
    {
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

/// <summary>The attention-head kernels, loaded once per accelerator.</summary>
public sealed class AttentionKernelSet : IKernelSet<AttentionKernelSet>
{
    private AttentionKernelSet(Accelerator a)
    {
        RowSoftmax = a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, HeadDims, int>(
            AttentionKernels.RowSoftmax);
        ColumnSoftmax = a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>,
            ArrayView<float>, HeadDims, int, float>(AttentionKernels.ColumnSoftmax);
        PairPartialSums = a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, PairSumDims>(AttentionKernels.PairPartialSums);
        HeadNormForwardStats = a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, HeadNormConfig>(
            AttentionKernels.HeadNormForwardStats);
        HeadOutput = a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, HeadDims>(
            AttentionKernels.HeadOutput);
        BackwardRows = a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>,
            ArrayView<float>, HeadDims>(AttentionKernels.BackwardRows);
        HeadNormBackwardStats = a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, HeadNormConfig>(AttentionKernels.HeadNormBackwardStats);
        BackwardColumns = a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>,
            ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, HeadDims, HeadBackwardLayout>(
            AttentionKernels.BackwardColumns);
        WeightGradients = a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>,
            int, int, int>(AttentionKernels.WeightGradients);
    }

    public Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, HeadDims, int> RowSoftmax { get; }
    public Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, HeadDims, int, float> ColumnSoftmax { get; }
    public Action<Index1D, ArrayView<float>, ArrayView<float>, PairSumDims> PairPartialSums { get; }
    public Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, HeadNormConfig> HeadNormForwardStats { get; }
    public Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, HeadDims> HeadOutput { get; }
    public Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, HeadDims> BackwardRows { get; }
    public Action<Index1D, ArrayView<float>, ArrayView<float>, HeadNormConfig> HeadNormBackwardStats { get; }
    public Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>,
        ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, HeadDims, HeadBackwardLayout> BackwardColumns { get; }
    public Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, int> WeightGradients { get; }

    public static AttentionKernelSet Load(Accelerator accelerator) => new(accelerator);
}
