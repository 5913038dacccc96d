// 2-D convolution (cross-correlation, as PyTorch's Conv2d), NCHW.
//
//   x:  [N, Ci, H, W]         input
//   w:  [Co, Ci, KH, KW]      weight (tap t = ky·KW + kx)
//   b:  [Co]                  bias
//   y:  [N, Co, Ho, Wo]       y[n,co,oy,ox] = b[co] + Σ_{ci,ky,kx} w[co,ci,ky,kx] · x[n, ci, oy·SY + ky − PY, ox·SX + kx − PX]
//   Ho = (H + 2·PY − KH) / SY + 1, Wo likewise.
//
// The kernels never test for padding: the host first copies the input into a zero-bordered buffer
//   xp: [N, Ci, Hp, Wp]       xp[n,ci,y,x] = x[n,ci,y − offY, x − offX] inside x, else 0 (Pad)
// and then every kernel runs a "valid" convolution on xp. For the sliding-row tiles Wp is wide enough for
// the last column tile to read past Wo without leaving the row; the strided tiles clamp instead.
//
// Weights are re-laid out per pass into register-tile order ("blocked", BlockWeights):
//   wb: [OB, Cin, KH·KW, B]   wb[ob, ci, t, j] = w[ob·B + j, ci, t]   (0 past the last output channel)
// so that the B output channels of a tile read B consecutive floats per tap. The input gradient of a
// stride-1 convolution is the same forward kernel run on the gradient padded by K − 1 − P, with the
// weight transposed (Ci ⇄ Co) and flipped (t → KH·KW − 1 − t).
//
// Tiles: a forward thread computes B output channels × P consecutive output columns of RowsPerThread
// output rows of one image; index (X = row group·TilesX + column tile, Y = output-channel block, Z = n).
using ILGPU;
using ILGPU.Runtime;

namespace AttentionWise.Kernels;

/// <summary>The shape of a "valid" convolution pass over a padded input (see the file header). Passed by value.</summary>
public readonly struct ConvGeometry
{
    public ConvGeometry(int batch, int inChannels, int outChannels, int inH, int inW, int outH, int outW,
        int kernelH, int kernelW, int strideY, int strideX, int tilesX, int blocks, int rowsPerThread = 1)
    {
        Batch = batch;
        InChannels = inChannels;
        OutChannels = outChannels;
        InH = inH;
        InW = inW;
        OutH = outH;
        OutW = outW;
        KernelH = kernelH;
        KernelW = kernelW;
        StrideY = strideY;
        StrideX = strideX;
        TilesX = tilesX;
        Blocks = blocks;
        RowsPerThread = rowsPerThread;
    }

    public readonly int Batch;
    public readonly int InChannels;
    public readonly int OutChannels;

    /// <summary>Rows and columns of the (padded) input buffer.</summary>
    public readonly int InH;
    public readonly int InW;
    public readonly int OutH;
    public readonly int OutW;
    public readonly int KernelH;
    public readonly int KernelW;
    public readonly int StrideY;
    public readonly int StrideX;

    /// <summary>Column tiles per output row.</summary>
    public readonly int TilesX;

    /// <summary>Output-channel blocks (ceil(OutChannels / B)).</summary>
    public readonly int Blocks;

    /// <summary>Output rows per forward thread (more than one when the reduction per output is short).</summary>
    public readonly int RowsPerThread;

    /// <summary>Forward-family threads along X: row groups × column tiles.</summary>
    public int ThreadsX => (OutH + RowsPerThread - 1) / RowsPerThread * TilesX;

    public override string ToString() =>
        $"ConvGeometry(N {Batch}, {InChannels}→{OutChannels}, in {InH}×{InW}, out {OutH}×{OutW}, k {KernelH}×{KernelW}, s {StrideY}×{StrideX}, {TilesX} col tiles, {Blocks} ch blocks, {RowsPerThread} rows/thread)";
}

/// <summary>A zero-bordered copy (see <see cref="Conv2dKernels.Pad"/>). Passed by value.</summary>
public readonly struct PadGeometry
{
    public PadGeometry(int planes, int srcH, int srcW, int dstH, int dstW, int offY, int offX)
    {
        Planes = planes;
        SrcH = srcH;
        SrcW = srcW;
        DstH = dstH;
        DstW = dstW;
        OffY = offY;
        OffX = offX;
    }

    /// <summary>N·C planes.</summary>
    public readonly int Planes;
    public readonly int SrcH;
    public readonly int SrcW;
    public readonly int DstH;
    public readonly int DstW;

    /// <summary>Where the source's (0, 0) lands in the destination (may be negative: cropping).</summary>
    public readonly int OffY;
    public readonly int OffX;
}

public static class Conv2dKernels
{
    /// <summary>Thread r copies destination row r = plane·DstH + yd: dst[plane, yd, xd] = src[plane, yd − OffY, xd − OffX]
    /// where that lies inside the source, else 0.</summary>
    public static void Pad<TView>(Index1D row, ArrayView<float> dstView, ArrayView<float> srcView, PadGeometry g)
        where TView : struct, IKernelView<TView>
    {
        var dst = TView.Of(dstView);
        var src = TView.Of(srcView);
        int plane = row / g.DstH;
        int yd = row - plane * g.DstH;
        int ys = yd - g.OffY;
        int d = row * g.DstW;
        if (ys < 0 || ys >= g.SrcH)
        {
            for (int xd = 0; xd < g.DstW; xd++)
                dst[d + xd] = 0f;
            return;
        }
        // Columns xd with 0 ≤ xd − OffX < SrcW are copied; the rest are zero.
        int lo = g.OffX < 0 ? 0 : g.OffX;
        if (lo > g.DstW)
            lo = g.DstW;
        int hi = g.OffX + g.SrcW;
        if (hi > g.DstW)
            hi = g.DstW;
        if (hi < lo)
            hi = lo;
        int s = (plane * g.SrcH + ys) * g.SrcW - g.OffX;
        for (int xd = 0; xd < lo; xd++)
            dst[d + xd] = 0f;
        for (int xd = lo; xd < hi; xd++)
            dst[d + xd] = src[s + xd];
        for (int xd = hi; xd < g.DstW; xd++)
            dst[d + xd] = 0f;
    }

