// 2-D convolution on GPU-shaped devices: explicitly grouped implicit-GEMM kernels (shared memory, barriers). The
// cpu device keeps its register-tiled kernels and host passes (Conv2dKernels.cs, Device/Host/HostConv.cs).
//
//   x:  [N, Ci, H, W]   input            w: [Co, Ci, KH, KW] weight, read in its own layout (no re-layout)
//   y:  [N, Co, Ho, Wo] output           T = KH·KW taps, t = ky·KW + kx
//
// Forward and input gradient are one product shape, C[m, p] = Σ_k A[m, k]·B[k, p] (+ bias[m]):
//   forward:         m = co, k = (ci, ky, kx), p = (n, oy, ox); A = w as [Co, Ci·T] (its own layout);
//                    B[k, p] = x[n, ci, oy·SY − PY + ky, ox·SX − PX + kx] (0 outside: no padded copy)
//   input gradient:  one launch per phase (ry, rx) of the stride, ry ∈ [0, SY), rx ∈ [0, SX): the input rows
//                    y ≡ ry − PY (mod SY) receive exactly the taps ky = ry + SY·a, so that in phase coordinates
//                    (y = j·SY + ry − PY) it is a stride-1 correlation over the output gradient:
//                    m = ci, k = (co, a, b), p = (n, j, i); A[ci, k] = w[co, ci, ry + SY·a, rx + SX·b];
//                    B[k, p] = gy[n, co, j − a, i − b]. No product is a structural zero (a stride-2 kernel of 2
//                    does a quarter of the work the plain transposed formulation would).
// The k axis is described by a table of 4 ints per k built on the host once per shape (ConvGpuPlan):
//   table[4k..4k+3] = (source offset, row delta, column delta, weight offset)
// so that a kernel never divides k; entries past K (up to a multiple of Depth) are sentinels whose row delta
// puts every read outside the source. Pixels p are cut as p = (n·PH + j)·PW + i with FastDivisor.
//
// Weight gradient, C[co, col] = Σ_{p} gy[n, co, oy, ox] · x[n, ci, oy·SY − PY + ky, ox·SX − PX + kx] with
// col = (ci, ky, kx), the weight's own layout; the pixel axis (the long reduction) is split into slices whose
// partial sums a fixed-order combine adds (Conv2dKernels.WeightGradCombine): deterministic for a launch shape.
//
// Variants (the host picks them, ConvGpuPlan):
//   GemmWide         ≥ 5 output rows (m): a group of GP × GM threads computes an (8·GM) × (8·GP) tile, each thread
//                    8 × 8 outputs (rows tm + GM·i, pixels tp + GP·j: neighbouring threads own neighbouring
//                    pixels, so loads and stores are coalesced); A and B tiles of Depth k staged in shared memory.
//   GemmNarrow<C>    C ≤ 4 output rows (the attention layer's heads·C → C conv, C = 1 or 3): every thread owns 4
//                    pixels and all C rows, so no thread of the group computes rows that do not exist. The weights
//                    of a chunk of k are staged in shared memory; B has no reuse across rows (there are C of them,
//                    all in the thread's registers), so it is read straight from memory, coalesced along pixels.
//   WeightGradWide   ≥ 5 output channels: (8·GM) channels × (8·GN) weight columns per group, 8 × 8 per thread,
//                    Depth pixels per step staged in shared memory.
//   WeightGradNarrow<C>  C ≤ 4 output channels: GK pixel lanes × GC groups of 8 columns; each thread sums its
//                    lane's pixels for C × 8 weights, then the lanes are added by a tree in shared memory.
// Every 2-D group has at least 2 threads along X: PoCL 6.0 runs the code after a barrier loop that makes no trip twice
// for work item (0, 0) of a group of 1 × (≥ 3) work items (docs/ilgpu-bugs.md, problem 3), which a += would show.
using ILGPU;
using ILGPU.Runtime;

namespace AttentionWise.Kernels;

/// <summary>A number of output rows known when a kernel is compiled (the narrow variants are instantiated per count,
/// so that the rows a convolution lacks cost nothing).</summary>
public interface IRowCount
{
    static abstract int Count { get; }
}

