// Element-wise attention heads on GPU-shaped devices: explicitly grouped kernels over whole image planes in shared
// memory. Same legend as AttentionKernels.cs (X, Wx, Wy, wp, oxy, aux, pW, Q = K·C); the batchnorm statistics, the
// softmax coefficients and the weight-gradient sums stay the implicitly grouped kernels of that file.
//
// A plane is one image of one head channel, (n, q) with q = k·C + c, H × W values. The per-row kernels of the cpu
// device give one thread a row, so that on a GPU neighbouring threads read addresses W floats apart. Here a team of
// L lanes owns a plane: it reads the plane with neighbouring lanes on neighbouring elements (coalesced), keeps it in
// shared memory with an odd row stride (rows and columns then fall in distinct banks), and each lane reduces whole
// rows (then whole columns) out of shared memory in a fixed order: the softmax maximum and sum, the batchnorm sums.
// A group holds P teams (P planes); all planes of a layer, every head, are one launch. Group (L, P), grid ⌈N·Q / P⌉.
// No warp shuffles: ILGPU 1.5.3 emits them for OpenCL only as Intel's intel_sub_group_shuffle*, which neither PoCL nor
// AMD's OpenCL has, and no warp width is assumed (the simulator's is 4); teams are synchronised by group barriers.
//
//   SoftmaxPlanes       forward: Ox = row softmax of X·Wx (+Bx), Oy = column softmax of X·Wy (+By), always with the
//                       maximum subtracted; and each column's Σ_i R, Σ_i R² (R = Ox⊙Oy) into ColR. Replaces RowSoftmax,
//                       ImageFlags and ColumnSoftmax (three passes over memory become one).
//   HeadOutputPlanes    forward: Z = X ⊙ (R − μ_q)·rstd_q and each row's Σ_j R, Σ_j R² into RowR.
//   BackwardSumsPlanes  backward pass 1: RowA, ColA (Σ R·gR' of rows and columns) and the plane's Σ gR', Σ gR'·R'.
//   BackwardInputPlanes backward pass 2, one group per (block of images, channel c), 1-D: every element of the plane is
//                       a thread's (coalesced), the block's images and every head are looped over; the input gradient of
//                       each image of the block is accumulated in shared memory (each thread touches only its own
//                       elements, so no barrier), the weight-gradient sums of the block in registers.
using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Runtime;

namespace AttentionWise.Kernels;

/// <summary>How the plane kernels of one head layer are laid out (see AttentionPlaneKernels.cs). Passed by value.</summary>
public readonly struct HeadPlanes
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

public static class AttentionPlaneKernels
{
    /// <summary>Weight elements per group of <see cref="WeightGradientsGroup"/> at most (the group's x extent).</summary>
    public const int WeightGradLanes = 32;

    /// <summary>Rows of <see cref="WeightGradientsGroup"/>'s groups at most (its y extent; 32 × 32 = 1024 threads).</summary>
    public const int WeightGradMaxRows = 32;

    /// <summary>
    /// The attention weights' gradients from the backward pass's per-block partial sums pW [fields, blocks, size]: group
    /// (L × R, L ≤ 32 lanes, R ≤ 32 rows) takes L consecutive weight elements e (one per lane, so neighbouring lanes read
    /// neighbouring floats); row r
    /// of the group sums blocks r, r + R, r + 2R, … in order; then row 0 adds the R row sums in row order and adds the
    /// result to gWx, gWy (and gBx, gBy when hasBias is 1). The same partial sums as AttentionKernels.WeightGradients,
    /// over R·size threads instead of size, in a fixed order for a given R. Grid ceil(size / L).
    /// </summary>
    public static void WeightGradientsGroup(ArrayView<float> gwx, ArrayView<float> gwy, ArrayView<float> gbx, ArrayView<float> gby,
        ArrayView<float> pw, int size, int blocks, int hasBias)
    {
        var sums = SharedMemory.Allocate<float>(4 * WeightGradLanes * WeightGradMaxRows);
        int lane = Group.IdxX;
        int lanes = Group.DimX;
        int row = Group.IdxY;
        int rows = Group.DimY;
        int e = Grid.IdxX * lanes + lane;
        int field = blocks * size;
        float sx = 0f, sy = 0f, tx = 0f, ty = 0f;
        if (e < size)
        {
            for (int b = row; b < blocks; b += rows)
            {
                int p = b * size + e;
                sx += pw[p];
                sy += pw[field + p];
                if (hasBias != 0)
                {
                    tx += pw[2 * field + p];
                    ty += pw[3 * field + p];
                }
            }
        }
        int plane = WeightGradLanes * WeightGradMaxRows;
        int slot = row * lanes + lane;
        sums[slot] = sx;
        sums[plane + slot] = sy;
        sums[2 * plane + slot] = tx;
        sums[3 * plane + slot] = ty;
        Group.Barrier();
        if (row == 0 && e < size)
        {
            float ax = 0f, ay = 0f, bx = 0f, by = 0f;
            for (int r = 0; r < rows; r++)
            {
                int q = r * lanes + lane;
                ax += sums[q];
                ay += sums[plane + q];
                bx += sums[2 * plane + q];
                by += sums[3 * plane + q];
            }
            gwx[e] += ax;
            gwy[e] += ay;
            if (hasBias != 0)
            {
                gbx[e] += bx;
                gby[e] += by;
            }
        }
    }

