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
// and then every kernel runs a "valid" convolution on xp. Wp is wide enough for the last column tile
// to read past Wo without leaving the row.
//
// Weights are re-laid out per pass into register-tile order ("blocked", BlockWeights):
//   wb: [OB, Cin, KH·KW, B]   wb[ob, ci, t, j] = w[ob·B + j, ci, t]   (0 past the last output channel)
// so that the B output channels of a tile read B consecutive floats per tap. The input gradient of a
// stride-1 convolution is the same forward kernel run on the gradient padded by K − 1 − P, with the
// weight transposed (Ci ⇄ Co) and flipped (t → KH·KW − 1 − t).
//
// Tiles: a forward thread computes B output channels × P consecutive output columns of one output row
// of one image; index (X = oy·TilesX + column tile, Y = output-channel block, Z = n).
using ILGPU;
using ILGPU.Runtime;

namespace AttentionWise.Kernels;

/// <summary>The shape of a "valid" convolution pass over a padded input (see the file header). Passed by value.</summary>
public readonly struct ConvGeometry
{
    public ConvGeometry(int batch, int inChannels, int outChannels, int inH, int inW, int outH, int outW,
        int kernelH, int kernelW, int strideY, int strideX, int tilesX, int blocks)
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

    public override string ToString() =>
        $"ConvGeometry(N {Batch}, {InChannels}→{OutChannels}, in {InH}×{InW}, out {OutH}×{OutW}, k {KernelH}×{KernelW}, s {StrideY}×{StrideX}, {TilesX} col tiles, {Blocks} ch blocks)";
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
    public static void Pad(Index1D row, ArrayView<float> dst, ArrayView<float> src, PadGeometry g)
    {
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

    /// <summary>Thread (ci, ob) writes wb[ob, ci, ·, ·] (see the header) from w [Co, Ci, T]. With
    /// <paramref name="transposeFlip"/> ≠ 0 the roles swap for the input gradient: the blocked "output"
    /// channels are w's input channels, the "input" channels are w's output channels, and taps are reversed:
    /// wb[ob, co, t, j] = w[co, ob·B + j, T − 1 − t].</summary>
    public static void BlockWeights(Index2D index, ArrayView<float> wb, ArrayView<float> w,
        int outCount, int inCount, int taps, int blockSize, int transposeFlip)
    {
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
                    // Forward: w[o, ci, t] with w as [outCount, inCount, T].
                    // Transposed: w[ci, o, T − 1 − t] with w as [inCount, outCount, T].
                    v = transposeFlip != 0
                        ? w[(ci * outCount + o) * taps + (taps - 1 - t)]
                        : w[(o * inCount + ci) * taps + t];
                }
                wb[d + t * blockSize + j] = v;
            }
        }
    }

    /// <summary>Forward tile of 4 output channels × 2 output columns, any kernel size and stride.</summary>
    public static void ForwardB4P2(Index3D index, ArrayView<float> y, ArrayView<float> xp, ArrayView<float> wb, ArrayView<float> bias,
        ConvGeometry g, int hasBias)
    {
        int tile = index.X;
        int ob = index.Y;
        int n = index.Z;
        int oy = tile / g.TilesX;
        int ox0 = (tile - oy * g.TilesX) * 2;
        int taps = g.KernelH * g.KernelW;
        int plane = g.InH * g.InW;
        int sx = g.StrideX;
        int xBase = (n * g.InChannels * g.InH + oy * g.StrideY) * g.InW + ox0 * sx;
        int wi = ob * g.InChannels * taps * 4;

        float a00 = 0f, a01 = 0f, a10 = 0f, a11 = 0f, a20 = 0f, a21 = 0f, a30 = 0f, a31 = 0f;
        for (int ci = 0; ci < g.InChannels; ci++)
        {
            int r = xBase + ci * plane;
            for (int ky = 0; ky < g.KernelH; ky++)
            {
                for (int kx = 0; kx < g.KernelW; kx++)
                {
                    float x0 = xp[r + kx];
                    float x1 = xp[r + kx + sx];
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
                    wi += 4;
                }
                r += g.InW;
            }
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

    private static void StorePair(ArrayView<float> y, int o, float v0, float v1, bool second, float b)
    {
        y[o] = v0 + b;
        if (second)
            y[o + 1] = v1 + b;
    }

    /// <summary>Input gradient of a strided convolution: thread (row of gx) = (n·Ci + ci)·H + iy computes the row
    /// gx[n, ci, iy, ·] from gy [N, Co, Ho, Wo] and w [Co, Ci, KH, KW] (unpadded; padding handled by checks).</summary>
    public static void BackwardInputStrided(Index1D row, ArrayView<float> gx, ArrayView<float> gy, ArrayView<float> w,
        ConvGeometry g, int padY, int padX)
    {
        // Here InH/InW are the unpadded input's rows and columns.
        int plane = row / g.InH;
        int iy = row - plane * g.InH;
        int n = plane / g.InChannels;
        int ci = plane - n * g.InChannels;
        int taps = g.KernelH * g.KernelW;
        for (int ix = 0; ix < g.InW; ix++)
        {
            float acc = 0f;
            for (int ky = 0; ky < g.KernelH; ky++)
            {
                int ty = iy + padY - ky;
                if (ty < 0 || ty % g.StrideY != 0)
                    continue;
                int oy = ty / g.StrideY;
                if (oy >= g.OutH)
                    continue;
                for (int kx = 0; kx < g.KernelW; kx++)
                {
                    int tx = ix + padX - kx;
                    if (tx < 0 || tx % g.StrideX != 0)
                        continue;
                    int ox = tx / g.StrideX;
                    if (ox >= g.OutW)
                        continue;
                    for (int co = 0; co < g.OutChannels; co++)
                        acc += gy[((n * g.OutChannels + co) * g.OutH + oy) * g.OutW + ox] * w[((co * g.InChannels + ci) * taps) + ky * g.KernelW + kx];
                }
            }
            gx[row * g.InW + ix] = acc;
        }
    }

    /// <summary>Weight gradient, one thread per weight: gw[co, ci, ky, kx] += Σ_{n, oy, ox} gy[n, co, oy, ox] ·
    /// xp[n, ci, oy·SY + ky, ox·SX + kx] over the padded input.</summary>
    public static void BackwardWeightSimple(Index1D index, ArrayView<float> gw, ArrayView<float> gy, ArrayView<float> xp, ConvGeometry g)
    {
        int taps = g.KernelH * g.KernelW;
        int t = index % taps;
        int rest = index / taps;
        int ci = rest % g.InChannels;
        int co = rest / g.InChannels;
        int ky = t / g.KernelW;
        int kx = t - ky * g.KernelW;
        float acc = 0f;
        for (int n = 0; n < g.Batch; n++)
        {
            for (int oy = 0; oy < g.OutH; oy++)
            {
                int gr = ((n * g.OutChannels + co) * g.OutH + oy) * g.OutW;
                int xr = ((n * g.InChannels + ci) * g.InH + oy * g.StrideY + ky) * g.InW + kx;
                for (int ox = 0; ox < g.OutW; ox++)
                    acc += gy[gr + ox] * xp[xr + ox * g.StrideX];
            }
        }
        gw[index] += acc;
    }
}

/// <summary>The convolution kernels, loaded once per accelerator.</summary>
public sealed class Conv2dKernelSet : IKernelSet<Conv2dKernelSet>
{
    private Conv2dKernelSet(Accelerator accelerator)
    {
        Pad = accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, PadGeometry>(Conv2dKernels.Pad);
        BlockWeights = accelerator.LoadAutoGroupedStreamKernel<Index2D, ArrayView<float>, ArrayView<float>, int, int, int, int, int>(Conv2dKernels.BlockWeights);
        ForwardB4P2 = accelerator.LoadAutoGroupedStreamKernel<Index3D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ConvGeometry, int>(
            Conv2dKernels.ForwardB4P2);
        BackwardInputStrided = accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ConvGeometry, int, int>(
            Conv2dKernels.BackwardInputStrided);
        BackwardWeightSimple = accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ConvGeometry>(
            Conv2dKernels.BackwardWeightSimple);
    }

    public Action<Index1D, ArrayView<float>, ArrayView<float>, PadGeometry> Pad { get; }
    public Action<Index2D, ArrayView<float>, ArrayView<float>, int, int, int, int, int> BlockWeights { get; }
    public Action<Index3D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ConvGeometry, int> ForwardB4P2 { get; }
    public Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ConvGeometry, int, int> BackwardInputStrided { get; }
    public Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ConvGeometry> BackwardWeightSimple { get; }

    public static Conv2dKernelSet Load(Accelerator accelerator) => new(accelerator);
}
