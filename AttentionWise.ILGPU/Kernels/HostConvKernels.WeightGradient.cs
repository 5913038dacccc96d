// The cpu device's weight-gradient tiles: see HostConvGeometry.cs.
using ILGPU;
using ILGPU.Runtime;

namespace AttentionWise.Kernels;

internal static partial class HostConvKernels
{
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
        HostConvGeometry g, HostWeightGradRange range)
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
        HostConvGeometry g, HostWeightGradRange range)
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
        HostConvGeometry g, HostWeightGradRange range)
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

    private static void StoreWeight3<TView>(TView target, HostWeightGradRange range, int slice, int w, float v0, float v1, float v2)
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

    private static void StoreWeight2<TView>(TView target, HostWeightGradRange range, int slice, int w, int second, float v0, float v1)
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

}