    /// <summary>Floats of each shared array of the per-plane kernels (all teams of a group together).</summary>
    public const int PlaneShared = 4096;

    /// <summary>Floats of BackwardInputPlanes' shared input-gradient block (images of the block × plane).</summary>
    public const int BlockShared = 8192;

    /// <summary>Most threads of a group (the lanes' partial sums of BackwardSumsPlanes).</summary>
    public const int MaxThreads = 256;

    /// <summary>Forward: the softmaxes and the column sums of R (see the file header).</summary>
    public static void SoftmaxPlanes(ArrayView<float> oxy, ArrayView<float> aux, ArrayView<float> x, ArrayView<float> wp,
        HeadDims d, int hasBias, HeadAux a, HeadPlanes p)
    {
        var sx = SharedMemory.Allocate<float>(PlaneShared);
        var sy = SharedMemory.Allocate<float>(PlaneShared);
        int lane = Group.IdxX;
        int lanes = Group.DimX;
        int team = Group.IdxY;
        int plane = Grid.IdxX * Group.DimY + team;
        bool live = plane < p.Planes;
        int w = d.W, h = d.H, hw = d.Plane, rs = p.RowStride;
        int s0 = team * h * rs;
        if (live)
        {
            int n = plane / d.Q;
            int q = plane - n * d.Q;
            int c = q % d.C;
            int xo = (n * d.C + c) * hw;
            int wo = q * hw;
            for (int e = lane; e < hw; e += lanes)
            {
                int i = p.Columns.Divide(e);
                int s = s0 + i * rs + e - i * w;
                float xv = x[xo + e];
                float px = xv * wp[wo + e];
                float py = xv * wp[d.WeightSize + wo + e];
                if (hasBias != 0)
                {
                    px += wp[2 * d.WeightSize + wo + e];
                    py += wp[3 * d.WeightSize + wo + e];
                }
                sx[s] = px;
                sy[s] = py;
            }
        }
        Group.Barrier();
        if (live)
        {
            for (int i = lane; i < h; i += lanes)
            {
                int r0 = s0 + i * rs;
                float m = float.NegativeInfinity;
                for (int j = 0; j < w; j++)
                    m = XMath.Max(m, sx[r0 + j]);
                float sum = 0f;
                for (int j = 0; j < w; j++)
                {
                    float v = XMath.Exp(sx[r0 + j] - m);
                    sx[r0 + j] = v;
                    sum += v;
                }
                float inv = 1f / sum;
                for (int j = 0; j < w; j++)
                    sx[r0 + j] *= inv;
            }
        }
        Group.Barrier();
        if (live)
        {
            for (int j = lane; j < w; j += lanes)
            {
                int c0 = s0 + j;
                int end = c0 + h * rs;
                float m = float.NegativeInfinity;
                for (int s = c0; s < end; s += rs)
                    m = XMath.Max(m, sy[s]);
                float sum = 0f;
                for (int s = c0; s < end; s += rs)
                {
                    float v = XMath.Exp(sy[s] - m);
                    sy[s] = v;
                    sum += v;
                }
                float inv = 1f / sum;
                float r1 = 0f, r2 = 0f;
                for (int s = c0; s < end; s += rs)
                {
                    float v = sy[s] * inv;
                    sy[s] = v;
                    float r = sx[s] * v;
                    r1 += r;
                    r2 += r * r;
                }
                aux[a.ColR + 2 * (plane * w + j)] = r1;
                aux[a.ColR + 2 * (plane * w + j) + 1] = r2;
            }
        }
        Group.Barrier();
        if (live)
        {
            int o = plane * hw;
            for (int e = lane; e < hw; e += lanes)
            {
                int i = p.Columns.Divide(e);
                int s = s0 + i * rs + e - i * w;
                oxy[o + e] = sx[s];
                oxy[d.Size + o + e] = sy[s];
            }
        }
    }