    /// <summary>Thread (ci, ob) writes wb[ob, ci, ·, ·] from w (see the header). <paramref name="mode"/> 0: forward,
    /// wb[ob, ci, t, j] = w[ob·B + j, ci, t] with w as [outCount, inCount, T]. Modes 1 and 2 swap the roles for the
    /// input gradient, w being [inCount, outCount, T]: 1 (transposed and flipped) wb[ob, ci, t, j] = w[ci, ob·B + j, T − 1 − t];
    /// 2 (transposed) wb[ob, ci, t, j] = w[ci, ob·B + j, t]. Past outCount the values are 0.</summary>
    public static void BlockWeights<TView>(Index2D index, ArrayView<float> wbView, ArrayView<float> wView,
        int outCount, int inCount, int taps, int blockSize, int mode)
        where TView : struct, IKernelView<TView>
    {
        var wb = TView.Of(wbView);
        var w = TView.Of(wView);
        int ci = index.X;
        int ob = index.Y;
        int d = (ob * inCount + ci) * taps * blockSize;
        for (int t = 0; t < taps; t++)
        {
            for (int j = 0; j < blockSize; j++)
            {
                int o = ob * blockSize + j;
                float v = 0f;
                if (o < outCount)
                {
                    if (mode == 0)
                        v = w[(o * inCount + ci) * taps + t];
                    else if (mode == 1)
                        v = w[(ci * outCount + o) * taps + (taps - 1 - t)];
                    else
                        v = w[(ci * outCount + o) * taps + t];
                }
                wb[d + t * blockSize + j] = v;
            }
        }
    }

    // ---------------------------------------------------------------------------------------------------
    // Forward tiles. Index (X = row group·TilesX + column tile, Y = output-channel block, Z = n). Each
    // variant computes B channels × P columns with B·P accumulators, for each row of its row group; "S1"
    // variants need StrideX = 1 and keep the P input values of a row in registers, shifting them by one
    // column per tap (one new load per tap); "K3" variants need KernelW = 3 and keep the 3 weights of a
    // kernel row in registers while each input value is loaded once.
    // ---------------------------------------------------------------------------------------------------

    /// <summary>Forward tile: 2 output channels × 4 output columns, column stride 1, any kernel and row stride.</summary>
    public static void ForwardS1C2P4<TView>(Index3D index, ArrayView<float> yView, ArrayView<float> xpView, ArrayView<float> wbView, ArrayView<float> biasView,
        ConvGeometry g, int hasBias)
        where TView : struct, IKernelView<TView>
    {
        var y = TView.Of(yView);
        var xp = TView.Of(xpView);
        var wb = TView.Of(wbView);
        var bias = TView.Of(biasView);
        int tile = index.X;
        int ob = index.Y;
        int n = index.Z;
        int group = tile / g.TilesX;
        int ox0 = (tile - group * g.TilesX) * 4;
        int oyEnd = (group + 1) * g.RowsPerThread;
        if (oyEnd > g.OutH)
            oyEnd = g.OutH;
        for (int oy = group * g.RowsPerThread; oy < oyEnd; oy++)
        {
            int kh = g.KernelH, kw = g.KernelW, inW = g.InW;
            int plane = g.InH * inW;
            int r = (n * g.InChannels * g.InH + oy * g.StrideY) * inW + ox0;
            int wi = ob * g.InChannels * kh * kw * 2;
            float a00 = 0f, a01 = 0f, a02 = 0f, a03 = 0f, a10 = 0f, a11 = 0f, a12 = 0f, a13 = 0f;
            for (int ci = 0; ci < g.InChannels; ci++)
            {
                int row = r;
                for (int ky = 0; ky < kh; ky++)
                {
                    float x0 = xp[row], x1 = xp[row + 1], x2 = xp[row + 2];
                    int e = row + 3;
                    int wEnd = wi + 2 * kw;
                    for (; wi < wEnd; wi += 2)
                    {
                        float x3 = xp[e];
                        float w0 = wb[wi];
                        a00 += w0 * x0;
                        a01 += w0 * x1;
                        a02 += w0 * x2;
                        a03 += w0 * x3;
                        float w1 = wb[wi + 1];
                        a10 += w1 * x0;
                        a11 += w1 * x1;
                        a12 += w1 * x2;
                        a13 += w1 * x3;
                        x0 = x1;
                        x1 = x2;
                        x2 = x3;
                        e++;
                    }
                    row += inW;
                }
                r += plane;
            }
            int co = ob * 2;
            int cols = g.OutW - ox0;
            int o = ((n * g.OutChannels + co) * g.OutH + oy) * g.OutW + ox0;
            float b0 = hasBias != 0 ? bias[co] : 0f;
            Store4(y, o, cols, a00 + b0, a01 + b0, a02 + b0, a03 + b0);
            if (co + 1 < g.OutChannels)
            {
                float b1 = hasBias != 0 ? bias[co + 1] : 0f;
                Store4(y, o + g.OutH * g.OutW, cols, a10 + b1, a11 + b1, a12 + b1, a13 + b1);
            }
        }
    }

    /// <summary>Forward tile: 2 output channels × 4 output columns, column stride 1, KernelW = 3: the 6 weights of a
    /// kernel row stay in registers and each of the 6 input values of the row is loaded once.</summary>
    public static void ForwardS1C2P4K3<TView>(Index3D index, ArrayView<float> yView, ArrayView<float> xpView, ArrayView<float> wbView, ArrayView<float> biasView,
        ConvGeometry g, int hasBias)
        where TView : struct, IKernelView<TView>
    {
        var y = TView.Of(yView);
        var xp = TView.Of(xpView);
        var wb = TView.Of(wbView);
        var bias = TView.Of(biasView);
        int tile = index.X;
        int ob = index.Y;
        int n = index.Z;
        int group = tile / g.TilesX;
        int ox0 = (tile - group * g.TilesX) * 4;
        int oyEnd = (group + 1) * g.RowsPerThread;
        if (oyEnd > g.OutH)
            oyEnd = g.OutH;
        int kh = g.KernelH, inW = g.InW;
        int plane = g.InH * inW;
        int co = ob * 2;
        int cols = g.OutW - ox0;
        float b0 = hasBias != 0 ? bias[co] : 0f;
        float b1 = hasBias != 0 && co + 1 < g.OutChannels ? bias[co + 1] : 0f;
        for (int oy = group * g.RowsPerThread; oy < oyEnd; oy++)
        {
            int r = (n * g.InChannels * g.InH + oy * g.StrideY) * inW + ox0;
            int wi = ob * g.InChannels * kh * 6;
            float a00 = 0f, a01 = 0f, a02 = 0f, a03 = 0f, a10 = 0f, a11 = 0f, a12 = 0f, a13 = 0f;
            for (int ci = 0; ci < g.InChannels; ci++)
            {
                int row = r;
                for (int ky = 0; ky < kh; ky++)
                {
                    // Blocked layout [t][2]: (w0k, w1k) for tap k.
                    float w00 = wb[wi], w10 = wb[wi + 1], w01 = wb[wi + 2], w11 = wb[wi + 3], w02 = wb[wi + 4], w12 = wb[wi + 5];
                    wi += 6;
                    float x = xp[row];
                    a00 += w00 * x;
                    a10 += w10 * x;
                    x = xp[row + 1];
                    a00 += w01 * x;
                    a01 += w00 * x;
                    a10 += w11 * x;
                    a11 += w10 * x;
                    x = xp[row + 2];
                    a00 += w02 * x;
                    a01 += w01 * x;
                    a02 += w00 * x;
                    a10 += w12 * x;
                    a11 += w11 * x;
                    a12 += w10 * x;
                    x = xp[row + 3];
                    a01 += w02 * x;
                    a02 += w01 * x;
                    a03 += w00 * x;
                    a11 += w12 * x;
                    a12 += w11 * x;
                    a13 += w10 * x;
                    x = xp[row + 4];
                    a02 += w02 * x;
                    a03 += w01 * x;
                    a12 += w12 * x;
                    a13 += w11 * x;
                    x = xp[row + 5];
                    a03 += w02 * x;
                    a13 += w12 * x;
                    row += inW;
                }
                r += plane;
            }
            int o = ((n * g.OutChannels + co) * g.OutH + oy) * g.OutW + ox0;
            Store4(y, o, cols, a00 + b0, a01 + b0, a02 + b0, a03 + b0);
            if (co + 1 < g.OutChannels)
                Store4(y, o + g.OutH * g.OutW, cols, a10 + b1, a11 + b1, a12 + b1, a13 + b1);
        }
    }

