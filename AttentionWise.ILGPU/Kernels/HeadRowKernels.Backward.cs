// Element-wise attention heads (SPEC §2), the per-row kernels of the backward pass (docs/attention-backward.md), generic
// over the kernel view. Layouts: HeadGeometry.cs.
using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Runtime;

namespace AttentionWise.Kernels;

internal static partial class HeadRowKernels
{
    /// <summary>
    /// Backward pass 1, one thread per image (n, q), from gR' = gZ⊙X, R = Ox⊙Oy and R' = (R − μ)·rstd:
    /// A = Σ R·gR' of every row (into RowA) and every column (into ColA), and the image's Σ gR', Σ gR'·R'
    /// (into Images) for the batchnorm backward.
    /// </summary>
    public static void BackwardSums<TView>(Index1D image, ArrayView<float> auxView, ArrayView<float> gzView, ArrayView<float> xView, ArrayView<float> oxyView, HeadDims d, HeadAux a)
        where TView : struct, IKernelView<TView>
    {
        var aux = TView.Of(auxView);
        var gz = TView.Of(gzView);
        var x = TView.Of(xView);
        var oxy = TView.Of(oxyView);
        int q = image % d.Q;
        int n = image / d.Q;
        int c = q % d.C;
        int w = d.W;
        int h = d.H;
        int o = image * d.Plane;
        int xo = (n * d.C + c) * d.Plane;
        int cb = a.ColA + image * w;
        int rb = a.RowA + image * h;
        int dy = d.Size;
        float mu = aux[q];
        float rstd = aux[d.Q + q];
        for (int j = 0; j < w; j++)
            aux[cb + j] = 0f;
        float sg = 0f, sgr = 0f;
        for (int i = 0; i < h; i++, o += w, xo += w)
        {
            float sa = 0f;
            for (int j = 0; j < w; j++)
            {
                float r = oxy[o + j] * oxy[dy + o + j];
                float g = gz[o + j] * x[xo + j];
                float rg = r * g;
                sg += g;
                sgr += g * ((r - mu) * rstd);
                sa += rg;
                aux[cb + j] += rg;
            }
            aux[rb + i] = sa;
        }
        aux[a.Images + 2 * image] = sg;
        aux[a.Images + 2 * image + 1] = sgr;
    }

