// The cpu device's input gradient of strided convolutions, by phases: see HostConvGeometry.cs.
using ILGPU;
using ILGPU.Runtime;

namespace AttentionWise.Kernels;

internal static partial class HostConvKernels
{
    // ---------------------------------------------------------------------------------------------------
    // Input gradient of a strided convolution, by phases. Input column ix has phase r = (ix + PX) mod SX and
    // q = (ix + PX) div SX; it receives the taps kx = r + SX·u from output columns ox = q − u (likewise rows).
    // A thread computes 4 input channels × 2 input columns of one phase (q, q + 1) of one input row, reading
    // the output gradient from a zero-bordered copy gyp [N, Co, Hg, Wg] (gyp[oy + OffY, ox + OffX] = gy[oy, ox])
    // and the weight re-laid out as wbT [ceil(Ci/4), Co, KH·KW, 4] (BlockWeights mode 2).
    // Index (X = (iy·SX + r)·TilesQ + q tile, Y = input-channel block, Z = n).
    // ---------------------------------------------------------------------------------------------------

    public static void BackwardInputPhased<TView>(Index3D index, ArrayView<float> gxView, ArrayView<float> gypView, ArrayView<float> wbTView, HostPhaseGeometry p)
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