    /// <summary>Forward tile: 1 output channel × 6 output columns, column stride 1, any kernel and row stride
    /// (for convolutions with very few output channels).</summary>
    public static void ForwardS1C1P6<TView>(Index3D index, ArrayView<float> yView, ArrayView<float> xpView, ArrayView<float> wbView, ArrayView<float> biasView,
        ConvGeometry g, int hasBias)
        where TView : struct, IKernelView<TView>
    {
        var y = TView.Of(yView);
        var xp = TView.Of(xpView);
        var wb = TView.Of(wbView);
        var bias = TView.Of(biasView);
        int tile = index.X;
        int co = index.Y;
        int n = index.Z;
        int group = tile / g.TilesX;
        int ox0 = (tile - group * g.TilesX) * 6;
        int oyEnd = (group + 1) * g.RowsPerThread;
        if (oyEnd > g.OutH)
            oyEnd = g.OutH;
        for (int oy = group * g.RowsPerThread; oy < oyEnd; oy++)
        {
            int kh = g.KernelH, kw = g.KernelW, inW = g.InW;
            int plane = g.InH * inW;
            int r = (n * g.InChannels * g.InH + oy * g.StrideY) * inW + ox0;
            int wi = co * g.InChannels * kh * kw;
            float a0 = 0f, a1 = 0f, a2 = 0f, a3 = 0f, a4 = 0f, a5 = 0f;
            for (int ci = 0; ci < g.InChannels; ci++)
            {
                int row = r;
                for (int ky = 0; ky < kh; ky++)
                {
                    float x0 = xp[row], x1 = xp[row + 1], x2 = xp[row + 2], x3 = xp[row + 3], x4 = xp[row + 4];
                    int e = row + 5;
                    int wEnd = wi + kw;
                    for (; wi < wEnd; wi++)
                    {
                        float x5 = xp[e];
                        float w0 = wb[wi];
                        a0 += w0 * x0;
                        a1 += w0 * x1;
                        a2 += w0 * x2;
                        a3 += w0 * x3;
                        a4 += w0 * x4;
                        a5 += w0 * x5;
                        x0 = x1;
                        x1 = x2;
                        x2 = x3;
                        x3 = x4;
                        x4 = x5;
                        e++;
                    }
                    row += inW;
                }
                r += plane;
            }
            int cols = g.OutW - ox0;
            int o = ((n * g.OutChannels + co) * g.OutH + oy) * g.OutW + ox0;
            float b = hasBias != 0 ? bias[co] : 0f;
            Store4(y, o, cols, a0 + b, a1 + b, a2 + b, a3 + b);
            if (cols > 4)
                y[o + 4] = a4 + b;
            if (cols > 5)
                y[o + 5] = a5 + b;
        }
    }

    /// <summary>Forward tile: 1 output channel × 8 output columns, column stride 1, KernelW = 3 (for convolutions
    /// with very few output channels): the 3 weights of a kernel row stay in registers and each of the 10 input
    /// values of the row is loaded once.</summary>
    public static void ForwardS1C1P8K3<TView>(Index3D index, ArrayView<float> yView, ArrayView<float> xpView, ArrayView<float> wbView, ArrayView<float> biasView,
        ConvGeometry g, int hasBias)
        where TView : struct, IKernelView<TView>
    {
        var y = TView.Of(yView);
        var xp = TView.Of(xpView);
        var wb = TView.Of(wbView);
        var bias = TView.Of(biasView);
        int tile = index.X;
        int co = index.Y;
        int n = index.Z;
        int group = tile / g.TilesX;
        int ox0 = (tile - group * g.TilesX) * 8;
        int oyEnd = (group + 1) * g.RowsPerThread;
        if (oyEnd > g.OutH)
            oyEnd = g.OutH;
        int kh = g.KernelH, inW = g.InW;
        int plane = g.InH * inW;
        int cols = g.OutW - ox0;
        float b = hasBias != 0 ? bias[co] : 0f;
        for (int oy = group * g.RowsPerThread; oy < oyEnd; oy++)
        {
            int r = (n * g.InChannels * g.InH + oy * g.StrideY) * inW + ox0;
            int wi = co * g.InChannels * kh * 3;
            float a0 = 0f, a1 = 0f, a2 = 0f, a3 = 0f, a4 = 0f, a5 = 0f, a6 = 0f, a7 = 0f;
            for (int ci = 0; ci < g.InChannels; ci++)
            {
                int row = r;
                for (int ky = 0; ky < kh; ky++)
                {
                    float w0 = wb[wi], w1 = wb[wi + 1], w2 = wb[wi + 2];
                    wi += 3;
                    float x = xp[row];
                    a0 += w0 * x;
                    x = xp[row + 1];
                    a0 += w1 * x;
                    a1 += w0 * x;
                    x = xp[row + 2];
                    a0 += w2 * x;
                    a1 += w1 * x;
                    a2 += w0 * x;
                    x = xp[row + 3];
                    a1 += w2 * x;
                    a2 += w1 * x;
                    a3 += w0 * x;
                    x = xp[row + 4];
                    a2 += w2 * x;
                    a3 += w1 * x;
                    a4 += w0 * x;
                    x = xp[row + 5];
                    a3 += w2 * x;
                    a4 += w1 * x;
                    a5 += w0 * x;
                    x = xp[row + 6];
                    a4 += w2 * x;
                    a5 += w1 * x;
                    a6 += w0 * x;
                    x = xp[row + 7];
                    a5 += w2 * x;
                    a6 += w1 * x;
                    a7 += w0 * x;
                    x = xp[row + 8];
                    a6 += w2 * x;
                    a7 += w1 * x;
                    x = xp[row + 9];
                    a7 += w2 * x;
                    row += inW;
                }
                r += plane;
            }
            int o = ((n * g.OutChannels + co) * g.OutH + oy) * g.OutW + ox0;
            Store4(y, o, cols, a0 + b, a1 + b, a2 + b, a3 + b);
            if (cols > 4)
                Store4(y, o + 4, cols - 4, a4 + b, a5 + b, a6 + b, a7 + b);
        }
    }

