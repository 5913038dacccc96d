// The cpu device's element-wise attention heads (SPEC §2) as vectorised host code, forward and backward; the formulas
// are those of docs/attention-backward.md, steps 1-7, computed one image plane at a time while the plane is in cache.
//
//   X        [N, C, H, W]         layer input          Wx, Wy (Bx, By)  [Q, H, W], Q = K·C, q = k·C + c
//   Z, gZ    [N, Q, H, W]         head outputs and their gradient      gX [N, C, H, W]
//
// Inside a pass a plane is held with rows padded to Wp floats (W rounded up to the vector width; padding of X and the
// weights is zero and the exponentials of padding are masked to zero, so padding adds nothing to any sum). Nothing of
// the size of Z is stored besides Z itself: the softmaxes are recomputed from X and the weights with the per-row and
// per-column normalisers the first pass keeps (1/Σ exp and the shift, which is 0 unless a logit is beyond ±60), which
// costs two vector exps per element and saves moving Ox and Oy (twice the size of Z) through memory four times.
//
//   forward   pass A (per image): logits, exps, row and column sums -> normalisers; per plane Σ R, Σ R²
//             statistics (per channel, images in order, in double): μ, ρ = 1/sqrt(var + eps), running statistics
//             pass B (per image): Z = X ⊙ (R·ρ − μ·ρ)
//   backward  pass 1 (per image, training only): per plane Σ gR', Σ gR'·R' (gR' = gZ ⊙ X) -> a, b per channel
//             pass 2 (per block of 64 images): u = R·gR, s_row, s_col, gPx, gPy; gX over every head (+ the skip
//             gradient); the block's Σ X·gPx, Σ X·gPy (, Σ gPx, Σ gPy), then added to the gradients in block order
//
// Every plane is computed the same way whatever thread runs it, sums across planes run in a fixed order, and the
// weight gradient adds fixed blocks of images in block order, so the results do not depend on the thread count.
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using AttentionWise.Kernels;

namespace AttentionWise.Host;

/// <summary>Forward and backward of the attention heads on the cpu device, vectorised at a given width (see the file
/// header). One instance per <see cref="Layers.AttentionHeads"/>; it keeps what the backward pass needs between the
/// two.</summary>
public sealed unsafe class HostAttentionHeads : IDisposable
{
    /// <summary>Images per block of the backward pass's weight-gradient sums (fixed: the sums do not depend on the
    /// thread count).</summary>
    public const int BlockImages = 64;

    /// <summary>Images per work item of the forward passes.</summary>
    private const int ForwardImages = 8;

    private readonly HostLauncher _launcher;
    private readonly int _k, _c, _h, _w, _q, _wp, _hwp, _plane, _fields;
    private readonly bool _bias;

    /// <summary>Whether a padded row's last vector may be stored whole into Z (see <see cref="StoreRowPart"/>).</summary>
    private readonly bool _spill;

    // Native buffers (64-byte aligned): packed padded weights [fields, Q, H, Wp], the x logits' padding [Wp] (0, then
    // −∞ so that a padding exponential is 0 whatever the shift), per plane
    // normalisers and shifts, per plane sums, per block weight-gradient sums.
    private float* _weights, _pad;
    // In the caller's state buffer (StateFloats; a device tensor, so that the device counts it), between a forward and
    // its backward.
    private float* _invRow, _rowShift, _invCol, _colShift, _planeSums, _partials;
    private readonly float[] _mean, _rstd;

    // The latest forward's tensors and settings, for the backward pass and the passes' work items.
    private int _n;
    private bool _training;
    private float* _x, _z, _oxy, _gz, _gx, _gskip;
    private float* _gwx, _gwy, _gbx, _gby;
    private readonly float[] _alpha, _beta;
    private bool _haveForward;

