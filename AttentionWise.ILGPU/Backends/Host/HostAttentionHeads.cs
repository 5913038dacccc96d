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
using AttentionWise.Host;
using AttentionWise.Kernels;

namespace AttentionWise.Backends;

/// <summary>Forward and backward of the attention heads on the cpu device, vectorised at a given width (see the file
/// header), on raw pointers. One instance per <see cref="HostVectorAttentionHeads"/> (the op, which runs these passes
/// through the loader); it keeps what the backward pass needs between the two.</summary>
internal sealed unsafe partial class HostAttentionHeads : IDisposable
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
        _launcher.For(Blocks(n, ForwardImages), Run<ForwardA>);

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
                runningMean[q] = BatchNormStatistics.Running(runningMean[q], mean, momentum);
                runningVar[q] = BatchNormStatistics.Running(runningVar[q], unbiased, momentum);
            }
            else
            {
                mean = runningMean[q];
                variance = runningVar[q];
            }
            _mean[q] = mean;
            _rstd[q] = BatchNormStatistics.InverseStd(variance, eps);
        }
        _launcher.For(Blocks(n, ForwardImages), Run<ForwardB>);
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
            _launcher.For(Blocks(n, ForwardImages), Run<BackwardSumsPass>);
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
        _launcher.For(blocks, Run<BackwardInputPass>);

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
        _launcher.For(Blocks(_n, ForwardImages), Run<SoftmaxesPass>);
        _oxy = null;
    }

    public void Dispose()
    {
        Free(ref _weights);
        Free(ref _pad);
        _invRow = _rowShift = _invCol = _colShift = _planeSums = _partials = null;
        _haveForward = false;
    }

    // ---- passes: each written once, generic over the vector type, run at this instance's width ----

    /// <summary>Pass <typeparamref name="TPass"/> for one work item at <see cref="Simd"/>.</summary>
    private void Run<TPass>(int item) where TPass : struct, IWidthPass<HostAttentionHeads> =>
        SimdDispatch.Run<TPass, HostAttentionHeads>(Simd, this, item);

    private readonly struct ForwardA : IWidthPass<HostAttentionHeads>
    {
        public void Run<TV>(HostAttentionHeads h, int block) where TV : struct, IVec<TV> => h.PassA<TV>(block);
    }

    private readonly struct ForwardB : IWidthPass<HostAttentionHeads>
    {
        public void Run<TV>(HostAttentionHeads h, int block) where TV : struct, IVec<TV> => h.PassB<TV>(block);
    }

    private readonly struct SoftmaxesPass : IWidthPass<HostAttentionHeads>
    {
        public void Run<TV>(HostAttentionHeads h, int block) where TV : struct, IVec<TV> => h.PassSoftmaxes<TV>(block);
    }

    private readonly struct BackwardSumsPass : IWidthPass<HostAttentionHeads>
    {
        public void Run<TV>(HostAttentionHeads h, int block) where TV : struct, IVec<TV> => h.PassBackwardSums<TV>(block);
    }

    private readonly struct BackwardInputPass : IWidthPass<HostAttentionHeads>
    {
        public void Run<TV>(HostAttentionHeads h, int block) where TV : struct, IVec<TV> => h.PassBackwardInput<TV>(block);
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
