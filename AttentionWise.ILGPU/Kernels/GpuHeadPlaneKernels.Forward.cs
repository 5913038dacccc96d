// Element-wise attention heads on GPU-shaped devices: explicitly grouped kernels over whole image planes in shared
// memory. Same legend as HeadGeometry.cs (X, Wx, Wy, wp, oxy, aux, pW, Q = K·C); the batchnorm statistics, the
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
//   SoftmaxPlanes       forward: the row softmax of X·Wx (+Bx) and the column softmax of X·Wy (+By), always with the
//                       maximum subtracted, kept in shared memory only: each row's and column's maximum and 1/Σ of
//                       exponentials go to RowSoft and ColSoft, from which the later kernels recompute Ox and Oy
//                       (Ox and Oy are N·Q·H·W floats each: storing them would cost a write and three reads of both,
//                       against a read of X, which is K times smaller). Also each column's Σ_i R and its M2
//                       Σ_i (R − mean)² into ColR, and the plane's Σ R and M2 (the columns merged with Chan's formula)
//                       into the head batchnorm's partial sums: a variance from deviations, not E[R²] − E[R]².
//   HeadOutputPlanes    forward: Z = X ⊙ (R − μ_q)·rstd_q and each row's Σ_j R and M2 into RowR.
//   BackwardSumsPlanes  backward pass 1: RowA, ColA (Σ R·gR' of rows and columns) and the plane's Σ gR', Σ gR'·R' into the
//                       batchnorm's partial sums.
//   CoefficientsPlanes  backward: each row's and column's A into s = Σ R·gR (HeadNormKernels.SoftmaxCoefficients, from
//                       the lines' sums and M2).
//   BackwardInputPlanes backward pass 2, one group per (block of images, channel c), 1-D: every element of the plane is
//                       a thread's (coalesced), the block's images and every head are looped over; the input gradient of
//                       each image of the block is accumulated in shared memory (each thread touches only its own
//                       elements, so no barrier), the weight-gradient sums of the block in registers.
//   SoftmaxesPlanes     Ox and Oy written out from RowSoft and ColSoft, only when asked for (visualisation, tests).
using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Runtime;

namespace AttentionWise.Kernels;

/// <summary>The heads' plane kernels for GPU-shaped devices (see the file header).</summary>
internal static partial class GpuHeadPlaneKernels
{
    /// <summary>Floats of each shared array of the per-plane kernels (all teams of a group together).</summary>
    public const int PlaneShared = 4096;

    /// <summary>Floats of BackwardInputPlanes' shared input-gradient block (images of the block × plane).</summary>
    public const int BlockShared = 8192;

    /// <summary>Most threads of a group (the lanes' partial sums of BackwardSumsPlanes).</summary>
    public const int MaxThreads = 256;

    /// <summary>Most threads of a BackwardInputPlanes group (it keeps no per-thread shared arrays).</summary>
    public const int BackwardMaxThreads = 1024;

    /// <summary>Ox (row softmax) at one element from its logit and its row's maximum and 1/Σ; Oy the same with its
    /// column's. The one formula every plane kernel uses, so that a recomputed value is the forward's.</summary>
    public static float Softmax(float logit, float max, float inv) => XMath.Exp(logit - max) * inv;

    /// <summary>The x and y logits at one element: X·Wx (+ Bx) and X·Wy (+ By). The one formula of the forward and of
    /// every recomputation.</summary>
    public static (float Px, float Py) Logits(float xv, float wx, float wy, float bx, float by, int hasBias)
    {
        float px = xv * wx;
        float py = xv * wy;
        if (hasBias != 0)
        {
            px += bx;
            py += by;
        }
        return (px, py);
    }

    /// <summary>The logits at element <paramref name="we"/> of the packed weights (see <see cref="Logits(float, float, float, float, float, int)"/>).</summary>
    public static (float Px, float Py) Logits(ArrayView<float> wp, float xv, int we, HeadDims d, int hasBias) =>
        Logits(xv, wp[we], wp[d.WeightSize + we], hasBias != 0 ? wp[2 * d.WeightSize + we] : 0f, hasBias != 0 ? wp[3 * d.WeightSize + we] : 0f,
            hasBias);

    /// <summary>Ox and Oy at one element from its logits and its row's and column's maxima and normalisers.</summary>
    public static (float Ox, float Oy) Softmaxes(ArrayView<float> aux, float px, float py, int row, int col, HeadAux a) =>
        (Softmax(px, aux[a.RowSoft + 2 * row], aux[a.RowSoft + 2 * row + 1]), Softmax(py, aux[a.ColSoft + 2 * col], aux[a.ColSoft + 2 * col + 1]));

