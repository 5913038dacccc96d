// The cpu device's attention heads, the forward passes (see HostAttentionHeads.cs for the layout and the passes).
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using AttentionWise.Host;
using AttentionWise.Kernels;

namespace AttentionWise.Backends;

internal sealed unsafe partial class HostAttentionHeads
{
    /// <summary>Pass A for the images of a block: per plane the normalisers, Σ R, Σ R², and X ⊙ R into Z (pass B
    /// turns it into Z).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void PassA<TV>(int block) where TV : struct, IVec<TV>
    {
        int v = TV.Count;
        float* s = Alloc(3L * _hwp + 2L * _wp + _h);
        float* xs = s, ex = s + _hwp, ey = s + 2 * _hwp, colSum = s + 3 * _hwp, row = colSum + _wp, rowSum = row + _wp;
        try
        {
            var (first, end) = Range(block, ForwardImages);
            for (int n = first; n < end; n++)
            {
                for (int c = 0; c < _c; c++)
                {
                    LoadPlane<TV>(xs, _x + ((long)n * _c + c) * _plane);
                    for (int k = 0; k < _k; k++)
                    {
                        int q = k * _c + c;
                        long plane = (long)n * _q + q;
                        float* rs = _rowShift + plane * _h, ir = _invRow + plane * _h;
                        float* cs = _colShift + plane * _wp, ic = _invCol + plane * _wp;
                        if (!Exponentials<TV>(xs, q, ex, ey, rowSum, colSum))
                        {
                            // Rare: a logit beyond ±60. The shifted softmaxes, as the textbook writes them.
                            Logits<TV>(xs, q, ex, ey);
                            Shifts(ex, ey, rs, cs);
                            ShiftedExponentials<TV>(rs, cs, ex, ey, rowSum, colSum);
                        }
                        else
                        {
                            new Span<float>(rs, _h).Clear();
                            new Span<float>(cs, _wp).Clear();
                        }
                        for (int i = 0; i < _h; i++)
                            ir[i] = 1f / rowSum[i];
                        for (int j = 0; j < _wp; j++)
                            ic[j] = 1f / colSum[j];

                        // R = Ox ⊙ Oy: Σ R, Σ R², and X ⊙ R.
                        TV s1 = TV.Splat(0f), s2 = TV.Splat(0f);
                        float* z = _z + plane * _plane;
                        for (int i = 0; i < _h; i++)
                        {
                            TV inv = TV.Splat(ir[i]);
                            float* exr = ex + i * _wp, eyr = ey + i * _wp;
                            for (int j = 0; j < _wp; j += v)
                            {
                                TV r = TV.Load(exr + j) * inv * (TV.Load(eyr + j) * TV.Load(ic + j));
                                s1 += r;
                                s2 = TV.MulAdd(r, r, s2);
                                StoreRowPart(z + i * _w, j, TV.Load(xs + i * _wp + j) * r, row, _spill && i < _h - 1);
                            }
                        }
                        _planeSums[plane * 2] = TV.Sum(s1);
                        _planeSums[plane * 2 + 1] = TV.Sum(s2);
                    }
                }
            }
        }
        finally
        {
            NativeMemory.AlignedFree(s);
        }
    }

    /// <summary>The unshifted exponentials of plane q's logits into ex, ey, with their row and column sums; false
    /// (and nothing usable) when a logit is beyond ±<see cref="AttentionKernels.UnshiftedExpLimit"/>, where a whole
    /// row could underflow or an exponential overflow.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private bool Exponentials<TV>(float* xs, int q, float* ex, float* ey, float* rowSum, float* colSum) where TV : struct, IVec<TV>
    {
        int v = TV.Count;
        float* wx = Weights(0, q), wy = Weights(1, q), bx = _bias ? Weights(2, q) : null, by = _bias ? Weights(3, q) : null;
        for (int j = 0; j < _wp; j += v)
            TV.Store(colSum + j, TV.Splat(0f));
        TV big = TV.Splat(0f);
        for (int i = 0; i < _h; i++)
        {
            TV sum = TV.Splat(0f);
            for (int j = 0; j < _wp; j += v)
            {
                int e = i * _wp + j;
                TV xv = TV.Load(xs + e);
                TV px = xv * TV.Load(wx + e), py = xv * TV.Load(wy + e);
                if (_bias)
                {
                    px += TV.Load(bx + e);
                    py += TV.Load(by + e);
                }
                big = TV.Max(big, TV.Max(TV.Abs(px), TV.Abs(py)));
                TV a = TV.Exp(px + TV.Load(_pad + j));
                TV.Store(ex + e, a);
                sum += a;
                TV b = TV.Exp(py);
                TV.Store(ey + e, b);
                TV.Store(colSum + j, TV.Load(colSum + j) + b);
            }
            rowSum[i] = TV.Sum(sum);
        }
        return TV.MaxLane(big) <= AttentionKernels.UnshiftedExpLimit;
    }

    /// <summary>Plane q's logits into px, py.</summary>
    private void Logits<TV>(float* xs, int q, float* px, float* py) where TV : struct, IVec<TV>
    {
        float* wx = Weights(0, q), wy = Weights(1, q), bx = _bias ? Weights(2, q) : null, by = _bias ? Weights(3, q) : null;
        for (int e = 0; e < _hwp; e += TV.Count)
        {
            TV xv = TV.Load(xs + e);
            TV a = xv * TV.Load(wx + e), b = xv * TV.Load(wy + e);
            if (_bias)
            {
                a += TV.Load(bx + e);
                b += TV.Load(by + e);
            }
            TV.Store(px + e, a);
            TV.Store(py + e, b);
        }
    }

