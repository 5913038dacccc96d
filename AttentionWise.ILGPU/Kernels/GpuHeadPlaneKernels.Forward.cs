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

/// <summary>The heads' plane kernels for GPU-shaped devices (see the file header).</summary>
internal static partial class GpuHeadPlaneKernels
{
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
}
