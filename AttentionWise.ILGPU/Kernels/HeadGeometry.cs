// The layouts and launch geometry of the element-wise attention heads' kernels (SPEC §2), shared by the per-row kernels
// (HeadRowKernels, both families) and the GPU plane kernels (GpuHeadPlaneKernels). The derivation of the backward
// formulas, and which kernel implements which, is in docs/attention-backward.md.
//
//   X       [N, C, H, W]          the layer input
//   Wx, Wy  [K, C, H, W]          x and y weights of the K heads; Bx, By (optional biases): same shape
//   wp      [2 or 4, Q, H, W]     the weights packed for one forward/backward: Wx, Wy (, Bx, By); Q = K·C
//   oxy     [2, N, Q, H, W]       Ox (softmax over each row, across j, of X⊙Wx + Bx), then
//                                 Oy (softmax over each column, across i, of X⊙Wy + By); q = k·C + c
//   R       = Ox ⊙ Oy             relevance; never stored, recomputed from Ox and Oy where needed
//   Z       [N, Q, H, W]          head outputs X ⊙ R', R' = (R − μ_q)·rstd_q (head batchnorm, affine = false)
//   gX      [N, C, H, W]          input gradient (optionally starting from a skip connection's gradient)
//   pW      [2 or 4, NB, Q, H, W] per block of images: Σ_n X·gPx, Σ_n X·gPy (, Σ_n gPx, Σ_n gPy)
//   partial [Q, NB, 2]            per channel and block of images: sums of two fields of aux
//   aux     one buffer of small arrays (offsets in HeadAux), so that kernels take few views:
//     Stats   [4, Q]              μ, rstd = 1/sqrt(var + eps), then the backward's a = mean(gR'), b = mean(gR'⊙R')
//     InvRow  [N, Q, H]           forward: 1/Σ_j of each row's exponentials (Ox is normalised by the column kernel)
//     ColR    [N, Q, W, 2]        forward, per column: Σ_i R, Σ_i R² (batchnorm statistics; kept for the backward)
//                                 (GPU plane kernels: Σ_i R and Σ_i (R − mean)², the column's M2, for a stable variance)
//     RowR    [N, Q, H, 2]        forward, per row: Σ_j R, Σ_j R² (kept for the backward)
//                                 (GPU plane kernels: Σ_j R and the row's M2)
//     RowA    [N, Q, H]           backward, per row: A = Σ_j R·gR' (gR' = gZ ⊙ X), then s_row = Σ_j R·gR
//     ColA    [N, Q, W]           backward, the same per column: Σ_i R·gR', then s_col
//     Images  [N, Q, 2]           backward, per image: Σ gR', Σ gR'·R'
//     YRowOk  [N, Q, H]           forward: 1 when the row kernel stored exp of the row's y logits (all within
//                                 ±UnshiftedExpLimit), 0 when it left the logits for the column kernel
//     YImageOk [N, Q]             forward: 1 when every row of the image has YRowOk = 1
//     RowSoft [N, Q, H, 2]        forward (GPU plane kernels): each row's maximum logit and 1/Σ of its exponentials, so
//                                 that Ox = exp(X⊙Wx + Bx − max)·(1/Σ) is recomputed where needed instead of stored
//     ColSoft [N, Q, W, 2]        the same for each column of Oy
//
// The structs are public although only the library uses them: ILGPU's runtime builds the kernels' launchers in an
// assembly of its own, which must see every kernel parameter's type.

namespace AttentionWise.Kernels;

/// <summary>Sizes of an attention-heads launch: batch N, heads K, channels C, rows H, columns W.</summary>
internal readonly struct HeadDims
{
    public HeadDims(int n, int heads, int channels, int height, int width)
    {
        N = n;
        K = heads;
        C = channels;
        H = height;
        W = width;
        Q = heads * channels;
        Plane = height * width;
        WeightSize = Q * Plane;
        Size = n * WeightSize;
    }

    public readonly int N;
    public readonly int K;
    public readonly int C;
    public readonly int H;
    public readonly int W;

    /// <summary>Head-BN channels, K·C.</summary>
    public readonly int Q;

    /// <summary>H·W.</summary>
    public readonly int Plane;

    /// <summary>Elements of one weight array, Q·H·W (offset of Wy in the packed weights).</summary>
    public readonly int WeightSize;

    /// <summary>Elements of Ox, N·Q·H·W (offset of Oy in oxy).</summary>
    public readonly int Size;

    /// <summary>Where plane (n, q) of a head tensor (index n·Q + q) reads its input: the offset of X's plane (n, q mod C).</summary>
    public int InputPlane(int plane)
    {
        int n = plane / Q;
        return (n * C + (plane - n * Q) % C) * Plane;
    }

    /// <summary>Index of plane (n, q)'s two fields in the head batchnorm's per-image partial sums [Q, N, 2].</summary>
    public int PartialIndex(int plane)
    {
        int n = plane / Q;
        return 2 * ((plane - n * Q) * N + n);
    }
}