public struct OneRow : IRowCount
{
    public static int Count => 1;
}

public struct TwoRows : IRowCount
{
    public static int Count => 2;
}

public struct ThreeRows : IRowCount
{
    public static int Count => 3;
}

public struct FourRows : IRowCount
{
    public static int Count => 4;
}

/// <summary>Eight floats held in registers (a row of a register tile). Passed and returned by value.</summary>
public readonly struct F8
{
    public F8(float v0, float v1, float v2, float v3, float v4, float v5, float v6, float v7)
    {
        V0 = v0;
        V1 = v1;
        V2 = v2;
        V3 = v3;
        V4 = v4;
        V5 = v5;
        V6 = v6;
        V7 = v7;
    }

    public readonly float V0, V1, V2, V3, V4, V5, V6, V7;

    /// <summary>s[b], s[b + stride], …, s[b + 7·stride].</summary>
    public static F8 Load(ArrayView<float> s, int b, int stride) =>
        new(s[b], s[b + stride], s[b + 2 * stride], s[b + 3 * stride], s[b + 4 * stride], s[b + 5 * stride], s[b + 6 * stride], s[b + 7 * stride]);

    /// <summary>c + a·b, element by element.</summary>
    public static F8 Fma(F8 c, float a, F8 b) =>
        new(c.V0 + a * b.V0, c.V1 + a * b.V1, c.V2 + a * b.V2, c.V3 + a * b.V3, c.V4 + a * b.V4, c.V5 + a * b.V5, c.V6 + a * b.V6, c.V7 + a * b.V7);
}

/// <summary>Four floats held in registers. Passed and returned by value.</summary>
public readonly struct F4
{
    public F4(float v0, float v1, float v2, float v3)
    {
        V0 = v0;
        V1 = v1;
        V2 = v2;
        V3 = v3;
    }

    public readonly float V0, V1, V2, V3;

    public static F4 Fma(F4 c, float a, F4 b) => new(c.V0 + a * b.V0, c.V1 + a * b.V1, c.V2 + a * b.V2, c.V3 + a * b.V3);
}

/// <summary>Where one pixel of a product reads its source and writes its output (see the file header).</summary>
public readonly struct PixelSite
{
    public PixelSite(int source, int y, int x, int output)
    {
        Source = source;
        Y = y;
        X = x;
        Output = output;
    }

    /// <summary>Offset in the source of the pixel's origin (k's offsets are added to it).</summary>
    public readonly int Source;

    /// <summary>Row and column of the origin in the source (k's deltas are added, then bounds-checked).</summary>
    public readonly int Y;
    public readonly int X;

    /// <summary>Offset of the pixel's output in row m = 0 (−1: past the last pixel).</summary>
    public readonly int Output;
}