    /// <summary>Forward tile: 4 output channels × 2 output columns, any kernel size and stride.</summary>
    public static void ForwardC4P2<TView>(Index3D index, ArrayView<float> yView, ArrayView<float> xpView, ArrayView<float> wbView, ArrayView<float> biasView,
        ConvGeometry g, int hasBias)
        where TView : struct, IKernelView<TView>
    {
        var y = TView.Of(yView);
        var xp = TView.Of(xpView);
        var wb = TView.Of(wbView);
        var bias = TView.Of(biasView);
        int tile = index.X;
        int ob = index.Y;
        int n = index.Z;
        int group = tile / g.TilesX;
        int ox0 = (tile - group * g.TilesX) * 2;
        int oyEnd = (group + 1) * g.RowsPerThread;
        if (oyEnd > g.OutH)
            oyEnd = g.OutH;
        for (int oy = group * g.RowsPerThread; oy < oyEnd; oy++)
        {
            int kh = g.KernelH, kw = g.KernelW, inW = g.InW;
            int plane = g.InH * inW;
            int sx = g.StrideX;
            // A partial last tile reads its missing column from the last valid one (computed, not stored), so the
            // input needs no slack past its padded width.
            int d1 = (ox0 + 1 < g.OutW ? 1 : 0) * sx;
            int r = (n * g.InChannels * g.InH + oy * g.StrideY) * inW + ox0 * sx;
            int wi = ob * g.InChannels * kh * kw * 4;
            float a00 = 0f, a01 = 0f, a10 = 0f, a11 = 0f, a20 = 0f, a21 = 0f, a30 = 0f, a31 = 0f;
            for (int ci = 0; ci < g.InChannels; ci++)
            {
                int row = r;
                for (int ky = 0; ky < kh; ky++)
                {
                    int e = row;
                    int wEnd = wi + 4 * kw;
                    for (; wi < wEnd; wi += 4)
                    {
                        float x0 = xp[e];
                        float x1 = xp[e + d1];
                        float w0 = wb[wi];
                        a00 += w0 * x0;
                        a01 += w0 * x1;
                        float w1 = wb[wi + 1];
                        a10 += w1 * x0;
                        a11 += w1 * x1;
                        float w2 = wb[wi + 2];
                        a20 += w2 * x0;
                        a21 += w2 * x1;
                        float w3 = wb[wi + 3];
                        a30 += w3 * x0;
                        a31 += w3 * x1;
                        e++;
                    }
                    row += inW;
                }
                r += plane;
            }
            int co = ob * 4;
            int outPlane = g.OutH * g.OutW;
            int o = ((n * g.OutChannels + co) * g.OutH + oy) * g.OutW + ox0;
            bool second = ox0 + 1 < g.OutW;
            StorePair(y, o, a00, a01, second, hasBias != 0 ? bias[co] : 0f);
            if (co + 1 < g.OutChannels)
                StorePair(y, o + outPlane, a10, a11, second, hasBias != 0 ? bias[co + 1] : 0f);
            if (co + 2 < g.OutChannels)
                StorePair(y, o + 2 * outPlane, a20, a21, second, hasBias != 0 ? bias[co + 2] : 0f);
            if (co + 3 < g.OutChannels)
                StorePair(y, o + 3 * outPlane, a30, a31, second, hasBias != 0 ? bias[co + 3] : 0f);
        }
    }

    /// <summary>Forward tile: 4 output channels × 3 output columns, any kernel size and stride.</summary>
    public static void ForwardC4P3<TView>(Index3D index, ArrayView<float> yView, ArrayView<float> xpView, ArrayView<float> wbView, ArrayView<float> biasView,
        ConvGeometry g, int hasBias)
        where TView : struct, IKernelView<TView>
    {
        var y = TView.Of(yView);
        var xp = TView.Of(xpView);
        var wb = TView.Of(wbView);
        var bias = TView.Of(biasView);
        int tile = index.X;
        int ob = index.Y;
        int n = index.Z;
        int group = tile / g.TilesX;
        int ox0 = (tile - group * g.TilesX) * 3;
        int oyEnd = (group + 1) * g.RowsPerThread;
        if (oyEnd > g.OutH)
            oyEnd = g.OutH;
        for (int oy = group * g.RowsPerThread; oy < oyEnd; oy++)
        {
            int kh = g.KernelH, kw = g.KernelW, inW = g.InW;
            int plane = g.InH * inW;
            int sx = g.StrideX;
            // Missing columns of a partial last tile read the last valid one (computed, not stored). The offset of
            // the third column is min(2, OutW − 1 − ox0)·sx (ox0 < OutW), not the nested select
            // (ox0 + 2 < OutW ? 2 : ox0 + 1 < OutW ? 1 : 0)·sx: ILGPU 1.5.3 compiles that to ((c1 | c2) ? 1 : 0)·sx for
            // OpenCL and PTX, so the third column read the second one's input (docs/ilgpu-bugs.md).
            int d1 = (ox0 + 1 < g.OutW ? 1 : 0) * sx;
            int d2 = Math.Min(2, g.OutW - 1 - ox0) * sx;
            int r = (n * g.InChannels * g.InH + oy * g.StrideY) * inW + ox0 * sx;
            int wi = ob * g.InChannels * kh * kw * 4;
            float a00 = 0f, a01 = 0f, a02 = 0f, a10 = 0f, a11 = 0f, a12 = 0f, a20 = 0f, a21 = 0f, a22 = 0f, a30 = 0f, a31 = 0f, a32 = 0f;
            for (int ci = 0; ci < g.InChannels; ci++)
            {
                int row = r;
                for (int ky = 0; ky < kh; ky++)
                {
                    int e = row;
                    int wEnd = wi + 4 * kw;
                    for (; wi < wEnd; wi += 4)
                    {
                        float x0 = xp[e];
                        float x1 = xp[e + d1];
                        float x2 = xp[e + d2];
                        float w0 = wb[wi];
                        a00 += w0 * x0;
                        a01 += w0 * x1;
                        a02 += w0 * x2;
                        float w1 = wb[wi + 1];
                        a10 += w1 * x0;
                        a11 += w1 * x1;
                        a12 += w1 * x2;
                        float w2 = wb[wi + 2];
                        a20 += w2 * x0;
                        a21 += w2 * x1;
                        a22 += w2 * x2;
                        float w3 = wb[wi + 3];
                        a30 += w3 * x0;
                        a31 += w3 * x1;
                        a32 += w3 * x2;
                        e++;
                    }
                    row += inW;
                }
                r += plane;
            }
            int co = ob * 4;
            int outPlane = g.OutH * g.OutW;
            int cols = g.OutW - ox0;
            int o = ((n * g.OutChannels + co) * g.OutH + oy) * g.OutW + ox0;
            float b = hasBias != 0 ? bias[co] : 0f;
            Store3(y, o, cols, a00 + b, a01 + b, a02 + b);
            if (co + 1 < g.OutChannels)
            {
                b = hasBias != 0 ? bias[co + 1] : 0f;
                Store3(y, o + outPlane, cols, a10 + b, a11 + b, a12 + b);
            }
            if (co + 2 < g.OutChannels)
            {
                b = hasBias != 0 ? bias[co + 2] : 0f;
                Store3(y, o + 2 * outPlane, cols, a20 + b, a21 + b, a22 + b);
            }
            if (co + 3 < g.OutChannels)
            {
                b = hasBias != 0 ? bias[co + 3] : 0f;
                Store3(y, o + 3 * outPlane, cols, a30 + b, a31 + b, a32 + b);
            }
        }
    }