/// <summary>Offsets of the small arrays in the aux buffer (see the legend).</summary>
internal readonly struct HeadAux
{
    public HeadAux(int n, int q, int h, int w)
    {
        int rows = n * q * h;
        int cols = n * q * w;
        Stats = 0;
        InvRow = 4 * q;
        ColR = InvRow + rows;
        RowR = ColR + 2 * cols;
        RowA = RowR + 2 * rows;
        ColA = RowA + rows;
        Images = ColA + cols;
        YRowOk = Images + 2 * n * q;
        YImageOk = YRowOk + rows;
        RowSoft = YImageOk + n * q;
        ColSoft = RowSoft + 2 * rows;
        Length = ColSoft + 2 * cols;
    }

    public readonly int Stats;
    public readonly int InvRow;
    public readonly int ColR;
    public readonly int RowR;
    public readonly int RowA;
    public readonly int ColA;
    public readonly int Images;
    public readonly int YRowOk;
    public readonly int YImageOk;
    public readonly int RowSoft;
    public readonly int ColSoft;
    public readonly int Length;
}

/// <summary>A fixed-order partial sum over blocks of images: entries source[Offset + ((n·Q + q)·E + e)·Stride + 0..1].</summary>
internal readonly struct PairSumDims
{
    public PairSumDims(int n, int q, int entries, int stride, int offset, int blockN)
    {
        N = n;
        Q = q;
        Entries = entries;
        Stride = stride;
        Offset = offset;
        BlockN = blockN;
        Blocks = (n + blockN - 1) / blockN;
    }

    public readonly int N;
    public readonly int Q;
    public readonly int Entries;
    public readonly int Stride;
    public readonly int Offset;
    public readonly int BlockN;
    public readonly int Blocks;
}

/// <summary>Settings of the head batchnorm (affine = false) statistics kernels.</summary>
internal readonly struct HeadNormConfig
{
    public HeadNormConfig(int q, int blocks, int count, float momentum, float eps, bool training)
    {
        Q = q;
        Blocks = blocks;
        Count = count;
        Momentum = momentum;
        Eps = eps;
        Training = training ? 1 : 0;
    }

    public readonly int Q;
    public readonly int Blocks;

    /// <summary>Elements per channel, N·H·W.</summary>
    public readonly int Count;

    public readonly float Momentum;
    public readonly float Eps;

    /// <summary>1: batch statistics (and running-statistics update); 0: running statistics.</summary>
    public readonly int Training;
}

/// <summary>How backward pass 2 is split into threads: each thread owns a block of images, one channel c
/// and one row i, for every head.</summary>
internal readonly struct HeadBackwardLayout
{
    public HeadBackwardLayout(int n, int channels, int height, int blockN, bool bias, bool skip, bool inputGradient)
    {
        BlockN = blockN;
        Blocks = (n + blockN - 1) / blockN;
        Threads = Blocks * channels * height;
        HasBias = bias ? 1 : 0;
        HasSkip = skip ? 1 : 0;
        InputGradient = inputGradient ? 1 : 0;
    }

    public readonly int BlockN;
    public readonly int Blocks;
    public readonly int Threads;
    public readonly int HasBias;

    /// <summary>1: gX starts from the skip connection's gradient instead of zero.</summary>
    public readonly int HasSkip;

    /// <summary>0: gX is not written (first layer of a model).</summary>
    public readonly int InputGradient;
}

/// <summary>How the plane kernels of one head layer are laid out (see GpuHeadPlaneKernels). Passed by value.</summary>
internal readonly struct HeadPlanes
{
    public HeadPlanes(HeadDims d)
    {
        Planes = d.N * d.Q;
        RowStride = d.W % 2 == 0 ? d.W + 1 : d.W;
        Columns = new FastDivisor(Math.Max(1, d.W));
    }

    /// <summary>N·Q planes.</summary>
    public readonly int Planes;

    /// <summary>Row stride of a plane in shared memory: W, made odd.</summary>
    public readonly int RowStride;

    /// <summary>W, as a divisor (element e of a plane is row e / W, column e % W).</summary>
    public readonly FastDivisor Columns;

    /// <summary>Floats a plane takes in shared memory.</summary>
    public static int SharedFloats(int h, int w) => h * (w % 2 == 0 ? w + 1 : w);
}
