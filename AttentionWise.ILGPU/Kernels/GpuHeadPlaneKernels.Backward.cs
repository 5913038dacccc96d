// Element-wise attention heads on GPU-shaped devices, the backward plane kernels and the weight gradients' group
// reduction (see GpuHeadPlaneKernels.Forward.cs for the plane layout, HeadGeometry.cs for the legend).
using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Runtime;

namespace AttentionWise.Kernels;

internal static partial class GpuHeadPlaneKernels
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
    /// result to gWx, gWy (and gBx, gBy when hasBias is 1). The same partial sums as HeadRowKernels.WeightGradients,
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

    /// <summary>Backward pass 1: RowA, ColA, and the plane's Σ gR', Σ gR'·R' into <paramref name="partial"/> [Q, N, 2] (see
    /// the file header).</summary>
    public static void BackwardSumsPlanes(ArrayView<float> aux, ArrayView<float> partial, ArrayView<float> gz, ArrayView<float> x, ArrayView<float> wp,
        HeadDims d, int hasBias, HeadAux a, HeadPlanes p)
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
                float g = gz[o + e] * xv;
                srg[s0 + i * rs + j] = r * g;
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
                int pi = d.PartialIndex(plane);
                partial[pi] = t1;
                partial[pi + 1] = t2;
            }
        }
    }

    /// <summary>Backward pass 2 (see the file header and HeadRowKernels.BackwardInput for the formulas). Group 1-D,
    /// grid (image blocks, C).</summary>
    public static void BackwardInputPlanes(ArrayView<float> gx, ArrayView<float> pw, ArrayView<float> gz, ArrayView<float> gskip,
        ArrayView<float> x, ArrayView<float> wp, ArrayView<float> aux, HeadDims d, HeadAux ax, HeadBackwardLayout layout, HeadPlanes p)
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
                float bxv = layout.HasBias != 0 ? wp[2 * d.WeightSize + wb + e] : 0f;
                float byv = layout.HasBias != 0 ? wp[3 * d.WeightSize + wb + e] : 0f;
                float sx = 0f, sy = 0f, tx = 0f, ty = 0f;
                int image = n0 * d.Q + q;
                int ob = image * hw + e;
                int xb = (n0 * d.C + c) * hw + e;
                for (int nl = 0; nl < count; nl++, image += d.Q, ob += oStep, xb += xStep)
                {
                    float xv = x[xb];
                    int row = image * h + i;
                    int col = image * w + j;
                    // Ox and Oy recomputed as the forward computed them, from the weights read once per element.
                    var (px, py) = Logits(xv, wxv, wyv, bxv, byv, layout.HasBias);
                    var (oxv, oyv) = Softmaxes(aux, px, py, row, col, ax);
                    float gzv = gz[ob];
                    float sRow = aux[ax.RowA + row];
                    float sCol = aux[ax.ColA + col];
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

    /// <summary>Backward, one thread per row or column of each plane, as HeadNormKernels.SoftmaxCoefficients (thread e of
    /// N·Q·(H + W): plane e / (H + W), then its rows, then its columns), from the plane kernels' sums and M2 of R:
    /// Σ R·R' = rstd·Σ R·(R − μ) = rstd·(M2 + ΣR·(mean − μ)) with mean = ΣR / length, so no E[R²] − E[R]² cancels.</summary>
    public static void CoefficientsPlanes(Index1D e, ArrayView<float> aux, HeadDims d, HeadAux ax)
    {
        var (q, sums, target, length) = HeadNormKernels.CoefficientLine(e, d, ax);
        float mu = aux[q];
        float rstd = aux[d.Q + q];
        float a = aux[2 * d.Q + q];
        float b = aux[3 * d.Q + q];
        float sr = aux[sums];
        float centred = aux[sums + 1] + sr * (sr / length - mu);
        aux[target] = rstd * (aux[target] - a * sr - b * rstd * centred);
    }
}
