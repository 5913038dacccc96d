// Element-wise attention heads (SPEC §2), the per-row kernels of the forward pass: one thread per row or column of a
// plane, generic over the kernel view, so that the cpu device (host passes off) and GPU-shaped devices (planes too large
// for the plane kernels' shared memory) run the same code. Layouts: HeadGeometry.cs.
using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Runtime;
using static AttentionWise.Kernels.AttentionKernels;

namespace AttentionWise.Kernels;

/// <summary>Forward kernels of the heads, one thread per row or column (see the file header).</summary>
internal static partial class HeadRowKernels
{
    /// <summary>One thread per weight element: wp = [Wx, Wy (, Bx, By)].</summary>
    public static void PackWeights<TView>(Index1D e, ArrayView<float> wpView, ArrayView<float> wxView, ArrayView<float> wyView, ArrayView<float> bxView, ArrayView<float> byView,
        int size, int hasBias)
        where TView : struct, IKernelView<TView>
    {
        var wp = TView.Of(wpView);
        var wx = TView.Of(wxView);
        var wy = TView.Of(wyView);
        var bx = TView.Of(bxView);
        var by = TView.Of(byView);
        wp[e] = wx[e];
        wp[size + e] = wy[e];
        if (hasBias != 0)
        {
            wp[2 * size + e] = bx[e];
            wp[3 * size + e] = by[e];
        }
    }

    /// <summary>
    /// Forward, one thread per row (n, k, c, i), both exponentials: exp(X·Wx + Bx − shift) into Ox (shift
    /// from the row's maximum, see <see cref="SoftmaxShift"/>) with 1/Σ_j into InvRow; and exp(X·Wy + By)
    /// unshifted into Oy, with YRowOk = 1 when every y logit of the row is within ±UnshiftedExpLimit, else 0:
    /// then the column kernel recomputes its column shifted.
    /// </summary>
    public static void RowSoftmax<TView>(Index1D row, ArrayView<float> oxyView, ArrayView<float> auxView, ArrayView<float> xView, ArrayView<float> wpView,
        HeadDims d, int hasBias, HeadAux a)
        where TView : struct, IKernelView<TView>
    {
        var oxy = TView.Of(oxyView);
        var aux = TView.Of(auxView);
        var x = TView.Of(xView);
        var wp = TView.Of(wpView);
        int i = row % d.H;
        int t = row / d.H;
        int c = t % d.C;
        t /= d.C;
        int k = t % d.K;
        int n = t / d.K;
        int w = d.W;
        int o = row * w;
        int oy = o + d.Size;
        int xo = ((n * d.C + c) * d.H + i) * w;
        int wo = ((k * d.C + c) * d.H + i) * w;
        int wy = wo + d.WeightSize;

        // One optimistic pass: logits, their unshifted exponentials, the row sum, the x maximum and the largest
        // |y logit|. Only when the maximum is out of range is the row recomputed with a shift.
        int bx = wo + 2 * d.WeightSize, by = wy + 2 * d.WeightSize;
        float m0 = float.NegativeInfinity, m1 = float.NegativeInfinity;
        float my0 = 0f, my1 = 0f;
        float s0 = 0f, s1 = 0f;
        int j = 0;
        for (; j + 1 < w; j += 2)
        {
            float x0 = x[xo + j], x1 = x[xo + j + 1];
            float px0 = x0 * wp[wo + j], px1 = x1 * wp[wo + j + 1];
            float py0 = x0 * wp[wy + j], py1 = x1 * wp[wy + j + 1];
            if (hasBias != 0)
            {
                px0 += wp[bx + j];
                px1 += wp[bx + j + 1];
                py0 += wp[by + j];
                py1 += wp[by + j + 1];
            }
            float e0 = ExpOrOne(px0), e1 = ExpOrOne(px1);
            oxy[o + j] = e0;
            oxy[o + j + 1] = e1;
            oxy[oy + j] = ExpOrOne(py0);
            oxy[oy + j + 1] = ExpOrOne(py1);
            s0 += e0;
            s1 += e1;
            m0 = XMath.Max(m0, px0);
            m1 = XMath.Max(m1, px1);
            my0 = XMath.Max(my0, XMath.Abs(py0));
            my1 = XMath.Max(my1, XMath.Abs(py1));
        }
        if (j < w)
        {
            float x0 = x[xo + j];
            float px0 = x0 * wp[wo + j];
            float py0 = x0 * wp[wy + j];
            if (hasBias != 0)
            {
                px0 += wp[bx + j];
                py0 += wp[by + j];
            }
            float e0 = ExpOrOne(px0);
            oxy[o + j] = e0;
            oxy[oy + j] = ExpOrOne(py0);
            s0 += e0;
            m0 = XMath.Max(m0, px0);
            my0 = XMath.Max(my0, XMath.Abs(py0));
        }
        float shift = SoftmaxShift(XMath.Max(m0, m1));
        if (shift != 0f)
        {
            // Rare: large x logits. Recompute the row's exponentials with the maximum subtracted.
            s0 = 0f;
            s1 = 0f;
            for (j = 0; j < w; j++)
            {
                float p = x[xo + j] * wp[wo + j];
                if (hasBias != 0)
                    p += wp[bx + j];
                float e = XMath.Exp(p - shift);
                oxy[o + j] = e;
                s0 += e;
            }
        }
        aux[a.InvRow + row] = 1f / (s0 + s1);
        // Where a y logit is large its unshifted exponential may have overflowed: the column kernel recomputes.
        int yOk = XMath.Max(my0, my1) <= UnshiftedExpLimit ? 1 : 0;
        aux[a.YRowOk + row] = yOk;
    }