/// <summary>The shape of one forward-family product (forward, or one phase of the input gradient; see the file
/// header). Passed by value.</summary>
public readonly struct ConvGemmGeometry
{
    public ConvGemmGeometry(int m, int k, int batch, int planeH, int planeW,
        int srcImage, int srcH, int srcW, int srcStepY, int srcStepX, int srcOffY, int srcOffX, int weightStride,
        int outImage, int outChannel, int outW, int outStepY, int outStepX, int outOffY, int outOffX,
        int tableOffset, int hasBias, int blockLog)
    {
        M = m;
        K = k;
        Pixels = batch * planeH * planeW;
        Plane = new FastDivisor(Math.Max(1, planeH * planeW));
        Row = new FastDivisor(Math.Max(1, planeW));
        SrcImage = srcImage;
        SrcH = srcH;
        SrcW = srcW;
        SrcStepY = srcStepY;
        SrcStepX = srcStepX;
        SrcOffY = srcOffY;
        SrcOffX = srcOffX;
        WeightStride = weightStride;
        OutImage = outImage;
        OutChannel = outChannel;
        OutW = outW;
        OutStepY = outStepY;
        OutStepX = outStepX;
        OutOffY = outOffY;
        OutOffX = outOffX;
        TableOffset = tableOffset;
        HasBias = hasBias;
        BlockLog = blockLog;
    }

    /// <summary>The same product with another <see cref="BlockLog"/>.</summary>
    public ConvGemmGeometry(ConvGemmGeometry g, int blockLog)
    {
        this = g;
        BlockLog = blockLog;
    }

    /// <summary>Output rows (channels) and the reduction length.</summary>
    public readonly int M;
    public readonly int K;

    /// <summary>N·PH·PW product columns.</summary>
    public readonly int Pixels;

    /// <summary>PH·PW and PW, as divisors.</summary>
    public readonly FastDivisor Plane;
    public readonly FastDivisor Row;

    /// <summary>Source (x, or the output gradient): elements per image, rows, columns; a pixel (j, i) reads from row
    /// j·SrcStepY + SrcOffY and column i·SrcStepX + SrcOffX, plus k's deltas.</summary>
    public readonly int SrcImage;
    public readonly int SrcH;
    public readonly int SrcW;
    public readonly int SrcStepY;
    public readonly int SrcStepX;
    public readonly int SrcOffY;
    public readonly int SrcOffX;

    /// <summary>A[m, k] = w[m·WeightStride + table weight offset of k].</summary>
    public readonly int WeightStride;

    /// <summary>Output: elements per image, per channel (row m), columns; pixel (j, i) writes row j·OutStepY +
    /// OutOffY, column i·OutStepX + OutOffX.</summary>
    public readonly int OutImage;
    public readonly int OutChannel;
    public readonly int OutW;
    public readonly int OutStepY;
    public readonly int OutStepX;
    public readonly int OutOffY;
    public readonly int OutOffX;

    /// <summary>Where this product's k entries start in the table (in ints).</summary>
    public readonly int TableOffset;

    public readonly int HasBias;

    /// <summary>log2 of the pixels per group tile (GemmWide: 8·GP).</summary>
    public readonly int BlockLog;

    /// <summary>Where pixel p reads and writes (p ≥ Pixels: nothing).</summary>
    public PixelSite Site(int p)
    {
        if (p >= Pixels)
            return new PixelSite(0, ConvGemmKernels.Outside, ConvGemmKernels.Outside, -1);
        int n = Plane.Divide(p);
        int r = p - n * Plane.Divisor;
        int j = Row.Divide(r);
        int i = r - j * Row.Divisor;
        int sy = j * SrcStepY + SrcOffY;
        int sx = i * SrcStepX + SrcOffX;
        return new PixelSite(n * SrcImage + sy * SrcW + sx, sy, sx,
            n * OutImage + (j * OutStepY + OutOffY) * OutW + i * OutStepX + OutOffX);
    }

    public override string ToString() =>
        $"ConvGemmGeometry(M {M}, K {K}, {Pixels} pixels, plane {Plane.Divisor / Row.Divisor}×{Row.Divisor}, source {SrcH}×{SrcW}, table at {TableOffset})";
}

