// The GPU family's implicit-GEMM convolution kernels (see GpuGemmGeometry.cs): constants and the forward-family
// products (forward and the phases of the input gradient).
using ILGPU;
using ILGPU.Runtime;

namespace AttentionWise.Kernels;

/// <summary>The implicit-GEMM convolution kernels of GPU-shaped devices (this file: the forward-family products).</summary>
internal static partial class GpuGemmKernels
{
    /// <summary>k per shared-memory stage of the wide kernels.</summary>
    public const int Depth = 8;

    /// <summary>A row or column that no bounds check accepts, whatever delta is added.</summary>
    public const int Outside = -(1 << 28);

    /// <summary>GemmWide: at most 16 × 8 rows and 32 × 8 pixels per group.</summary>
    public const int WideMaxRows = 128;
    public const int WideMaxPixels = 256;

    // Row strides of the shared tiles. A tile written with k fastest across threads (a stride ≡ 4 mod 32 puts the 8 k
    // of 4 neighbouring columns in 32 distinct banks); a tile written with pixels fastest needs no padding.
    private const int WideAStride = WideMaxRows + 4;
    private const int WideBStride = WideMaxPixels;

    /// <summary>GemmNarrow: k per staged chunk of weights, and pixels per thread.</summary>
    public const int NarrowChunk = 64;
    public const int NarrowPixels = 4;

    /// <summary>WeightGradWide: at most 16 × 8 channels and 16 × 8 columns per group.</summary>
    public const int WgradMaxRows = 128;
    public const int WgradMaxColumns = 128;
    private const int WgradStride = 132;

    /// <summary>WeightGradNarrow: at most this many threads and column groups (of 8) per group.</summary>
    public const int NarrowWgradMaxThreads = 256;
    public const int NarrowWgradMaxGroups = 32;

    private static float Fetch(ArrayView<float> source, PixelSite s, int offset, int dy, int dx, int h, int w)
    {
        float v = 0f;
        if ((uint)(s.Y + dy) < (uint)h && (uint)(s.X + dx) < (uint)w)
            v = source[s.Source + offset];
        return v;
    }