    /// <summary>Forward: Z and the row sums of R (see the file header).</summary>
    public static void HeadOutputPlanes(ArrayView<float> z, ArrayView<float> aux, ArrayView<float> x, ArrayView<float> oxy, HeadDims d, HeadAux a, HeadPlanes p)
    {
        var sr = SharedMemory.Allocate<float>(PlaneShared);
        int lane = Group.IdxX;
        int lanes = Group.DimX;
        int team = Group.IdxY;
        int plane = Grid.IdxX * Group.DimY + team;
        bool live = plane < p.Planes;
        int w = d.W, h = d.H, hw = d.Plane, rs = p.RowStride;
        int s0 = team * h * rs;
        if (live)
        {
            int n = plane / d.Q;
            int q = plane - n * d.Q;
            int c = q % d.C;
            int xo = (n * d.C + c) * hw;
            int o = plane * hw;
            float mu = aux[q];
            float rstd = aux[d.Q + q];
            for (int e = lane; e < hw; e += lanes)
            {
                int i = p.Columns.Divide(e);
                float r = oxy[o + e] * oxy[d.Size + o + e];
                z[o + e] = x[xo + e] * ((r - mu) * rstd);
                sr[s0 + i * rs + e - i * w] = r;
            }
        }
        Group.Barrier();
        if (live)
        {
            for (int i = lane; i < h; i += lanes)
            {
                int r0 = s0 + i * rs;
                float r1 = 0f, r2 = 0f;
                for (int j = 0; j < w; j++)
                {
                    float r = sr[r0 + j];
                    r1 += r;
                    r2 += r * r;
                }
                aux[a.RowR + 2 * (plane * h + i)] = r1;
                aux[a.RowR + 2 * (plane * h + i) + 1] = r2;
            }
        }
    }

    /// <summary>Backward pass 1: RowA, ColA and the plane's sums into Images (see the file header).</summary>
    public static void BackwardSumsPlanes(ArrayView<float> aux, ArrayView<float> gz, ArrayView<float> x, ArrayView<float> oxy, HeadDims d, HeadAux a, HeadPlanes p)
    {
        var srg = SharedMemory.Allocate<float>(PlaneShared);
        var sg = SharedMemory.Allocate<float>(MaxThreads);
        var sgr = SharedMemory.Allocate<float>(MaxThreads);
        int lane = Group.IdxX;
        int lanes = Group.DimX;
        int team = Group.IdxY;
        int plane = Grid.IdxX * Group.DimY + team;
        bool live = plane < p.Planes;
        int w = d.W, h = d.H, hw = d.Plane, rs = p.RowStride;
        int s0 = team * h * rs;
        float g1 = 0f, g2 = 0f;
        if (live)
        {
            int n = plane / d.Q;
            int q = plane - n * d.Q;
            int c = q % d.C;
            int xo = (n * d.C + c) * hw;
            int o = plane * hw;
            float mu = aux[q];
            float rstd = aux[d.Q + q];
            for (int e = lane; e < hw; e += lanes)
            {
                int i = p.Columns.Divide(e);
                float r = oxy[o + e] * oxy[d.Size + o + e];
                float g = gz[o + e] * x[xo + e];
                srg[s0 + i * rs + e - i * w] = r * g;
                g1 += g;
                g2 += g * ((r - mu) * rstd);
            }
        }
        sg[team * lanes + lane] = g1;
        sgr[team * lanes + lane] = g2;
        Group.Barrier();
        if (live)
        {
            for (int i = lane; i < h; i += lanes)
            {
                int r0 = s0 + i * rs;
                float sa = 0f;
                for (int j = 0; j < w; j++)
                    sa += srg[r0 + j];
                aux[a.RowA + plane * h + i] = sa;
            }
            for (int j = lane; j < w; j += lanes)
            {
                int end = s0 + j + h * rs;
                float sa = 0f;
                for (int s = s0 + j; s < end; s += rs)
                    sa += srg[s];
                aux[a.ColA + plane * w + j] = sa;
            }
            if (lane == 0)
            {
                float t1 = 0f, t2 = 0f;
                for (int l = 0; l < lanes; l++)
                {
                    t1 += sg[team * lanes + l];
                    t2 += sgr[team * lanes + l];
                }
                aux[a.Images + 2 * plane] = t1;
                aux[a.Images + 2 * plane + 1] = t2;
            }
        }
    }

