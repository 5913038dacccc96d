// The cpu device's attention heads, the backward passes (see HostAttentionHeads.cs for the layout and the passes).
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using AttentionWise.Host;
using AttentionWise.Kernels;

namespace AttentionWise.Backends;

internal sealed unsafe partial class HostAttentionHeads
{
    /// <summary>Backward pass 1 for the images of a block: per plane Σ gR' = Σ gZ·X and Σ gR'·R' = Σ gZ·Z (Z = X ⊙ R'),
    /// over each plane as one array.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void PassBackwardSums<TV>(int block) where TV : struct, IVec<TV>
    {
        int v = TV.Count;
        var (first, end) = Range(block, ForwardImages);
        for (int n = first; n < end; n++)
        {
            for (int q = 0; q < _q; q++)
            {
                long plane = (long)n * _q + q;
                float* z = _z + plane * _plane, gz = _gz + plane * _plane, x = _x + ((long)n * _c + q % _c) * _plane;
                TV sg = TV.Splat(0f), sgr = TV.Splat(0f);
                int e = 0;
                for (; e + v <= _plane; e += v)
                {
                    TV g = TV.Load(gz + e);
                    sg = TV.MulAdd(g, TV.Load(x + e), sg);
                    sgr = TV.MulAdd(g, TV.Load(z + e), sgr);
                }
                float a = TV.Sum(sg), b = TV.Sum(sgr);
                for (; e < _plane; e++)
                {
                    a += gz[e] * x[e];
                    b += gz[e] * z[e];
                }
                _planeSums[plane * 2] = a;
                _planeSums[plane * 2 + 1] = b;
            }
        }
    }

    /// <summary>Backward pass 2 for a block of <see cref="BlockImages"/> images: gX and the block's weight-gradient
    /// sums.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void PassBackwardInput<TV>(int block) where TV : struct, IVec<TV>
    {
        int v = TV.Count;
        float* s = Alloc(6L * _hwp + 2L * _wp + _h);
        float* xs = s, gs = s + _hwp, oxs = s + 2 * _hwp, oys = s + 3 * _hwp, us = s + 4 * _hwp, gxs = s + 5 * _hwp;
        float* colS = s + 6 * _hwp, row = colS + _wp, rowS = row + _wp;
        long fieldSize = (long)_q * _hwp;
        float* part = _partials + block * _fields * fieldSize;
        new Span<float>(part, checked((int)(_fields * fieldSize))).Clear();
        bool wantGx = _gx != null;
        try
        {
            var (first, end) = Range(block, BlockImages);
            for (int n = first; n < end; n++)
            {
                for (int c = 0; c < _c; c++)
                {
                    LoadPlane<TV>(xs, _x + ((long)n * _c + c) * _plane);
                    if (wantGx)
                    {
                        for (int e = 0; e < _hwp; e += v)
                            TV.Store(gxs + e, TV.Splat(0f));
                    }
                    for (int k = 0; k < _k; k++)
                    {
                        int q = k * _c + c;
                        long plane = (long)n * _q + q;
                        LoadPlane<TV>(gs, _gz + plane * _plane);
                        float* rs = _rowShift + plane * _h, ir = _invRow + plane * _h;
                        float* cs = _colShift + plane * _wp, ic = _invCol + plane * _wp;
                        TV rstd = TV.Splat(_rstd[q]), gamma = TV.Splat(_rstd[q] * _mean[q]);
                        TV alpha = TV.Splat(_alpha[q]), beta = TV.Splat(_beta[q]);

                        // u = R·gR with gR = ρ·gR' − α − β·R; its row and column sums.
                        for (int j = 0; j < _wp; j += v)
                            TV.Store(colS + j, TV.Splat(0f));
                        for (int i = 0; i < _h; i++)
                        {
                            TV shift = TV.Splat(rs[i]), inv = TV.Splat(ir[i]);
                            TV sr = TV.Splat(0f);
                            for (int j = 0; j < _wp; j += v)
                            {
                                int e = i * _wp + j;
                                Softmax(xs, q, cs, ic, shift, inv, e, j, out TV ox, out TV oy);
                                TV.Store(oxs + e, ox);
                                TV.Store(oys + e, oy);
                                TV r = ox * oy;
                                TV u = r * (rstd * (TV.Load(gs + e) * TV.Load(xs + e)) - alpha - beta * r);
                                TV.Store(us + e, u);
                                sr += u;
                                TV.Store(colS + j, TV.Load(colS + j) + u);
                            }
                            rowS[i] = TV.Sum(sr);
                        }

                        // gPx = u − Ox·s_row, gPy = u − Oy·s_col; gX and the weight-gradient sums.
                        float* pwx = part + q * (long)_hwp, pwy = pwx + fieldSize, pbx = pwy + fieldSize, pby = pbx + fieldSize;
                        float* wx = Weights(0, q), wy = Weights(1, q);
                        for (int i = 0; i < _h; i++)
                        {
                            TV sr = TV.Splat(rowS[i]);
                            for (int j = 0; j < _wp; j += v)
                            {
                                int e = i * _wp + j;
                                TV u = TV.Load(us + e), ox = TV.Load(oxs + e), oy = TV.Load(oys + e);
                                TV gpx = u - ox * sr, gpy = u - oy * TV.Load(colS + j);
                                TV xv = TV.Load(xs + e);
                                if (wantGx)
                                {
                                    TV g = TV.Load(gs + e) * (ox * oy * rstd - gamma) + TV.Load(wx + e) * gpx + TV.Load(wy + e) * gpy;
                                    TV.Store(gxs + e, TV.Load(gxs + e) + g);
                                }
                                TV.Store(pwx + e, TV.MulAdd(xv, gpx, TV.Load(pwx + e)));
                                TV.Store(pwy + e, TV.MulAdd(xv, gpy, TV.Load(pwy + e)));
                                if (_bias)
                                {
                                    TV.Store(pbx + e, TV.Load(pbx + e) + gpx);
                                    TV.Store(pby + e, TV.Load(pby + e) + gpy);
                                }
                            }
                        }
                    }
                    if (wantGx)
                    {
                        long o = ((long)n * _c + c) * _plane;
                        for (int i = 0; i < _h; i++)
                        {
                            float* dst = _gx + o + i * _w, src = gxs + i * _wp;
                            if (_gskip != null)
                                Rows.Add<TV>(dst, _gskip + o + i * _w, src, _w);
                            else
                                Rows.Copy<TV>(dst, src, _w);
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

    /// <summary>Field f (0: Wx, 1: Wy, 2: Bx, 3: By) of channel q: the blocks' sums added to the gradient, in block
    /// order.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void AddWeightGradients(int item)
    {
        int f = item / _q, q = item % _q;
        float* g = (f switch { 0 => _gwx, 1 => _gwy, 2 => _gbx, _ => _gby }) + (long)q * _plane;
        int blocks = Blocks(_n, BlockImages);
        long fieldSize = (long)_q * _hwp;
        for (int i = 0; i < _h; i++)
        {
            for (int j = 0; j < _w; j++)
            {
                long p = (long)f * fieldSize + (long)q * _hwp + i * _wp + j;
                float sum = 0f;
                for (int b = 0; b < blocks; b++, p += _fields * fieldSize)
                    sum += _partials[p];
                g[i * _w + j] += sum;
            }
        }
    }
}