    /// <summary>Forward-family product, wide tile (see the file header). Group (GP, GM); grid (pixel tiles, row tiles).</summary>
    public static void GemmWide(ArrayView<float> output, ArrayView<float> source, ArrayView<float> weight, ArrayView<float> bias,
        ArrayView<int> table, GpuGemmGeometry g)
    {
        var tileA = SharedMemory.Allocate<float>(Depth * WideAStride);
        var tileB = SharedMemory.Allocate<float>(Depth * WideBStride);
        var siteSource = SharedMemory.Allocate<int>(WideMaxPixels);
        var siteY = SharedMemory.Allocate<int>(WideMaxPixels);
        var siteX = SharedMemory.Allocate<int>(WideMaxPixels);
        var siteOut = SharedMemory.Allocate<int>(WideMaxPixels);
        int tp = Group.IdxX;
        int tm = Group.IdxY;
        int gp = Group.DimX;
        int gm = Group.DimY;
        int threads = gp * gm;
        int tid = tm * gp + tp;
        int bm = gm * 8;
        int bp = gp * 8;
        int m0 = Grid.IdxY * bm;
        int p0 = Grid.IdxX * bp;

        for (int pp = tid; pp < bp; pp += threads)
        {
            var s = g.Site(p0 + pp);
            siteSource[pp] = s.Source;
            siteY[pp] = s.Y;
            siteX[pp] = s.X;
            siteOut[pp] = s.Output;
        }
        Group.Barrier();

        var c0 = default(F8);
        var c1 = default(F8);
        var c2 = default(F8);
        var c3 = default(F8);
        var c4 = default(F8);
        var c5 = default(F8);
        var c6 = default(F8);
        var c7 = default(F8);
        int mask = bp - 1;
        for (int k0 = 0; k0 < g.K; k0 += Depth)
        {
            for (int e = tid; e < Depth * bm; e += threads)
            {
                int kk = e & (Depth - 1);
                int mm = e >> 3;
                int k = k0 + kk;
                int m = m0 + mm;
                float v = 0f;
                if (k < g.K && m < g.M)
                    v = weight[m * g.WeightStride + (g.DirectWeight != 0 ? k : table[g.TableOffset + 4 * k + 3])];
                tileA[kk * WideAStride + mm] = v;
            }
            for (int e = tid; e < Depth * bp; e += threads)
            {
                int kk = e >> g.BlockLog;
                int pp = e & mask;
                int t = g.TableOffset + 4 * (k0 + kk);
                int y = siteY[pp] + table[t + 1];
                int x = siteX[pp] + table[t + 2];
                float v = 0f;
                if ((uint)y < (uint)g.SrcH && (uint)x < (uint)g.SrcW)
                    v = source[siteSource[pp] + table[t]];
                tileB[kk * WideBStride + pp] = v;
            }
            Group.Barrier();
            for (int kk = 0; kk < Depth; kk++)
            {
                var a = F8.Load(tileA, kk * WideAStride + tm, gm);
                var b = F8.Load(tileB, kk * WideBStride + tp, gp);
                c0 = F8.Fma(c0, a.V0, b);
                c1 = F8.Fma(c1, a.V1, b);
                c2 = F8.Fma(c2, a.V2, b);
                c3 = F8.Fma(c3, a.V3, b);
                c4 = F8.Fma(c4, a.V4, b);
                c5 = F8.Fma(c5, a.V5, b);
                c6 = F8.Fma(c6, a.V6, b);
                c7 = F8.Fma(c7, a.V7, b);
            }
            Group.Barrier();
        }

        int row = m0 + tm;
        StoreWideRow(output, bias, siteOut, c0, row, tp, gp, g);
        StoreWideRow(output, bias, siteOut, c1, row + gm, tp, gp, g);
        StoreWideRow(output, bias, siteOut, c2, row + 2 * gm, tp, gp, g);
        StoreWideRow(output, bias, siteOut, c3, row + 3 * gm, tp, gp, g);
        StoreWideRow(output, bias, siteOut, c4, row + 4 * gm, tp, gp, g);
        StoreWideRow(output, bias, siteOut, c5, row + 5 * gm, tp, gp, g);
        StoreWideRow(output, bias, siteOut, c6, row + 6 * gm, tp, gp, g);
        StoreWideRow(output, bias, siteOut, c7, row + 7 * gm, tp, gp, g);
    }

    private static void StoreWideRow(ArrayView<float> output, ArrayView<float> bias, ArrayView<int> siteOut, F8 c, int m, int tp, int gp, GpuGemmGeometry g)
    {
        if (m >= g.M)
            return;
        float b = g.HasBias != 0 ? bias[m] : 0f;
        int rowOffset = m * g.OutChannel;
        StoreOne(output, siteOut[tp], rowOffset, c.V0 + b);
        StoreOne(output, siteOut[tp + gp], rowOffset, c.V1 + b);
        StoreOne(output, siteOut[tp + 2 * gp], rowOffset, c.V2 + b);
        StoreOne(output, siteOut[tp + 3 * gp], rowOffset, c.V3 + b);
        StoreOne(output, siteOut[tp + 4 * gp], rowOffset, c.V4 + b);
        StoreOne(output, siteOut[tp + 5 * gp], rowOffset, c.V5 + b);
        StoreOne(output, siteOut[tp + 6 * gp], rowOffset, c.V6 + b);
        StoreOne(output, siteOut[tp + 7 * gp], rowOffset, c.V7 + b);
    }

    private static void StoreOne(ArrayView<float> output, int site, int rowOffset, float v)
    {
        if (site >= 0)
            output[site + rowOffset] = v;
    }

