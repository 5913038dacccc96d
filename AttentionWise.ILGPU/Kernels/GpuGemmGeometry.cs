// 2-D convolution on GPU-shaped devices: explicitly grouped implicit-GEMM kernels (shared memory, barriers). The
// cpu device keeps its register-tiled kernels and host passes (HostConvKernels*.cs, Backends/Host/HostBlasConv.cs).
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
// The k axis is described by a table of 4 ints per k built on the host once per input size (GpuConvTables, Backends/Gpu/GpuConvTables.cs):
//   table[4k..4k+3] = (source offset, row delta, column delta, weight offset)
// so that a kernel never divides k; entries past K (up to a multiple of Depth) are sentinels whose row delta
// puts every read outside the source. Pixels p are cut as p = (n·PH + j)·PW + i with FastDivisor.
//
// Weight gradient, C[co, col] = Σ_{p} gy[n, co, oy, ox] · x[n, ci, oy·SY − PY + ky, ox·SX − PX + kx] with
// col = (ci, ky, kx), the weight's own layout; the pixel axis (the long reduction) is split into slices whose
// partial sums a fixed-order group combine adds (GpuPartialSumKernels.WeightGradCombineGroup): deterministic for a
// launch shape.
//
// Variants (the host picks them by a cost model, GpuConvPlan in Backends/Gpu/GpuConvPlan.cs):
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
internal interface IRowCount
{
    static abstract int Count { get; }
}

internal struct OneRow : IRowCount
{
    public static int Count => 1;
}

internal struct TwoRows : IRowCount
{
    public static int Count => 2;
}

internal struct ThreeRows : IRowCount
{
    public static int Count => 3;
}

internal struct FourRows : IRowCount
{
    public static int Count => 4;
}

/// <summary>Eight floats held in registers (a row of a register tile). Passed and returned by value.</summary>
internal readonly struct F8
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
internal readonly struct F4
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
internal readonly struct PixelSite
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
internal readonly struct GpuGemmGeometry
{
    public GpuGemmGeometry(int m, int k, int batch, int planeH, int planeW,
        int srcImage, int srcH, int srcW, int srcStepY, int srcStepX, int srcOffY, int srcOffX, int weightStride,
        int outImage, int outChannel, int outW, int outStepY, int outStepX, int outOffY, int outOffX,
        int tableOffset, int hasBias, int blockLog, int directWeight = 0)
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
        DirectWeight = directWeight;
    }

    /// <summary>The same product with another <see cref="BlockLog"/>.</summary>
    public GpuGemmGeometry(GpuGemmGeometry g, int blockLog)
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

    /// <summary>1 when the table's weight offset of every k is k itself (the forward: A is the weight in its own
    /// layout), so that the kernels index the weight by k instead of loading the offset from the table first (a load
    /// that the weight load would wait for).</summary>
    public readonly int DirectWeight;

    public readonly int HasBias;

    /// <summary>log2 of the pixels per group tile (GemmWide: 8·GP).</summary>
    public readonly int BlockLog;

    /// <summary>Where pixel p reads and writes (p ≥ Pixels: nothing).</summary>
    public PixelSite Site(int p)
    {
        if (p >= Pixels)
            return new PixelSite(0, GpuGemmKernels.Outside, GpuGemmKernels.Outside, -1);
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
        $"GpuGemmGeometry(M {M}, K {K}, {Pixels} pixels, plane {Plane.Divisor / Row.Divisor}×{Row.Divisor}, source {SrcH}×{SrcW}, table at {TableOffset})";
}

/// <summary>The shape of a weight-gradient product (see the file header). Passed by value.</summary>
internal readonly struct GpuWgradGeometry
{
    public GpuWgradGeometry(int outChannels, int columns, int batch, int outH, int outW,
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
            return new PixelSite(0, GpuGemmKernels.Outside, GpuGemmKernels.Outside, -1);
        int n = OutPlane.Divide(p);
        int r = p - n * OutPlane.Divisor;
        int oy = OutRow.Divide(r);
        int ox = r - oy * OutRow.Divisor;
        int sy = oy * StrideY - PadY;
        int sx = ox * StrideX - PadX;
        return new PixelSite(n * SrcImage + sy * SrcW + sx, sy, sx, n * GradImage + r);
    }
}