/// <summary>The shape of a weight-gradient product (see the file header). Passed by value.</summary>
public readonly struct ConvWgradGeometry
{
    public ConvWgradGeometry(int outChannels, int columns, int batch, int outH, int outW,
        int srcImage, int srcH, int srcW, int strideY, int strideX, int padY, int padX,
        int tableOffset, int pixelsPerSlice, int partial, int weightLength)
    {
        M = outChannels;
        Columns = columns;
        Pixels = batch * outH * outW;
        OutPlane = new FastDivisor(Math.Max(1, outH * outW));
        OutRow = new FastDivisor(Math.Max(1, outW));
        GradImage = outChannels * outH * outW;
        SrcImage = srcImage;
        SrcH = srcH;
        SrcW = srcW;
        StrideY = strideY;
        StrideX = strideX;
        PadY = padY;
        PadX = padX;
        TableOffset = tableOffset;
        PixelsPerSlice = pixelsPerSlice;
        Partial = partial;
        WeightLength = weightLength;
    }

    /// <summary>Output channels (rows of the product) and weight columns Ci·KH·KW.</summary>
    public readonly int M;
    public readonly int Columns;

    /// <summary>N·Ho·Wo: the reduction.</summary>
    public readonly int Pixels;
    public readonly FastDivisor OutPlane;
    public readonly FastDivisor OutRow;

    /// <summary>Elements of one image of the output gradient, Co·Ho·Wo.</summary>
    public readonly int GradImage;
    public readonly int SrcImage;
    public readonly int SrcH;
    public readonly int SrcW;
    public readonly int StrideY;
    public readonly int StrideX;
    public readonly int PadY;
    public readonly int PadX;

    /// <summary>Where the column entries (the forward table) start in the table.</summary>
    public readonly int TableOffset;

    /// <summary>Pixels per slice (grid index Z or Y): slice s reduces pixels [s·PixelsPerSlice, (s+1)·PixelsPerSlice).</summary>
    public readonly int PixelsPerSlice;

    /// <summary>0: add into the gradient; 1: write the slice's sums into partials[slice, ·].</summary>
    public readonly int Partial;

    /// <summary>Co·Ci·KH·KW.</summary>
    public readonly int WeightLength;

    /// <summary>Where pixel p of the reduction reads: its output-gradient offset (channel 0) in Output, its input origin.</summary>
    public PixelSite Site(int p, int end)
    {
        if (p >= end)
            return new PixelSite(0, ConvGemmKernels.Outside, ConvGemmKernels.Outside, -1);
        int n = OutPlane.Divide(p);
        int r = p - n * OutPlane.Divisor;
        int oy = OutRow.Divide(r);
        int ox = r - oy * OutRow.Divisor;
        int sy = oy * StrideY - PadY;
        int sx = ox * StrideX - PadX;
        return new PixelSite(n * SrcImage + sy * SrcW + sx, sy, sx, n * GradImage + r);
    }
}