    /// <summary>
    /// Backward pass 2, one thread per (block of images, channel c, row i), for every head k and column j,
    /// with the block's images innermost so that the weight-gradient sums stay in registers:
    /// gR = rstd·(gR' − a − b·R'), u = R·gR, gPx = u − Ox·s_row, gPy = u − Oy·s_col;
    /// gX = [gSkip] + Σ_k (gZ·R' + Wx·gPx + Wy·gPy); the block's sums of X·gPx, X·gPy (, gPx, gPy) into pW.
    /// </summary>
    public static void BackwardInput<TView>(Index1D thread, ArrayView<float> gxView, ArrayView<float> pwView, ArrayView<float> gzView, ArrayView<float> gskipView,
        ArrayView<float> xView, ArrayView<float> oxyView, ArrayView<float> wpView, ArrayView<float> auxView, HeadDims d, HeadAux ax, HeadBackwardLayout layout)
        where TView : struct, IKernelView<TView>
    {
        var gx = TView.Of(gxView);
        var pw = TView.Of(pwView);
        var gz = TView.Of(gzView);
        var gskip = TView.Of(gskipView);
        var x = TView.Of(xView);
        var oxy = TView.Of(oxyView);
        var wp = TView.Of(wpView);
        var aux = TView.Of(auxView);
        int i = thread % d.H;
        int u0 = thread / d.H;
        int c = u0 % d.C;
        int b = u0 / d.C;
        int w = d.W;
        int n0 = b * layout.BlockN;
        int n1 = XMath.Min(d.N, n0 + layout.BlockN);
        int rowOffset = i * w;

        if (layout.InputGradient != 0)
        {
            for (int n = n0; n < n1; n++)
            {
                int xb = (n * d.C + c) * d.Plane + rowOffset;
                for (int j = 0; j < w; j++)
                    gx[xb + j] = layout.HasSkip != 0 ? gskip[xb + j] : 0f;
            }
        }

        int field = layout.Blocks * d.WeightSize;
        int xStep = d.C * d.Plane;      // one image further in X and gX
        int oStep = d.Q * d.Plane;      // one image further in Ox, Oy and gZ
        int srStep = d.Q * d.H;
        int scStep = d.Q * w;
        for (int k = 0; k < d.K; k++)
        {
            int q = k * d.C + c;
            float mu = aux[q];
            float rstd = aux[d.Q + q];
            float a = aux[2 * d.Q + q];
            float bb = aux[3 * d.Q + q];
            // gR = rstd·gR' − alpha − beta·R and R' = rstd·R − gamma.
            float alpha = rstd * (a - bb * rstd * mu);
            float beta = bb * rstd * rstd;
            float gamma = rstd * mu;
            int wb = q * d.Plane + rowOffset;
            int pb = (b * d.Q + q) * d.Plane + rowOffset;
            for (int j = 0; j < w; j++)
            {
                pw[pb + j] = 0f;
                pw[field + pb + j] = 0f;
                if (layout.HasBias != 0)
                {
                    pw[2 * field + pb + j] = 0f;
                    pw[3 * field + pb + j] = 0f;
                }
            }
            for (int n = n0; n < n1; n++)
            {
                int image = n * d.Q + q;
                int ob = image * d.Plane + rowOffset;
                int xb = (n * d.C + c) * d.Plane + rowOffset;
                int sc = ax.ColA + image * w;
                float sRow = aux[ax.RowA + image * d.H + i];
                for (int j = 0; j < w; j++)
                {
                    float oxv = oxy[ob + j];
                    float oyv = oxy[d.Size + ob + j];
                    float xv = x[xb + j];
                    float gzv = gz[ob + j];
                    float r = oxv * oyv;
                    float uu = r * (rstd * gzv * xv - alpha - beta * r);
                    float gpx = uu - oxv * sRow;
                    float gpy = uu - oyv * aux[sc + j];
                    if (layout.InputGradient != 0)
                        gx[xb + j] += gzv * (rstd * r - gamma) + wp[wb + j] * gpx + wp[d.WeightSize + wb + j] * gpy;
                    pw[pb + j] += xv * gpx;
                    pw[field + pb + j] += xv * gpy;
                    if (layout.HasBias != 0)
                    {
                        pw[2 * field + pb + j] += gpx;
                        pw[3 * field + pb + j] += gpy;
                    }
                }
            }
        }
    }

    /// <summary>One thread per weight element e of [Q, H, W]: adds the blocks' partial sums, in block order,
    /// to the gradients of Wx, Wy (and Bx, By when hasBias is 1).</summary>
    public static void WeightGradients<TView>(Index1D e, ArrayView<float> gwxView, ArrayView<float> gwyView, ArrayView<float> gbxView, ArrayView<float> gbyView,
        ArrayView<float> pwView, int size, int blocks, int hasBias)
        where TView : struct, IKernelView<TView>
    {
        var gwx = TView.Of(gwxView);
        var gwy = TView.Of(gwyView);
        var gbx = TView.Of(gbxView);
        var gby = TView.Of(gbyView);
        var pw = TView.Of(pwView);
        int field = blocks * size;
        float sx = 0f, sy = 0f, tx = 0f, ty = 0f;
        for (int b = 0, p = e; b < blocks; b++, p += size)
        {
            sx += pw[p];
            sy += pw[field + p];
            if (hasBias != 0)
            {
                tx += pw[2 * field + p];
                ty += pw[3 * field + p];
            }
        }
        gwx[e] += sx;
        gwy[e] += sy;
        if (hasBias != 0)
        {
            gbx[e] += tx;
            gby[e] += ty;
        }
    }
}