    /// <summary>The shifted exponentials of the logits in ex, ey (in place), with their row and column sums.</summary>
    private void ShiftedExponentials<TV>(float* rs, float* cs, float* ex, float* ey, float* rowSum, float* colSum) where TV : struct, IVec<TV>
    {
        int v = TV.Count;
        for (int j = 0; j < _wp; j += v)
            TV.Store(colSum + j, TV.Splat(0f));
        for (int i = 0; i < _h; i++)
        {
            TV shift = TV.Splat(rs[i]);
            TV sum = TV.Splat(0f);
            float* exr = ex + i * _wp, eyr = ey + i * _wp;
            for (int j = 0; j < _wp; j += v)
            {
                TV a = TV.Exp(TV.Load(exr + j) + TV.Load(_pad + j) - shift);
                TV.Store(exr + j, a);
                sum += a;
                TV b = TV.Exp(TV.Load(eyr + j) - TV.Load(cs + j));
                TV.Store(eyr + j, b);
                TV.Store(colSum + j, TV.Load(colSum + j) + b);
            }
            rowSum[i] = TV.Sum(sum);
        }
    }

    /// <summary>The shifts of a plane with a logit beyond ±<see cref="AttentionKernels.UnshiftedExpLimit"/>: per row of
    /// x logits and per column of y logits <see cref="AttentionKernels.SoftmaxShift"/> of the maximum.</summary>
    private void Shifts(float* px, float* py, float* rs, float* cs)
    {
        for (int i = 0; i < _h; i++)
        {
            float m = float.NegativeInfinity;
            for (int j = 0; j < _w; j++)
                m = MathF.Max(m, px[i * _wp + j]);
            rs[i] = AttentionKernels.SoftmaxShift(m);
        }
        for (int j = 0; j < _wp; j++)
        {
            float m = float.NegativeInfinity;
            for (int i = 0; i < _h; i++)
                m = MathF.Max(m, py[i * _wp + j]);
            cs[j] = j < _w ? AttentionKernels.SoftmaxShift(m) : 0f;
        }
    }

    /// <summary>Ox and Oy at element e (row i, column j) of plane q from its normalisers.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void Softmax<TV>(float* xs, int q, float* cs, float* ic, TV rowShift, TV rowInv, int e, int j, out TV ox, out TV oy)
        where TV : struct, IVec<TV>
    {
        TV xv = TV.Load(xs + e);
        TV px = xv * TV.Load(Weights(0, q) + e), py = xv * TV.Load(Weights(1, q) + e);
        if (_bias)
        {
            px += TV.Load(Weights(2, q) + e);
            py += TV.Load(Weights(3, q) + e);
        }
        ox = TV.Exp(px + TV.Load(_pad + j) - rowShift) * rowInv;
        oy = TV.Exp(py - TV.Load(cs + j)) * TV.Load(ic + j);
    }

    /// <summary>Pass B for the images of a block: Z = (X ⊙ R)·ρ − X·μ·ρ = X ⊙ (R − μ)·ρ, over each plane as one
    /// array.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void PassB<TV>(int block) where TV : struct, IVec<TV>
    {
        int v = TV.Count;
        var (first, end) = Range(block, ForwardImages);
        for (int n = first; n < end; n++)
        {
            for (int q = 0; q < _q; q++)
            {
                float* z = _z + ((long)n * _q + q) * _plane, x = _x + ((long)n * _c + q % _c) * _plane;
                float rstd = _rstd[q], gamma = _rstd[q] * _mean[q];
                TV rv = TV.Splat(rstd), gv = TV.Splat(gamma);
                int e = 0;
                for (; e + v <= _plane; e += v)
                    TV.Store(z + e, TV.Load(z + e) * rv - TV.Load(x + e) * gv);
                for (; e < _plane; e++)
                    z[e] = z[e] * rstd - x[e] * gamma;
            }
        }
    }

    /// <summary>Ox and Oy of the images of a block into [2, N, Q, H, W] at _oxy.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void PassSoftmaxes<TV>(int block) where TV : struct, IVec<TV>
    {
        int v = TV.Count;
        float* s = Alloc(_hwp + 2L * _wp);
        float* xs = s, row = s + _hwp, row2 = row + _wp;
        long size = (long)_n * _q * _plane;
        try
        {
            var (first, end) = Range(block, ForwardImages);
            for (int n = first; n < end; n++)
            {
                for (int c = 0; c < _c; c++)
                {
                    LoadPlane<TV>(xs, _x + ((long)n * _c + c) * _plane);
                    for (int k = 0; k < _k; k++)
                    {
                        int q = k * _c + c;
                        long plane = (long)n * _q + q;
                        float* rs = _rowShift + plane * _h, ir = _invRow + plane * _h;
                        float* cs = _colShift + plane * _wp, ic = _invCol + plane * _wp;
                        for (int i = 0; i < _h; i++)
                        {
                            TV shift = TV.Splat(rs[i]), inv = TV.Splat(ir[i]);
                            float* dst = _oxy + plane * _plane + i * _w;
                            for (int j = 0; j < _wp; j += v)
                            {
                                Softmax(xs, q, cs, ic, shift, inv, i * _wp + j, j, out TV ox, out TV oy);
                                StoreRowPart(dst, j, ox, row, false);
                                StoreRowPart(dst + size, j, oy, row2, false);
                            }
                        }
                    }
                }
            }
        }
        finally
        {
            NativeMemory.AlignedFree(s);
        }
    }
}