public static class ConvGemmKernels
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
        ArrayView<int> table, ConvGemmGeometry g)
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
                    v = weight[m * g.WeightStride + table[g.TableOffset + 4 * k + 3]];
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

    private static void StoreWideRow(ArrayView<float> output, ArrayView<float> bias, ArrayView<int> siteOut, F8 c, int m, int tp, int gp, ConvGemmGeometry g)
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
        ArrayView<int> table, ConvGemmGeometry g)
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
                    v = weight[m * g.WeightStride + table[g.TableOffset + 4 * (k0 + kk) + 3]];
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
        ConvGemmGeometry g)
    {
        float b = g.HasBias != 0 ? bias[m] : 0f;
        int rowOffset = m * g.OutChannel;
        StoreOne(output, s0.Output, rowOffset, c.V0 + b);
        StoreOne(output, s1.Output, rowOffset, c.V1 + b);
        StoreOne(output, s2.Output, rowOffset, c.V2 + b);
        StoreOne(output, s3.Output, rowOffset, c.V3 + b);
    }

    /// <summary>Weight gradient, wide tile (see the file header). Group (GN, GM) with GN·GM a multiple of 8; grid
    /// (column tiles, channel tiles, slices). Reads the output gradient gy and the input x.</summary>
    public static void WeightGradWide(ArrayView<float> target, ArrayView<float> gy, ArrayView<float> x, ArrayView<int> table, ConvWgradGeometry g)
    {
        var tileA = SharedMemory.Allocate<float>(Depth * WgradStride);
        var tileB = SharedMemory.Allocate<float>(Depth * WgradStride);
        int tn = Group.IdxX;
        int tm = Group.IdxY;
        int gn = Group.DimX;
        int gm = Group.DimY;
        int threads = gn * gm;
        int tid = tm * gn + tn;
        int bm = gm * 8;
        int bn = gn * 8;
        int m0 = Grid.IdxY * bm;
        int col0 = Grid.IdxX * bn;
        int slice = Grid.IdxZ;
        int start = slice * g.PixelsPerSlice;
        int end = g.Pixels - start < g.PixelsPerSlice ? g.Pixels : start + g.PixelsPerSlice;
        // The thread count is a multiple of Depth, so each thread loads the same pixel slot kk at every step.
        int kk = tid & (Depth - 1);

        var c0 = default(F8);
        var c1 = default(F8);
        var c2 = default(F8);
        var c3 = default(F8);
        var c4 = default(F8);
        var c5 = default(F8);
        var c6 = default(F8);
        var c7 = default(F8);
        for (int k0 = start; k0 < end; k0 += Depth)
        {
            var s = g.Site(k0 + kk, end);
            for (int e = tid; e < Depth * bm; e += threads)
            {
                int m = m0 + (e >> 3);
                float v = 0f;
                if (s.Output >= 0 && m < g.M)
                    v = gy[s.Output + m * g.OutPlane.Divisor];
                tileA[kk * WgradStride + (e >> 3)] = v;
            }
            for (int e = tid; e < Depth * bn; e += threads)
            {
                int col = col0 + (e >> 3);
                float v = 0f;
                if (col < g.Columns)
                {
                    int at = g.TableOffset + 4 * col;
                    v = Fetch(x, s, table[at], table[at + 1], table[at + 2], g.SrcH, g.SrcW);
                }
                tileB[kk * WgradStride + (e >> 3)] = v;
            }
            Group.Barrier();
            for (int k = 0; k < Depth; k++)
            {
                var a = F8.Load(tileA, k * WgradStride + tm, gm);
                var b = F8.Load(tileB, k * WgradStride + tn, gn);
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
        int partialBase = g.Partial != 0 ? slice * g.WeightLength : 0;
        StoreWgradRow(target, c0, row, col0 + tn, gn, partialBase, g);
        StoreWgradRow(target, c1, row + gm, col0 + tn, gn, partialBase, g);
        StoreWgradRow(target, c2, row + 2 * gm, col0 + tn, gn, partialBase, g);
        StoreWgradRow(target, c3, row + 3 * gm, col0 + tn, gn, partialBase, g);
        StoreWgradRow(target, c4, row + 4 * gm, col0 + tn, gn, partialBase, g);
        StoreWgradRow(target, c5, row + 5 * gm, col0 + tn, gn, partialBase, g);
        StoreWgradRow(target, c6, row + 6 * gm, col0 + tn, gn, partialBase, g);
        StoreWgradRow(target, c7, row + 7 * gm, col0 + tn, gn, partialBase, g);
    }

    private static void StoreWgradRow(ArrayView<float> target, F8 c, int m, int col, int step, int partialBase, ConvWgradGeometry g)
    {
        if (m >= g.M)
            return;
        int o = partialBase + m * g.Columns;
        StoreWgrad(target, o, col, c.V0, g);
        StoreWgrad(target, o, col + step, c.V1, g);
        StoreWgrad(target, o, col + 2 * step, c.V2, g);
        StoreWgrad(target, o, col + 3 * step, c.V3, g);
        StoreWgrad(target, o, col + 4 * step, c.V4, g);
        StoreWgrad(target, o, col + 5 * step, c.V5, g);
        StoreWgrad(target, o, col + 6 * step, c.V6, g);
        StoreWgrad(target, o, col + 7 * step, c.V7, g);
    }

    private static void StoreWgrad(ArrayView<float> target, int rowOffset, int col, float v, ConvWgradGeometry g)
    {
        if (col >= g.Columns)
            return;
        if (g.Partial != 0)
            target[rowOffset + col] = v;
        else
            target[rowOffset + col] += v;
    }

    /// <summary>Weight gradient for C = <typeparamref name="TRows"/> output channels (= g.M), narrow tile (see the file
    /// header). Group (GK pixel lanes, a power of two; GC column groups of 8); grid (column tiles, slices).</summary>
    public static void WeightGradNarrow<TRows>(ArrayView<float> target, ArrayView<float> gy, ArrayView<float> x, ArrayView<int> table, ConvWgradGeometry g)
        where TRows : struct, IRowCount
    {
        var sums = SharedMemory.Allocate<float>(8 * NarrowWgradMaxThreads);
        var entries = SharedMemory.Allocate<int>(3 * 8 * NarrowWgradMaxGroups);
        int lane = Group.IdxX;
        int cg = Group.IdxY;
        int lanes = Group.DimX;
        int colGroups = Group.DimY;
        int tid = cg * lanes + lane;
        int col0 = (Grid.IdxX * colGroups + cg) * 8;
        int slice = Grid.IdxY;
        int start = slice * g.PixelsPerSlice;
        int end = g.Pixels - start < g.PixelsPerSlice ? g.Pixels : start + g.PixelsPerSlice;

        // The 8 columns of each column group: table entries (a sentinel past the last column).
        for (int e = tid; e < 8 * colGroups; e += lanes * colGroups)
        {
            int col = Grid.IdxX * colGroups * 8 + e;
            int at = g.TableOffset + 4 * col;
            bool inside = col < g.Columns;
            entries[3 * e] = inside ? table[at] : 0;
            entries[3 * e + 1] = inside ? table[at + 1] : Outside;
            entries[3 * e + 2] = inside ? table[at + 2] : Outside;
        }
        Group.Barrier();
        int eb = 3 * 8 * cg;
        var c0 = default(F8);
        var c1 = default(F8);
        var c2 = default(F8);
        var c3 = default(F8);
        for (int p = start + lane; p < end; p += lanes)
        {
            var s = g.Site(p, end);
            var v = new F8(
                Fetch(x, s, entries[eb], entries[eb + 1], entries[eb + 2], g.SrcH, g.SrcW),
                Fetch(x, s, entries[eb + 3], entries[eb + 4], entries[eb + 5], g.SrcH, g.SrcW),
                Fetch(x, s, entries[eb + 6], entries[eb + 7], entries[eb + 8], g.SrcH, g.SrcW),
                Fetch(x, s, entries[eb + 9], entries[eb + 10], entries[eb + 11], g.SrcH, g.SrcW),
                Fetch(x, s, entries[eb + 12], entries[eb + 13], entries[eb + 14], g.SrcH, g.SrcW),
                Fetch(x, s, entries[eb + 15], entries[eb + 16], entries[eb + 17], g.SrcH, g.SrcW),
                Fetch(x, s, entries[eb + 18], entries[eb + 19], entries[eb + 20], g.SrcH, g.SrcW),
                Fetch(x, s, entries[eb + 21], entries[eb + 22], entries[eb + 23], g.SrcH, g.SrcW));
            int plane = g.OutPlane.Divisor;
            c0 = F8.Fma(c0, gy[s.Output], v);
            if (TRows.Count > 1)
                c1 = F8.Fma(c1, gy[s.Output + plane], v);
            if (TRows.Count > 2)
                c2 = F8.Fma(c2, gy[s.Output + 2 * plane], v);
            if (TRows.Count > 3)
                c3 = F8.Fma(c3, gy[s.Output + 3 * plane], v);
        }

        int partialBase = g.Partial != 0 ? slice * g.WeightLength : 0;
        ReduceLanes(target, sums, c0, 0, lane, lanes, tid, col0, partialBase, g);
        if (TRows.Count > 1)
            ReduceLanes(target, sums, c1, 1, lane, lanes, tid, col0, partialBase, g);
        if (TRows.Count > 2)
            ReduceLanes(target, sums, c2, 2, lane, lanes, tid, col0, partialBase, g);
        if (TRows.Count > 3)
            ReduceLanes(target, sums, c3, 3, lane, lanes, tid, col0, partialBase, g);
    }

    /// <summary>Adds the 8 sums of every lane of a column group (a tree: lane l takes lane l + s, s halving), then lane 0
    /// stores them. Every thread of the group calls it (it holds barriers).</summary>
    private static void ReduceLanes(ArrayView<float> target, ArrayView<float> sums, F8 c, int m, int lane, int lanes, int tid, int col0, int partialBase,
        ConvWgradGeometry g)
    {
        int b = 8 * tid;
        sums[b] = c.V0;
        sums[b + 1] = c.V1;
        sums[b + 2] = c.V2;
        sums[b + 3] = c.V3;
        sums[b + 4] = c.V4;
        sums[b + 5] = c.V5;
        sums[b + 6] = c.V6;
        sums[b + 7] = c.V7;
        Group.Barrier();
        for (int s = lanes / 2; s > 0; s /= 2)
        {
            if (lane < s)
            {
                int o = b + 8 * s;
                for (int i = 0; i < 8; i++)
                    sums[b + i] += sums[o + i];
            }
            Group.Barrier();
        }
        if (lane == 0)
        {
            int row = partialBase + m * g.Columns;
            for (int i = 0; i < 8; i++)
                StoreWgrad(target, row, col0 + i, sums[b + i], g);
        }
        Group.Barrier();
    }
}