    private static void StorePair<TView>(TView y, int o, float v0, float v1, bool second, float b)
        where TView : struct, IKernelView<TView>
    {
        y[o] = v0 + b;
        if (second)
            y[o + 1] = v1 + b;
    }

    private static void Store3<TView>(TView y, int o, int cols, float v0, float v1, float v2)
        where TView : struct, IKernelView<TView>
    {
        y[o] = v0;
        if (cols > 1)
            y[o + 1] = v1;
        if (cols > 2)
            y[o + 2] = v2;
    }

    private static void Store4<TView>(TView y, int o, int cols, float v0, float v1, float v2, float v3)
        where TView : struct, IKernelView<TView>
    {
        y[o] = v0;
        if (cols > 1)
            y[o + 1] = v1;
        if (cols > 2)
            y[o + 2] = v2;
        if (cols > 3)
            y[o + 3] = v3;
    }

    // ---------------------------------------------------------------------------------------------------
    // Weight gradient: gw[co, ci, ky, kx] += Σ_{n, oy, ox} gy[n, co, oy, ox] · xp[n, ci, oy·SY + ky, ox·SX + kx].
    // A thread owns a small block of weights and reduces over the images [FirstImage, EndImage) of its
    // slice (index Y) and every output position, in a fixed order; no atomics. With Partial = 0 it adds
    // its sums into gw (one slice, the host launches once per group of images so that the group stays in
    // cache); with Partial = 1 it writes them to partials[slice, ·], which WeightGradCombine folds into gw.
    // ---------------------------------------------------------------------------------------------------

    /// <summary>Weight-gradient tile: 3 output channels × 3 consecutive taps kx (one kernel row ky of one input
    /// channel), column stride 1 (the 3 input values slide by one column per output column). Index X =
    /// ((coBlock·Ci + ci)·KH + ky)·(KW/3) + kxBlock; needs KW divisible by 3.</summary>
    public static void WeightGradS1C3K3<TView>(Index2D index, ArrayView<float> targetView, ArrayView<float> gyView, ArrayView<float> xpView,
        ConvGeometry g, WeightGradRange range)
        where TView : struct, IKernelView<TView>
    {
        var target = TView.Of(targetView);
        var gy = TView.Of(gyView);
        var xp = TView.Of(xpView);
        int kxBlocks = g.KernelW / 3;
        int tile = index.X;
        int kxb = tile % kxBlocks;
        tile /= kxBlocks;
        int ky = tile % g.KernelH;
        tile /= g.KernelH;
        int ci = tile % g.InChannels;
        int cb = tile / g.InChannels;
        int co = cb * 3;
        int kx0 = kxb * 3;
        // Channels past the last are clamped (computed, not stored).
        int c1 = co + 1 < g.OutChannels ? co + 1 : co;
        int c2 = co + 2 < g.OutChannels ? co + 2 : co;
        int outPlane = g.OutH * g.OutW;
        int d1 = (c1 - co) * outPlane;
        int d2 = (c2 - co) * outPlane;
        int first = range.FirstImage + index.Y * range.ImagesPerSlice;
        int end = first + range.ImagesPerSlice;
        if (end > range.EndImage)
            end = range.EndImage;
        int wo = g.OutW;
        float a00 = 0f, a01 = 0f, a02 = 0f, a10 = 0f, a11 = 0f, a12 = 0f, a20 = 0f, a21 = 0f, a22 = 0f;
        for (int n = first; n < end; n++)
        {
            int gr = (n * g.OutChannels + co) * outPlane;
            int xr = ((n * g.InChannels + ci) * g.InH + ky) * g.InW + kx0;
            int xStep = g.StrideY * g.InW;
            for (int oy = 0; oy < g.OutH; oy++)
            {
                float x0 = xp[xr], x1 = xp[xr + 1];
                int e = xr + 2;
                int gEnd = gr + wo;
                for (int q = gr; q < gEnd; q++)
                {
                    float x2 = xp[e];
                    float g0 = gy[q];
                    a00 += g0 * x0;
                    a01 += g0 * x1;
                    a02 += g0 * x2;
                    float g1 = gy[q + d1];
                    a10 += g1 * x0;
                    a11 += g1 * x1;
                    a12 += g1 * x2;
                    float g2 = gy[q + d2];
                    a20 += g2 * x0;
                    a21 += g2 * x1;
                    a22 += g2 * x2;
                    x0 = x1;
                    x1 = x2;
                    e++;
                }
                gr += wo;
                xr += xStep;
            }
        }
        int taps = g.KernelH * g.KernelW;
        int w0 = (co * g.InChannels + ci) * taps + ky * g.KernelW + kx0;
        int ws = g.InChannels * taps;
        StoreWeight3(target, range, index.Y, w0, a00, a01, a02);
        if (co + 1 < g.OutChannels)
            StoreWeight3(target, range, index.Y, w0 + ws, a10, a11, a12);
        if (co + 2 < g.OutChannels)
            StoreWeight3(target, range, index.Y, w0 + 2 * ws, a20, a21, a22);
    }