    /// <param name="heads">K.</param>
    /// <param name="channels">C.</param>
    /// <param name="height">H.</param>
    /// <param name="width">W.</param>
    /// <param name="bias">Whether the heads have Bx, By.</param>
    /// <param name="simd">The vector width to compute with.</param>
    /// <param name="launcher">The threads to run on (<see cref="HostLauncher.Shared"/> in the layers).</param>
    public HostAttentionHeads(int heads, int channels, int height, int width, bool bias, SimdWidth simd, HostLauncher launcher)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(heads);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(channels);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(height);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(width);
        ArgumentNullException.ThrowIfNull(launcher);
        _launcher = launcher;
        Simd = simd;
        _k = heads;
        _c = channels;
        _h = height;
        _w = width;
        _q = heads * channels;
        int v = (int)simd;
        _wp = (width + v - 1) / v * v;
        _hwp = height * _wp;
        _plane = height * width;
        _spill = _wp <= 2 * width;
        _bias = bias;
        _fields = bias ? 4 : 2;
        _weights = Alloc((long)_fields * _q * _hwp);
        _pad = Alloc(_wp);
        for (int j = width; j < _wp; j++)
            _pad[j] = float.NegativeInfinity;
        _mean = new float[_q];
        _rstd = new float[_q];
        _alpha = new float[_q];
        _beta = new float[_q];
    }

    /// <summary>The vector width this instance computes with.</summary>
    public SimdWidth Simd { get; }

    /// <summary>The latest forward's batchnorm mean per channel q.</summary>
    public ReadOnlySpan<float> Mean => _mean;

    /// <summary>The latest forward's 1/sqrt(var + eps) per channel q.</summary>
    public ReadOnlySpan<float> InvStd => _rstd;

    /// <summary>Floats of the state buffer that <see cref="Forward"/> takes for <paramref name="n"/> images (per plane
    /// the row and column normalisers and shifts and two sums; per block of images the weight-gradient sums). It must
    /// stay as the forward left it until the backward; it needs no initial values.</summary>
    public long StateFloats(int n) => (long)n * _q * (2 * _h + 2 * _wp + 2) + (long)Blocks(n, BlockImages) * _fields * _q * _hwp;

    /// <summary>Floats per padded row.</summary>
    internal int PaddedWidth => _wp;

    /// <summary>
    /// Z = the heads' outputs for input <paramref name="x"/> of <paramref name="n"/> images. Training: batch statistics,
    /// and the running statistics updated (unbiased variance, as PyTorch); otherwise the running statistics.
    /// </summary>
    public void Forward(int n, float* x, float* wx, float* wy, float* bx, float* by, float* z, float* runningMean, float* runningVar,
        bool training, float momentum, float eps, float* state)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(n);
        if (_bias && (bx == null || by == null))
            throw new ArgumentException("HostAttentionHeads: the heads have biases, but none were given.");
        Pack(wx, 0);
        Pack(wy, 1);
        if (_bias)
        {
            Pack(bx, 2);
            Pack(by, 3);
        }
        _n = n;
        _x = x;
        _z = z;
        _training = training;
        _haveForward = true;
        if (n == 0)
            return;
        long planes = (long)n * _q;
        _invRow = state;
        _rowShift = _invRow + planes * _h;
        _invCol = _rowShift + planes * _h;
        _colShift = _invCol + planes * _wp;
        _planeSums = _colShift + planes * _wp;
        _partials = _planeSums + planes * 2;
        _launcher.For(Blocks(n, ForwardImages), PassA);

        int count = n * _plane;
        for (int q = 0; q < _q; q++)
        {
            float mean, variance;
            if (training)
            {
                double s1 = 0, s2 = 0;
                for (int i = 0; i < n; i++)
                {
                    long p = ((long)i * _q + q) * 2;
                    s1 += _planeSums[p];
                    s2 += _planeSums[p + 1];
                }
                double m = s1 / count;
                double v = Math.Max(s2 / count - m * m, 0.0);
                mean = (float)m;
                variance = (float)v;
                float unbiased = count > 1 ? (float)(v * count / (count - 1)) : variance;
                runningMean[q] = (1f - momentum) * runningMean[q] + momentum * mean;
                runningVar[q] = (1f - momentum) * runningVar[q] + momentum * unbiased;
            }
            else
            {
                mean = runningMean[q];
                variance = runningVar[q];
            }
            _mean[q] = mean;
            _rstd[q] = 1f / MathF.Sqrt(variance + eps);
        }
        _launcher.For(Blocks(n, ForwardImages), PassB);
    }

    /// <summary>
    /// Backward of the latest <see cref="Forward"/> for <paramref name="gz"/>: gX (when <paramref name="gx"/> is not
    /// null) = the skip gradient <paramref name="gskip"/> (when not null) + Σ over heads; adds the weight (and bias)
    /// gradients to <paramref name="gwx"/> … <paramref name="gby"/>. The weights and X must be those of the forward.
    /// </summary>
    public void Backward(float* gz, float* gx, float* gskip, float* gwx, float* gwy, float* gbx, float* gby)
    {
        if (!_haveForward)
            throw new InvalidOperationException("HostAttentionHeads.Backward called before Forward.");
        if (_n == 0)
            return;
        _gz = gz;
        _gx = gx;
        _gskip = gskip;
        int n = _n;
        if (_training)
        {
            _launcher.For(Blocks(n, ForwardImages), PassBackwardSums);
            double inv = 1.0 / ((double)n * _plane);
            for (int q = 0; q < _q; q++)
            {
                double sa = 0, sb = 0;
                for (int i = 0; i < n; i++)
                {
                    long p = ((long)i * _q + q) * 2;
                    sa += _planeSums[p];
                    sb += _planeSums[p + 1];
                }
                float a = (float)(sa * inv), b = (float)(sb * inv);
                float rstd = _rstd[q], mu = _mean[q];
                _alpha[q] = rstd * (a - b * rstd * mu);
                _beta[q] = b * rstd * rstd;
            }
        }
        else
        {
            Array.Clear(_alpha);
            Array.Clear(_beta);
        }
        int blocks = Blocks(n, BlockImages);
        _launcher.For(blocks, PassBackwardInput);

        _gwx = gwx;
        _gwy = gwy;
        _gbx = gbx;
        _gby = gby;
        _launcher.For(_fields * _q, AddWeightGradients);
        _gz = _gx = _gskip = null;
    }

    /// <summary>Writes the latest forward's row softmaxes Ox and column softmaxes Oy, [2, N, Q, H, W] (for
    /// visualisation and tests; training does not need them).</summary>
    public void Softmaxes(float* oxy)
    {
        if (!_haveForward)
            throw new InvalidOperationException("HostAttentionHeads.Softmaxes called before Forward.");
        if (_n == 0)
            return;
        _oxy = oxy;
        _launcher.For(Blocks(_n, ForwardImages), PassSoftmaxes);
        _oxy = null;
    }

    public void Dispose()
    {
        Free(ref _weights);
        Free(ref _pad);
        _invRow = _rowShift = _invCol = _colShift = _planeSums = _partials = null;
        _haveForward = false;
    }

    // ---- passes (dispatch on the width) ----

    private void PassA(int block)
    {
        switch (Simd)
        {
            case SimdWidth.V512: PassA<V512>(block); break;
            case SimdWidth.V256: PassA<V256>(block); break;
            default: PassA<V1>(block); break;
        }
    }

    private void PassB(int block)
    {
        switch (Simd)
        {
            case SimdWidth.V512: PassB<V512>(block); break;
            case SimdWidth.V256: PassB<V256>(block); break;
            default: PassB<V1>(block); break;
        }
    }

    private void PassSoftmaxes(int block)
    {
        switch (Simd)
        {
            case SimdWidth.V512: PassSoftmaxes<V512>(block); break;
            case SimdWidth.V256: PassSoftmaxes<V256>(block); break;
            default: PassSoftmaxes<V1>(block); break;
        }
    }

    private void PassBackwardSums(int block)
    {
        switch (Simd)
        {
            case SimdWidth.V512: PassBackwardSums<V512>(block); break;
            case SimdWidth.V256: PassBackwardSums<V256>(block); break;
            default: PassBackwardSums<V1>(block); break;
        }
    }

    private void PassBackwardInput(int block)
    {
        switch (Simd)
        {
            case SimdWidth.V512: PassBackwardInput<V512>(block); break;
            case SimdWidth.V256: PassBackwardInput<V256>(block); break;
            default: PassBackwardInput<V1>(block); break;
        }
    }

    // ---- forward ----

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

    // ---- backward ----

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

    // ---- helpers ----

    private float* Weights(int field, int q) => _weights + ((long)field * _q + q) * _hwp;

    /// <summary>Copies [Q, H, W] into field f of the packed weights (row padding stays 0).</summary>
    private void Pack(float* src, int field)
    {
        for (int q = 0; q < _q; q++)
        {
            for (int i = 0; i < _h; i++)
                new ReadOnlySpan<float>(src + (long)q * _plane + i * _w, _w).CopyTo(new Span<float>(Weights(field, q) + i * _wp, _w));
        }
    }

    /// <summary>A plane of H×W into the padded scratch (whose padding is 0 from its allocation).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void LoadPlane<TV>(float* dst, float* src) where TV : struct, IVec<TV>
    {
        for (int i = 0; i < _h; i++)
            Rows.Copy<TV>(dst + i * _wp, src + i * _w, _w);
    }

    /// <summary>The part of a padded row's vector at column j that lies within the row's W columns, into dst[j …].
    /// With <paramref name="spill"/> (a row that is not a plane's last, written before the next row, and rows whose
    /// padding is at most a row long) the whole vector is stored: what lands past the row's end, in the next row, is
    /// overwritten when the next row is written.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void StoreRowPart<TV>(float* dst, int j, TV value, float* spare, bool spill) where TV : struct, IVec<TV>
    {
        if (spill || j + TV.Count <= _w)
        {
            TV.Store(dst + j, value);
        }
        else
        {
            TV.Store(spare, value);
            for (int t = 0; j + t < _w; t++)
                dst[j + t] = spare[t];
        }
    }

    private static int Blocks(int n, int per) => (n + per - 1) / per;

    private (int First, int End) Range(int block, int per) => (block * per, Math.Min(_n, (block + 1) * per));

    /// <summary>64-byte aligned, zeroed floats.</summary>
    private static float* Alloc(long floats)
    {
        nuint bytes = (nuint)(Math.Max(floats, 1) * sizeof(float));
        var p = (float*)NativeMemory.AlignedAlloc(bytes, 64);
        NativeMemory.Clear(p, bytes);
        return p;
    }

    private static void Free(ref float* p)
    {
        if (p != null)
            NativeMemory.AlignedFree(p);
        p = null;
    }
}
