// The cpu device's sliding-row forward tiles (column stride 1): see HostConvGeometry.cs and HostConvKernels.cs.
using ILGPU;
using ILGPU.Runtime;

namespace AttentionWise.Kernels;

internal static partial class HostConvKernels
{
    /// <summary>Forward tile: 2 output channels × 4 output columns, column stride 1, any kernel and row stride.</summary>
    public static void ForwardS1C2P4<TView>(Index3D index, ArrayView<float> yView, ArrayView<float> xpView, ArrayView<float> wbView, ArrayView<float> biasView,
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
        HostConvGeometry g, int hasBias)
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
        HostConvGeometry g, int hasBias)
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

}