    /// <summary>Weight-gradient tile: 1 output channel × 2 input channels × 3 consecutive taps kx, column stride 1
    /// (for convolutions with very few output channels). Index X = ((co·ceil(Ci/2) + ciPair)·KH + ky)·(KW/3) + kxBlock;
    /// needs KW divisible by 3.</summary>
    public static void WeightGradS1C1I2K3<TView>(Index2D index, ArrayView<float> targetView, ArrayView<float> gyView, ArrayView<float> xpView,
        ConvGeometry g, WeightGradRange range)
        where TView : struct, IKernelView<TView>
    {
        var target = TView.Of(targetView);
        var gy = TView.Of(gyView);
        var xp = TView.Of(xpView);
        int kxBlocks = g.KernelW / 3;
        int pairs = (g.InChannels + 1) / 2;
        int tile = index.X;
        int kxb = tile % kxBlocks;
        tile /= kxBlocks;
        int ky = tile % g.KernelH;
        tile /= g.KernelH;
        int cp = tile % pairs;
        int co = tile / pairs;
        int ci = cp * 2;
        int kx0 = kxb * 3;
        int inPlane = g.InH * g.InW;
        // A missing second input channel is clamped to the first (computed, not stored).
        int dx = ci + 1 < g.InChannels ? inPlane : 0;
        int outPlane = g.OutH * g.OutW;
        int first = range.FirstImage + index.Y * range.ImagesPerSlice;
        int end = first + range.ImagesPerSlice;
        if (end > range.EndImage)
            end = range.EndImage;
        int wo = g.OutW;
        float a00 = 0f, a01 = 0f, a02 = 0f, a10 = 0f, a11 = 0f, a12 = 0f;
        for (int n = first; n < end; n++)
        {
            int gr = (n * g.OutChannels + co) * outPlane;
            int xr = ((n * g.InChannels + ci) * g.InH + ky) * g.InW + kx0;
            int xStep = g.StrideY * g.InW;
            for (int oy = 0; oy < g.OutH; oy++)
            {
                float x0 = xp[xr], x1 = xp[xr + 1];
                float z0 = xp[xr + dx], z1 = xp[xr + dx + 1];
                int e = xr + 2;
                int gEnd = gr + wo;
                for (int q = gr; q < gEnd; q++)
                {
                    float gv = gy[q];
                    float x2 = xp[e];
                    a00 += gv * x0;
                    a01 += gv * x1;
                    a02 += gv * x2;
                    float z2 = xp[e + dx];
                    a10 += gv * z0;
                    a11 += gv * z1;
                    a12 += gv * z2;
                    x0 = x1;
                    x1 = x2;
                    z0 = z1;
                    z1 = z2;
                    e++;
                }
                gr += wo;
                xr += xStep;
            }
        }
        int taps = g.KernelH * g.KernelW;
        int w0 = (co * g.InChannels + ci) * taps + ky * g.KernelW + kx0;
        StoreWeight3(target, range, index.Y, w0, a00, a01, a02);
        if (ci + 1 < g.InChannels)
            StoreWeight3(target, range, index.Y, w0 + taps, a10, a11, a12);
    }

    /// <summary>Weight-gradient tile: 4 output channels × 2 consecutive taps kx, any kernel size and stride. Index X =
    /// ((coBlock·Ci + ci)·KH + ky)·ceil(KW/2) + kxBlock. A missing second tap or channel is clamped (not stored).</summary>
    public static void WeightGradC4K2<TView>(Index2D index, ArrayView<float> targetView, ArrayView<float> gyView, ArrayView<float> xpView,
        ConvGeometry g, WeightGradRange range)
        where TView : struct, IKernelView<TView>
    {
        var target = TView.Of(targetView);
        var gy = TView.Of(gyView);
        var xp = TView.Of(xpView);
        int kxBlocks = (g.KernelW + 1) / 2;
        int tile = index.X;
        int kxb = tile % kxBlocks;
        tile /= kxBlocks;
        int ky = tile % g.KernelH;
        tile /= g.KernelH;
        int ci = tile % g.InChannels;
        int cb = tile / g.InChannels;
        int co = cb * 4;
        int kx0 = kxb * 2;
        int k1 = kx0 + 1 < g.KernelW ? 1 : 0;
        int outPlane = g.OutH * g.OutW;
        int d1 = (co + 1 < g.OutChannels ? 1 : 0) * outPlane;
        int d2 = (co + 2 < g.OutChannels ? 2 : 0) * outPlane;
        int d3 = (co + 3 < g.OutChannels ? 3 : 0) * outPlane;
        int first = range.FirstImage + index.Y * range.ImagesPerSlice;
        int end = first + range.ImagesPerSlice;
        if (end > range.EndImage)
            end = range.EndImage;
        int wo = g.OutW;
        int sx = g.StrideX;
        float a00 = 0f, a01 = 0f, a10 = 0f, a11 = 0f, a20 = 0f, a21 = 0f, a30 = 0f, a31 = 0f;
        for (int n = first; n < end; n++)
        {
            int gr = (n * g.OutChannels + co) * outPlane;
            int xr = ((n * g.InChannels + ci) * g.InH + ky) * g.InW + kx0;
            int xStep = g.StrideY * g.InW;
            for (int oy = 0; oy < g.OutH; oy++)
            {
                int e = xr;
                int gEnd = gr + wo;
                for (int q = gr; q < gEnd; q++)
                {
                    float x0 = xp[e];
                    float x1 = xp[e + k1];
                    float g0 = gy[q];
                    a00 += g0 * x0;
                    a01 += g0 * x1;
                    float g1 = gy[q + d1];
                    a10 += g1 * x0;
                    a11 += g1 * x1;
                    float g2 = gy[q + d2];
                    a20 += g2 * x0;
                    a21 += g2 * x1;
                    float g3 = gy[q + d3];
                    a30 += g3 * x0;
                    a31 += g3 * x1;
                    e += sx;
                }
                gr += wo;
                xr += xStep;
            }
        }
        int taps = g.KernelH * g.KernelW;
        int w0 = (co * g.InChannels + ci) * taps + ky * g.KernelW + kx0;
        int ws = g.InChannels * taps;
        StoreWeight2(target, range, index.Y, w0, k1, a00, a01);
        if (co + 1 < g.OutChannels)
            StoreWeight2(target, range, index.Y, w0 + ws, k1, a10, a11);
        if (co + 2 < g.OutChannels)
            StoreWeight2(target, range, index.Y, w0 + 2 * ws, k1, a20, a21);
        if (co + 3 < g.OutChannels)
            StoreWeight2(target, range, index.Y, w0 + 3 * ws, k1, a30, a31);
    }

    private static void StoreWeight3<TView>(TView target, WeightGradRange range, int slice, int w, float v0, float v1, float v2)
        where TView : struct, IKernelView<TView>
    {
        if (range.Partial != 0)
        {
            int p = slice * range.WeightLength + w;
            target[p] = v0;
            target[p + 1] = v1;
            target[p + 2] = v2;
        }
        else
        {
            target[w] += v0;
            target[w + 1] += v1;
            target[w + 2] += v2;
        }
    }

    private static void StoreWeight2<TView>(TView target, WeightGradRange range, int slice, int w, int second, float v0, float v1)
        where TView : struct, IKernelView<TView>
    {
        if (range.Partial != 0)
        {
            int p = slice * range.WeightLength + w;
            target[p] = v0;
            if (second != 0)
                target[p + 1] = v1;
        }
        else
        {
            target[w] += v0;
            if (second != 0)
                target[w + 1] += v1;
        }
    }

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