    /// <summary>Backward pass 2 (see the file header and AttentionKernels.BackwardInput for the formulas). Group 1-D,
    /// grid (image blocks, C).</summary>
    public static void BackwardInputPlanes(ArrayView<float> gx, ArrayView<float> pw, ArrayView<float> gz, ArrayView<float> gskip,
        ArrayView<float> x, ArrayView<float> oxy, ArrayView<float> wp, ArrayView<float> aux, HeadDims d, HeadAux ax, HeadBackwardLayout layout, HeadPlanes p)
    {
        var gxs = SharedMemory.Allocate<float>(BlockShared);
        int t = Group.IdxX;
        int threads = Group.DimX;
        int b = Grid.IdxX;
        int c = Grid.IdxY;
        int w = d.W, h = d.H, hw = d.Plane;
        int n0 = b * layout.BlockN;
        int count = d.N - n0 < layout.BlockN ? d.N - n0 : layout.BlockN;
        int xStep = d.C * hw;
        if (layout.InputGradient != 0)
        {
            for (int nl = 0; nl < count; nl++)
            {
                int xb = ((n0 + nl) * d.C + c) * hw;
                for (int e = t; e < hw; e += threads)
                    gxs[nl * hw + e] = layout.HasSkip != 0 ? gskip[xb + e] : 0f;
            }
        }
        int field = layout.Blocks * d.WeightSize;
        int oStep = d.Q * hw;
        for (int k = 0; k < d.K; k++)
        {
            int q = k * d.C + c;
            float mu = aux[q];
            float rstd = aux[d.Q + q];
            float am = aux[2 * d.Q + q];
            float bm = aux[3 * d.Q + q];
            // gR = rstd·gR' − alpha − beta·R and R' = rstd·R − gamma.
            float alpha = rstd * (am - bm * rstd * mu);
            float beta = bm * rstd * rstd;
            float gamma = rstd * mu;
            int wb = q * hw;
            int pb = (b * d.Q + q) * hw;
            for (int e = t; e < hw; e += threads)
            {
                int i = p.Columns.Divide(e);
                int j = e - i * w;
                float wxv = wp[wb + e];
                float wyv = wp[d.WeightSize + wb + e];
                float sx = 0f, sy = 0f, tx = 0f, ty = 0f;
                int image = n0 * d.Q + q;
                int ob = image * hw + e;
                int xb = (n0 * d.C + c) * hw + e;
                for (int nl = 0; nl < count; nl++, image += d.Q, ob += oStep, xb += xStep)
                {
                    float oxv = oxy[ob];
                    float oyv = oxy[d.Size + ob];
                    float xv = x[xb];
                    float gzv = gz[ob];
                    float sRow = aux[ax.RowA + image * h + i];
                    float sCol = aux[ax.ColA + image * w + j];
                    float r = oxv * oyv;
                    float uu = r * (rstd * gzv * xv - alpha - beta * r);
                    float gpx = uu - oxv * sRow;
                    float gpy = uu - oyv * sCol;
                    if (layout.InputGradient != 0)
                        gxs[nl * hw + e] += gzv * (rstd * r - gamma) + wxv * gpx + wyv * gpy;
                    sx += xv * gpx;
                    sy += xv * gpy;
                    tx += gpx;
                    ty += gpy;
                }
                pw[pb + e] = sx;
                pw[field + pb + e] = sy;
                if (layout.HasBias != 0)
                {
                    pw[2 * field + pb + e] = tx;
                    pw[3 * field + pb + e] = ty;
                }
            }
        }
        if (layout.InputGradient != 0)
        {
            for (int nl = 0; nl < count; nl++)
            {
                int xb = ((n0 + nl) * d.C + c) * hw;
                for (int e = t; e < hw; e += threads)
                    gx[xb + e] = gxs[nl * hw + e];
            }
        }
    }
}