    /// <summary>Forward-family product with C = <typeparamref name="TRows"/> rows (= g.M), narrow tile (see the file
    /// header). 1-D group of T threads, each owning pixels p0 + t + T·j, j &lt; 4; grid: pixel tiles of 4·T.</summary>
    public static void GemmNarrow<TRows>(ArrayView<float> output, ArrayView<float> source, ArrayView<float> weight, ArrayView<float> bias,
        ArrayView<int> table, GpuGemmGeometry g)
        where TRows : struct, IRowCount
    {
        var weights = SharedMemory.Allocate<float>(4 * NarrowChunk);
        var entries = SharedMemory.Allocate<int>(3 * NarrowChunk);
        int t = Group.IdxX;
        int threads = Group.DimX;
        int p0 = Grid.IdxX * threads * NarrowPixels;
        var s0 = g.Site(p0 + t);
        var s1 = g.Site(p0 + t + threads);
        var s2 = g.Site(p0 + t + 2 * threads);
        var s3 = g.Site(p0 + t + 3 * threads);
        var c0 = default(F4);
        var c1 = default(F4);
        var c2 = default(F4);
        var c3 = default(F4);
        int rows = TRows.Count;
        for (int k0 = 0; k0 < g.K; k0 += NarrowChunk)
        {
            int length = g.K - k0 < NarrowChunk ? g.K - k0 : NarrowChunk;
            Group.Barrier();
            for (int e = t; e < rows * NarrowChunk; e += threads)
            {
                int m = e / NarrowChunk;
                int kk = e - m * NarrowChunk;
                float v = 0f;
                if (kk < length)
                    v = weight[m * g.WeightStride + (g.DirectWeight != 0 ? k0 + kk : table[g.TableOffset + 4 * (k0 + kk) + 3])];
                weights[e] = v;
            }
            for (int kk = t; kk < length; kk += threads)
            {
                int at = g.TableOffset + 4 * (k0 + kk);
                entries[3 * kk] = table[at];
                entries[3 * kk + 1] = table[at + 1];
                entries[3 * kk + 2] = table[at + 2];
            }
            Group.Barrier();
            for (int kk = 0; kk < length; kk++)
            {
                int offset = entries[3 * kk];
                int dy = entries[3 * kk + 1];
                int dx = entries[3 * kk + 2];
                var b = new F4(
                    Fetch(source, s0, offset, dy, dx, g.SrcH, g.SrcW),
                    Fetch(source, s1, offset, dy, dx, g.SrcH, g.SrcW),
                    Fetch(source, s2, offset, dy, dx, g.SrcH, g.SrcW),
                    Fetch(source, s3, offset, dy, dx, g.SrcH, g.SrcW));
                c0 = F4.Fma(c0, weights[kk], b);
                if (TRows.Count > 1)
                    c1 = F4.Fma(c1, weights[NarrowChunk + kk], b);
                if (TRows.Count > 2)
                    c2 = F4.Fma(c2, weights[2 * NarrowChunk + kk], b);
                if (TRows.Count > 3)
                    c3 = F4.Fma(c3, weights[3 * NarrowChunk + kk], b);
            }
        }
        StoreNarrowRow(output, bias, c0, 0, s0, s1, s2, s3, g);
        if (TRows.Count > 1)
            StoreNarrowRow(output, bias, c1, 1, s0, s1, s2, s3, g);
        if (TRows.Count > 2)
            StoreNarrowRow(output, bias, c2, 2, s0, s1, s2, s3, g);
        if (TRows.Count > 3)
            StoreNarrowRow(output, bias, c3, 3, s0, s1, s2, s3, g);
    }

    private static void StoreNarrowRow(ArrayView<float> output, ArrayView<float> bias, F4 c, int m, PixelSite s0, PixelSite s1, PixelSite s2, PixelSite s3,
        GpuGemmGeometry g)
    {
        float b = g.HasBias != 0 ? bias[m] : 0f;
        int rowOffset = m * g.OutChannel;
        StoreOne(output, s0.Output, rowOffset, c.V0 + b);
        StoreOne(output, s1.Output, rowOffset, c.V1 + b);
        StoreOne(output, s2.Output, rowOffset, c.V2 + b);
        StoreOne(output, s3.Output, rowOffset, c.V3 + b);
    }

}