    // ---------------------------------------------------------------------------------------------------
    // Input gradient of a strided convolution, by phases. Input column ix has phase r = (ix + PX) mod SX and
    // q = (ix + PX) div SX; it receives the taps kx = r + SX·u from output columns ox = q − u (likewise rows).
    // A thread computes 4 input channels × 2 input columns of one phase (q, q + 1) of one input row, reading
    // the output gradient from a zero-bordered copy gyp [N, Co, Hg, Wg] (gyp[oy + OffY, ox + OffX] = gy[oy, ox])
    // and the weight re-laid out as wbT [ceil(Ci/4), Co, KH·KW, 4] (BlockWeights mode 2).
    // Index (X = (iy·SX + r)·TilesQ + q tile, Y = input-channel block, Z = n).
    // ---------------------------------------------------------------------------------------------------

    public static void BackwardInputPhased<TView>(Index3D index, ArrayView<float> gxView, ArrayView<float> gypView, ArrayView<float> wbTView, PhaseGeometry p)
        where TView : struct, IKernelView<TView>
    {
        var gx = TView.Of(gxView);
        var gyp = TView.Of(gypView);
        var wbT = TView.Of(wbTView);
        int perRow = p.StrideX * p.TilesQ;
        int iy = index.X / perRow;
        int rest = index.X - iy * perRow;
        int r = rest / p.TilesQ;
        int tq = rest - r * p.TilesQ;
        int cb = index.Y;
        int n = index.Z;

        int a = p.PadX - r;
        int qlo = a > 0 ? (a + p.StrideX - 1) / p.StrideX : 0;
        int q0 = qlo + tq * 2;
        int ix0 = p.StrideX * q0 + r - p.PadX;
        if (ix0 >= p.W)
            return;
        int ix1 = ix0 + p.StrideX;
        int ry = (iy + p.PadY) % p.StrideY;
        int qy = (iy + p.PadY) / p.StrideY;
        int taps = p.KernelH * p.KernelW;
        int gPlane = p.Hg * p.Wg;

        float a00 = 0f, a01 = 0f, a10 = 0f, a11 = 0f, a20 = 0f, a21 = 0f, a30 = 0f, a31 = 0f;
        for (int ky = ry; ky < p.KernelH; ky += p.StrideY)
        {
            int oy = qy - (ky - ry) / p.StrideY;
            int gRow = ((n * p.OutChannels) * p.Hg + oy + p.OffY) * p.Wg + p.OffX + q0;
            int wRow = (cb * p.OutChannels * taps + ky * p.KernelW) * 4;
            for (int co = 0; co < p.OutChannels; co++)
            {
                int gq = gRow;
                for (int kx = r; kx < p.KernelW; kx += p.StrideX)
                {
                    float g0 = gyp[gq];
                    float g1 = gyp[gq + 1];
                    int wi = wRow + kx * 4;
                    float w0 = wbT[wi];
                    a00 += w0 * g0;
                    a01 += w0 * g1;
                    float w1 = wbT[wi + 1];
                    a10 += w1 * g0;
                    a11 += w1 * g1;
                    float w2 = wbT[wi + 2];
                    a20 += w2 * g0;
                    a21 += w2 * g1;
                    float w3 = wbT[wi + 3];
                    a30 += w3 * g0;
                    a31 += w3 * g1;
                    gq--;
                }
                gRow += gPlane;
                wRow += taps * 4;
            }
        }
        int ci = cb * 4;
        int plane = p.H * p.W;
        int o = ((n * p.InChannels + ci) * p.H + iy) * p.W + ix0;
        bool second = ix1 < p.W;
        int d = ix1 - ix0;
        StoreStrided(gx, o, d, second, a00, a01);
        if (ci + 1 < p.InChannels)
            StoreStrided(gx, o + plane, d, second, a10, a11);
        if (ci + 2 < p.InChannels)
            StoreStrided(gx, o + 2 * plane, d, second, a20, a21);
        if (ci + 3 < p.InChannels)
            StoreStrided(gx, o + 3 * plane, d, second, a30, a31);
    }

    private static void StoreStrided<TView>(TView y, int o, int d, bool second, float v0, float v1)
        where TView : struct, IKernelView<TView>
    {
        y[o] = v0;
        if (second)
            y[o + d] = v1;
    }
}

/// <summary>Which images a weight-gradient launch reduces over, and where its sums go (see
/// <see cref="Conv2dKernels.WeightGradS1C3K3"/>). Passed by value.</summary>
public readonly struct WeightGradRange
{
    public WeightGradRange(int firstImage, int endImage, int imagesPerSlice, int partial, int weightLength)
    {
        FirstImage = firstImage;
        EndImage = endImage;
        ImagesPerSlice = imagesPerSlice;
        Partial = partial;
        WeightLength = weightLength;
    }

    public readonly int FirstImage;

    /// <summary>One past the last image.</summary>
    public readonly int EndImage;

    /// <summary>Images per slice (index Y); slice s covers FirstImage + s·ImagesPerSlice onwards.</summary>
    public readonly int ImagesPerSlice;

    /// <summary>0: add into the gradient; 1: write partials[slice, ·].</summary>
    public readonly int Partial;

    /// <summary>Co·Ci·KH·KW (the stride between slices of the partials).</summary>
    public readonly int WeightLength;
}

/// <summary>The geometry of <see cref="Conv2dKernels.BackwardInputPhased"/>. Passed by value.</summary>
public readonly struct PhaseGeometry
{
    public PhaseGeometry(int inChannels, int outChannels, int h, int w, int kernelH, int kernelW, int strideY, int strideX,
        int padY, int padX, int hg, int wg, int offY, int offX, int tilesQ)
    {
        InChannels = inChannels;
        OutChannels = outChannels;
        H = h;
        W = w;
        KernelH = kernelH;
        KernelW = kernelW;
        StrideY = strideY;
        StrideX = strideX;
        PadY = padY;
        PadX = padX;
        Hg = hg;
        Wg = wg;
        OffY = offY;
        OffX = offX;
        TilesQ = tilesQ;
    }

    public readonly int InChannels;
    public readonly int OutChannels;

    /// <summary>Rows and columns of the input (and of its gradient).</summary>
    public readonly int H;
    public readonly int W;
    public readonly int KernelH;
    public readonly int KernelW;
    public readonly int StrideY;
    public readonly int StrideX;
    public readonly int PadY;
    public readonly int PadX;

    /// <summary>Rows and columns of the zero-bordered output gradient.</summary>
    public readonly int Hg;
    public readonly int Wg;
    public readonly int OffY;
    public readonly int OffX;

    /// <summary>Column tiles (of 2) per phase.</summary>
    public readonly int TilesQ;
}

/// <summary>The convolution kernels, loaded once per device: the register-tiled kernels on the cpu device, the implicit-GEMM
/// kernels (ConvGemmKernels) on GPU-shaped ones; the properties of the other kind's variants stay null.</summary>
public sealed class Conv2dKernelSet : IKernelSet<Conv2dKernelSet>
{
    private Conv2dKernelSet(KernelLoader loader)
    {
        if (loader.HostViews)
            Init<HostView>(loader);
        else
            Init<DeviceView>(loader);
        if (loader.GpuShaped)
            InitGpu(loader);
    }