    /// <summary>Forward, one thread per image (n, q): YImageOk = 1 when every row of the image stored exp of
    /// its y logits (see <see cref="RowSoftmax"/>).</summary>
    public static void ImageFlags<TView>(Index1D image, ArrayView<float> auxView, HeadDims d, HeadAux a)
        where TView : struct, IKernelView<TView>
    {
        var aux = TView.Of(auxView);
        int r = a.YRowOk + image * d.H;
        float s0 = 0f, s1 = 0f;
        int i = 0;
        for (; i + 1 < d.H; i += 2)
        {
            s0 += aux[r + i];
            s1 += aux[r + i + 1];
        }
        if (i < d.H)
            s0 += aux[r + i];
        aux[a.YImageOk + image] = s0 + s1 == d.H ? 1f : 0f;
    }

    /// <summary>
    /// Forward, one thread per column (n, k, c, j): Oy[·, j] = softmax_i(X·Wy + By) from the row kernel's
    /// exponentials (or recomputed with the column's maximum subtracted when a row left logits); normalises
    /// the column's elements of Ox with InvRow; and the column's sums Σ_i R, Σ_i R² of R = Ox⊙Oy into ColR.
    /// </summary>
    public static void ColumnSoftmax<TView>(Index1D col, ArrayView<float> oxyView, ArrayView<float> auxView, ArrayView<float> xView, ArrayView<float> wpView,
        HeadDims d, int hasBias, HeadAux a)
        where TView : struct, IKernelView<TView>
    {
        var oxy = TView.Of(oxyView);
        var aux = TView.Of(auxView);
        var x = TView.Of(xView);
        var wp = TView.Of(wpView);
        int w = d.W;
        int j = col % w;
        int t = col / w;             // image (n·K + k)·C + c
        int ox = t * d.Plane + j;
        int oy = ox + d.Size;
        int end = d.Plane;
        float s = 0f;
        if (aux[a.YImageOk + t] > 0f)
        {
            float s1 = 0f;
            int e = 0;
            for (; e + w < end; e += 2 * w)
            {
                s += oxy[oy + e];
                s1 += oxy[oy + e + w];
            }
            if (e < end)
                s += oxy[oy + e];
            s += s1;
        }
        else
        {
            // Rare: some y logit of the image is large. Recompute the column's logits and subtract their maximum.
            int c = t % d.C;
            int nk = t / d.C;
            int k = nk % d.K;
            int n = nk / d.K;
            int xo = (n * d.C + c) * d.Plane + j;
            int wo = (k * d.C + c) * d.Plane + j + d.WeightSize;
            float m = float.NegativeInfinity;
            for (int e = 0; e < end; e += w)
            {
                float p = x[xo + e] * wp[wo + e];
                if (hasBias != 0)
                    p += wp[wo + 2 * d.WeightSize + e];
                oxy[oy + e] = p;
                m = XMath.Max(m, p);
            }
            float shift = SoftmaxShift(m);
            for (int e = 0; e < end; e += w)
            {
                float v = XMath.Exp(oxy[oy + e] - shift);
                oxy[oy + e] = v;
                s += v;
            }
        }
        float inv = 1f / s;
        float r1 = 0f, r2 = 0f, q1 = 0f, q2 = 0f;
        int rowIndex = a.InvRow + t * d.H;
        for (int e = 0; e < end; e += w, rowIndex++)
        {
            float vx = oxy[ox + e] * aux[rowIndex];
            float vy = oxy[oy + e] * inv;
            oxy[ox + e] = vx;
            oxy[oy + e] = vy;
            float r = vx * vy;
            // Two independent chains (even and odd rows).
            if ((rowIndex & 1) == 0)
            {
                r1 += r;
                r2 += r * r;
            }
            else
            {
                q1 += r;
                q2 += r * r;
            }
        }
        aux[a.ColR + 2 * col] = r1 + q1;
        aux[a.ColR + 2 * col + 1] = r2 + q2;
    }

