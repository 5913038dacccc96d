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
internal readonly struct HostConvGeometry
{
    public HostConvGeometry(int batch, int inChannels, int outChannels, int inH, int inW, int outH, int outW,
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
        $"HostConvGeometry(N {Batch}, {InChannels}→{OutChannels}, in {InH}×{InW}, out {OutH}×{OutW}, k {KernelH}×{KernelW}, s {StrideY}×{StrideX}, {TilesX} col tiles, {Blocks} ch blocks, {RowsPerThread} rows/thread)";
}

/// <summary>A zero-bordered copy (see <see cref="HostConvKernels.Pad"/>). Passed by value.</summary>
internal readonly struct HostPadGeometry
{
    public HostPadGeometry(int planes, int srcH, int srcW, int dstH, int dstW, int offY, int offX)
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


/// <summary>Which images a weight-gradient launch reduces over, and where its sums go (see
/// <see cref="HostConvKernels.WeightGradS1C3K3"/>). Passed by value.</summary>
internal readonly struct HostWeightGradRange
{
    public HostWeightGradRange(int firstImage, int endImage, int imagesPerSlice, int partial, int weightLength)
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

/// <summary>The geometry of <see cref="HostConvKernels.BackwardInputPhased"/>. Passed by value.</summary>
internal readonly struct HostPhaseGeometry
{
    public HostPhaseGeometry(int inChannels, int outChannels, int h, int w, int kernelH, int kernelW, int strideY, int strideX,
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