    private void Init<TView>(KernelLoader loader)
        where TView : struct, IKernelView<TView>
    {
        WeightGradCombine = loader.Load<Index1D, ArrayView<float>, ArrayView<float>, int, LaunchLayout>(Conv2dKernels.WeightGradCombine<TView>);
        if (loader.GpuShaped)
            return;
        Pad = loader.Load<Index1D, ArrayView<float>, ArrayView<float>, PadGeometry>(Conv2dKernels.Pad<TView>);
        BlockWeights = loader.Load<Index2D, ArrayView<float>, ArrayView<float>, int, int, int, int, int>(Conv2dKernels.BlockWeights<TView>);
        ForwardS1C2P4 = LoadForward(loader, Conv2dKernels.ForwardS1C2P4<TView>);
        ForwardS1C2P4K3 = LoadForward(loader, Conv2dKernels.ForwardS1C2P4K3<TView>);
        ForwardS1C1P6 = LoadForward(loader, Conv2dKernels.ForwardS1C1P6<TView>);
        ForwardS1C1P8K3 = LoadForward(loader, Conv2dKernels.ForwardS1C1P8K3<TView>);
        ForwardC4P2 = LoadForward(loader, Conv2dKernels.ForwardC4P2<TView>);
        ForwardC4P3 = LoadForward(loader, Conv2dKernels.ForwardC4P3<TView>);
        WeightGradS1C3K3 = LoadWeightGrad(loader, Conv2dKernels.WeightGradS1C3K3<TView>);
        WeightGradS1C1I2K3 = LoadWeightGrad(loader, Conv2dKernels.WeightGradS1C1I2K3<TView>);
        WeightGradC4K2 = LoadWeightGrad(loader, Conv2dKernels.WeightGradC4K2<TView>);
        BackwardInputPhased = loader.Load<Index3D, ArrayView<float>, ArrayView<float>, ArrayView<float>, PhaseGeometry>(
            Conv2dKernels.BackwardInputPhased<TView>);
    }

    private void InitGpu(KernelLoader loader)
    {
        GemmWide = LoadGemm(loader, ConvGemmKernels.GemmWide);
        GemmNarrow1 = LoadGemm(loader, ConvGemmKernels.GemmNarrow<OneRow>);
        GemmNarrow2 = LoadGemm(loader, ConvGemmKernels.GemmNarrow<TwoRows>);
        GemmNarrow3 = LoadGemm(loader, ConvGemmKernels.GemmNarrow<ThreeRows>);
        GemmNarrow4 = LoadGemm(loader, ConvGemmKernels.GemmNarrow<FourRows>);
        WeightGradWide = LoadWgrad(loader, ConvGemmKernels.WeightGradWide);
        WeightGradNarrow1 = LoadWgrad(loader, ConvGemmKernels.WeightGradNarrow<OneRow>);
        WeightGradNarrow2 = LoadWgrad(loader, ConvGemmKernels.WeightGradNarrow<TwoRows>);
        WeightGradNarrow3 = LoadWgrad(loader, ConvGemmKernels.WeightGradNarrow<ThreeRows>);
        WeightGradNarrow4 = LoadWgrad(loader, ConvGemmKernels.WeightGradNarrow<FourRows>);
    }

    public Action<Index1D, ArrayView<float>, ArrayView<float>, int, LaunchLayout> WeightGradCombine { get; private set; } = null!;

    // cpu device: register-tiled kernels over zero-bordered copies and re-laid-out weights.
    public Action<Index1D, ArrayView<float>, ArrayView<float>, PadGeometry>? Pad { get; private set; }
    public Action<Index2D, ArrayView<float>, ArrayView<float>, int, int, int, int, int>? BlockWeights { get; private set; }
    public Action<Index3D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ConvGeometry, int>? ForwardS1C2P4 { get; private set; }
    public Action<Index3D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ConvGeometry, int>? ForwardS1C2P4K3 { get; private set; }
    public Action<Index3D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ConvGeometry, int>? ForwardS1C1P6 { get; private set; }
    public Action<Index3D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ConvGeometry, int>? ForwardS1C1P8K3 { get; private set; }
    public Action<Index3D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ConvGeometry, int>? ForwardC4P2 { get; private set; }
    public Action<Index3D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ConvGeometry, int>? ForwardC4P3 { get; private set; }
    public Action<Index2D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ConvGeometry, WeightGradRange>? WeightGradS1C3K3 { get; private set; }
    public Action<Index2D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ConvGeometry, WeightGradRange>? WeightGradS1C1I2K3 { get; private set; }
    public Action<Index2D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ConvGeometry, WeightGradRange>? WeightGradC4K2 { get; private set; }
    public Action<Index3D, ArrayView<float>, ArrayView<float>, ArrayView<float>, PhaseGeometry>? BackwardInputPhased { get; private set; }

    // GPU-shaped devices: implicit GEMM (explicitly grouped).
    public Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<int>, ConvGemmGeometry>? GemmWide { get; private set; }
    public Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<int>, ConvGemmGeometry>? GemmNarrow1 { get; private set; }
    public Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<int>, ConvGemmGeometry>? GemmNarrow2 { get; private set; }
    public Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<int>, ConvGemmGeometry>? GemmNarrow3 { get; private set; }
    public Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<int>, ConvGemmGeometry>? GemmNarrow4 { get; private set; }
    public Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<int>, ConvWgradGeometry>? WeightGradWide { get; private set; }
    public Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<int>, ConvWgradGeometry>? WeightGradNarrow1 { get; private set; }
    public Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<int>, ConvWgradGeometry>? WeightGradNarrow2 { get; private set; }
    public Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<int>, ConvWgradGeometry>? WeightGradNarrow3 { get; private set; }
    public Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<int>, ConvWgradGeometry>? WeightGradNarrow4 { get; private set; }

    public static Conv2dKernelSet Load(KernelLoader loader) => new(loader);

    private static Action<Index3D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ConvGeometry, int> LoadForward(
        KernelLoader loader, Action<Index3D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ConvGeometry, int> kernel) =>
        loader.Load(kernel);

    private static Action<Index2D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ConvGeometry, WeightGradRange> LoadWeightGrad(
        KernelLoader loader, Action<Index2D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ConvGeometry, WeightGradRange> kernel) =>
        loader.Load(kernel);

    private static Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<int>, ConvGemmGeometry> LoadGemm(
        KernelLoader loader, Action<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<int>, ConvGemmGeometry> kernel) =>
        loader.LoadGrouped(kernel);

    private static Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<int>, ConvWgradGeometry> LoadWgrad(
        KernelLoader loader, Action<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<int>, ConvWgradGeometry> kernel) =>
        loader.LoadGrouped(kernel);
}