    /// <summary>Forward, one thread per row (n, q, i): Z = X ⊙ (Ox⊙Oy − μ_q)·rstd_q, and the row's sums
    /// Σ_j R, Σ_j R² into RowR (kept for the backward pass).</summary>
    public static void HeadOutput<TView>(Index1D row, ArrayView<float> zView, ArrayView<float> auxView, ArrayView<float> xView, ArrayView<float> oxyView, HeadDims d, HeadAux a)
        where TView : struct, IKernelView<TView>
    {
        var z = TView.Of(zView);
        var aux = TView.Of(auxView);
        var x = TView.Of(xView);
        var oxy = TView.Of(oxyView);
        int i = row % d.H;
        int t = row / d.H;          // n·Q + q
        int q = t % d.Q;
        int n = t / d.Q;
        int c = q % d.C;
        int w = d.W;
        int o = row * w;
        int oy = o + d.Size;
        int xo = ((n * d.C + c) * d.H + i) * w;
        float mu = aux[q];
        float rstd = aux[d.Q + q];
        float r1 = 0f, r2 = 0f;
        for (int j = 0; j < w; j++)
        {
            float r = oxy[o + j] * oxy[oy + j];
            z[o + j] = x[xo + j] * ((r - mu) * rstd);
            r1 += r;
            r2 += r * r;
        }
        aux[a.RowR + 2 * row] = r1;
        aux[a.RowR + 2 * row + 1] = r2;
    }

    /// <summary>On request (visualisation), one thread per row (n, q, i): R = Ox ⊙ Oy.</summary>
    public static void Relevance<TView>(Index1D row, ArrayView<float> rView, ArrayView<float> oxyView, HeadDims d)
        where TView : struct, IKernelView<TView>
    {
        var r = TView.Of(rView);
        var oxy = TView.Of(oxyView);
        int o = row * d.W;
        for (int j = 0; j < d.W; j++)
            r[o + j] = oxy[o + j] * oxy[d.Size + o + j];
    }
}