    /// <summary>Forward: the softmaxes' maxima and normalisers, the columns' sums and M2 of R, and the planes' sums and
    /// M2 of R into <paramref name="partial"/> [Q, N, 2] (see the file header).</summary>
    public static void SoftmaxPlanes(ArrayView<float> aux, ArrayView<float> partial, ArrayView<float> x, ArrayView<float> wp,
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
            int xo = d.InputPlane(plane);
            int wo = plane % d.Q * hw;
            for (int e = lane; e < hw; e += lanes)
            {
                int i = p.Columns.Divide(e);
                int s = s0 + i * rs + e - i * w;
                var (px, py) = Logits(wp, x[xo + e], wo + e, d, hasBias);
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
                    sum += XMath.Exp(sx[r0 + j] - m);
                float inv = 1f / sum;
                for (int j = 0; j < w; j++)
                    sx[r0 + j] = Softmax(sx[r0 + j], m, inv);
                aux[a.RowSoft + 2 * (plane * h + i)] = m;
                aux[a.RowSoft + 2 * (plane * h + i) + 1] = inv;
            }
        }
        Group.Barrier();
        var lineMoments = new Moments(0f, 0f, 0f);
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
                    sum += XMath.Exp(sy[s] - m);
                float inv = 1f / sum;
                float r1 = 0f;
                for (int s = c0; s < end; s += rs)
                {
                    float v = Softmax(sy[s], m, inv);
                    sy[s] = v;
                    r1 += sx[s] * v;
                }
                float mean = r1 / h;
                float m2 = 0f;
                for (int s = c0; s < end; s += rs)
                {
                    float dev = sx[s] * sy[s] - mean;
                    m2 += dev * dev;
                }
                int col = plane * w + j;
                aux[a.ColSoft + 2 * col] = m;
                aux[a.ColSoft + 2 * col + 1] = inv;
                aux[a.ColR + 2 * col] = r1;
                aux[a.ColR + 2 * col + 1] = m2;
                lineMoments = lineMoments.Merge(new Moments(h, r1, m2));
            }
        }
        // Every lane has read the planes: their shared memory takes the lanes' moments (a lane's count is H times its
        // columns, known to lane 0), which lane 0 merges in lane order.
        Group.Barrier();
        int slot = team * lanes + lane;
        sx[slot] = lineMoments.Sum;
        sy[slot] = lineMoments.M2;
        Group.Barrier();
        if (live && lane == 0)
        {
            var total = new Moments(0f, 0f, 0f);
            for (int l = 0; l < lanes && l < w; l++)
            {
                int columns = (w - l + lanes - 1) / lanes;
                total = total.Merge(new Moments(h * columns, sx[team * lanes + l], sy[team * lanes + l]));
            }
            int pi = d.PartialIndex(plane);
            partial[pi] = total.Sum;
            partial[pi + 1] = total.M2;
        }
    }

    /// <summary>Forward: Z and the rows' sums and M2 of R (see the file header).</summary>
    public static void HeadOutputPlanes(ArrayView<float> z, ArrayView<float> aux, ArrayView<float> x, ArrayView<float> wp, HeadDims d, int hasBias,
        HeadAux a, HeadPlanes p)
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
            int q = plane % d.Q;
            int xo = d.InputPlane(plane);
            int wo = q * hw;
            int o = plane * hw;
            float mu = aux[q];
            float rstd = aux[d.Q + q];
            for (int e = lane; e < hw; e += lanes)
            {
                int i = p.Columns.Divide(e);
                int j = e - i * w;
                float xv = x[xo + e];
                float r = Relevance(aux, wp, xv, wo + e, plane * h + i, plane * w + j, d, hasBias, a);
                z[o + e] = xv * ((r - mu) * rstd);
                sr[s0 + i * rs + j] = r;
            }
        }
        Group.Barrier();
        if (live)
        {
            for (int i = lane; i < h; i += lanes)
            {
                int r0 = s0 + i * rs;
                float r1 = 0f;
                for (int j = 0; j < w; j++)
                    r1 += sr[r0 + j];
                float mean = r1 / w;
                float m2 = 0f;
                for (int j = 0; j < w; j++)
                {
                    float dev = sr[r0 + j] - mean;
                    m2 += dev * dev;
                }
                aux[a.RowR + 2 * (plane * h + i)] = r1;
                aux[a.RowR + 2 * (plane * h + i) + 1] = m2;
            }
        }
    }

    /// <summary>R = Ox·Oy at one element, recomputed from X, the packed weights (element <paramref name="we"/> of each
    /// array) and the element's row and column normalisers.</summary>
    public static float Relevance(ArrayView<float> aux, ArrayView<float> wp, float xv, int we, int row, int col, HeadDims d, int hasBias, HeadAux a)
    {
        var (ox, oy) = Softmaxes(aux, wp, xv, we, row, col, d, hasBias, a);
        return ox * oy;
    }

    /// <summary>Ox and Oy at one element, recomputed (see <see cref="Relevance"/>).</summary>
    public static (float Ox, float Oy) Softmaxes(ArrayView<float> aux, ArrayView<float> wp, float xv, int we, int row, int col, HeadDims d, int hasBias,
        HeadAux a)
    {
        var (px, py) = Logits(wp, xv, we, d, hasBias);
        return Softmaxes(aux, px, py, row, col, a);
    }

    /// <summary>Ox and Oy written out from the forward's normalisers, one thread per element of N·Q·H·W.</summary>
    public static void SoftmaxesPlanes(Index1D e, ArrayView<float> oxy, ArrayView<float> aux, ArrayView<float> x, ArrayView<float> wp, HeadDims d,
        int hasBias, HeadAux a, HeadPlanes p)
    {
        int plane = e / d.Plane;
        int pe = e - plane * d.Plane;
        int i = p.Columns.Divide(pe);
        int j = pe - i * d.W;
        var (ox, oy) = Softmaxes(aux, wp, x[d.InputPlane(plane) + pe], plane % d.Q * d.Plane + pe, plane * d.H + i, plane * d.W + j, d, hasBias, a);
        oxy[e] = ox;
        oxy[d.Size + e] = oy;
    }
}
