// The cpu device's register-tiled convolution kernels (see HostConvGeometry.cs for the layout): the zero-bordered
// copy, the weight re-layout, and the strided forward tiles (4 channels × 2 or 3 columns, any stride).
using ILGPU;
using ILGPU.Runtime;

namespace AttentionWise.Kernels;

/// <summary>The register-tiled convolution kernels of the cpu device (host family; this file: the copies and the strided
/// forward tiles).</summary>
internal static partial class HostConvKernels
{
    /// <summary>Thread r copies destination row r = plane·DstH + yd: dst[plane, yd, xd] = src[plane, yd − OffY, xd − OffX]
    /// where that lies inside the source, else 0.</summary>
    public static void Pad<TView>(Index1D row, ArrayView<float> dstView, ArrayView<float> srcView, HostPadGeometry g)
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

    /// <summary>Forward tile: 4 output channels × 2 output columns, any kernel size and stride.</summary>
    public static void ForwardC4P2<TView>(Index3D index, ArrayView<float> yView, ArrayView<float> xpView, ArrayView<float> wbView, ArrayView<float> biasView,
        HostConvGeometry g, int hasBias)
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
        HostConvGeometry g, int hasBias)
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

}
