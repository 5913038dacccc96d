// The cpu device's narrow convolutions (few output channels, stride 1: the attention layers' K·C → C, 3×3) as
// vectorised host code. Too thin for a BLAS product (a 1 × 784 × 72 GEMM per image), they are direct correlations
// with the input held zero-padded in cache and the output at the padded row stride, so that every tap is one flat
// vector loop over the image (groups of 4 vectors share each weight broadcast):
//
//   x: [N, Ci, H, W]     w: [Co, Ci, KH, KW]     y: [N, Co, Ho, Wo], Ho = H + 2·PY − KH + 1, Wo = W + 2·PX − KW + 1
//   forward:          y[n, o]  = b[o] + Σ_{i, ky, kx} w[o, i, ky, kx] · xpad[n, i, oy + ky, ox + kx]
//   input gradient:   the forward over gy padded by K − 1 − P with the weight transposed and flipped
//   weight gradient:  gw[o, i, ky, kx] += Σ_n Σ_{oy, ox} gy[n, o, oy, ox] · xpad[n, i, oy + ky, ox + kx], per block of
//                     64 images in vector lanes, the blocks added in order (so not dependent on the thread count)
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace AttentionWise.Host;

/// <summary>Stride-1 convolutions with few output channels on the cpu device, at a given vector width (see the file
/// header).</summary>
internal sealed unsafe class HostNarrowConv
{
    /// <summary>Images per block of the weight-gradient sums (fixed: the sums do not depend on the thread count).</summary>
    public const int BlockImages = 64;

    /// <summary>Images per work item of the forward and input-gradient passes.</summary>
    private const int PassImages = 8;

    private readonly HostLauncher _launcher;

    public HostNarrowConv(int inChannels, int outChannels, int kernelH, int kernelW, int padY, int padX, SimdWidth simd, HostLauncher launcher)
    {
        if (!Supports(kernelH, kernelW, padY, padX))
            throw new ArgumentException($"HostNarrowConv: a {kernelH}×{kernelW} kernel with padding {padY}, {padX} is not supported (padding at most kernel − 1).");
        Ci = inChannels;
        Co = outChannels;
        KH = kernelH;
        KW = kernelW;
        PY = padY;
        PX = padX;
        Simd = simd;
        _launcher = launcher ?? throw new ArgumentNullException(nameof(launcher));
    }

    public int Ci { get; }
    public int Co { get; }
    public int KH { get; }
    public int KW { get; }
    public int PY { get; }
    public int PX { get; }
    public SimdWidth Simd { get; }

    /// <summary>Whether a stride-1 convolution with this kernel and padding runs here (its input gradient is then a
    /// forward correlation with padding K − 1 − P ≥ 0).</summary>
    public static bool Supports(int kernelH, int kernelW, int padY, int padX) =>
        kernelH >= 1 && kernelW >= 1 && padY >= 0 && padX >= 0 && padY <= kernelH - 1 && padX <= kernelW - 1;

    /// <summary>Floats of the transposed, flipped weight that <see cref="InputGradient"/> takes as scratch.</summary>
    public int TransposedLength => Co * Ci * KH * KW;

    /// <summary>Floats of the per-block partial sums that <see cref="WeightGradient"/> takes as scratch.</summary>
    public long WeightGradientScratch(int n) => (long)Blocks(n, BlockImages) * Co * Ci * KH * KW;

    /// <summary>y = conv(x, w) + b (b may be null) for n images of h × w.</summary>
    public void Forward(int n, int h, int w, float* x, float* weight, float* bias, float* y)
    {
        var p = new Pass(Ci, Co, KH, KW, PY, PX, h, w, x, weight, bias, y);
        _launcher.For(Blocks(n, PassImages), b => Run(p, b, n));
    }

    /// <summary>gx = the input gradient for gy (gx is overwritten); <paramref name="transposed"/> holds
    /// <see cref="TransposedLength"/> floats.</summary>
    public void InputGradient(int n, int h, int w, float* weight, float* gy, float* gx, float* transposed)
    {
        // w'[i, o, ky, kx] = w[o, i, KH − 1 − ky, KW − 1 − kx]
        for (int o = 0; o < Co; o++)
            for (int i = 0; i < Ci; i++)
                for (int ky = 0; ky < KH; ky++)
                    for (int kx = 0; kx < KW; kx++)
                        transposed[((i * Co + o) * KH + ky) * KW + kx] = weight[((o * Ci + i) * KH + KH - 1 - ky) * KW + KW - 1 - kx];
        int ho = h + 2 * PY - KH + 1, wo = w + 2 * PX - KW + 1;
        var p = new Pass(Co, Ci, KH, KW, KH - 1 - PY, KW - 1 - PX, ho, wo, gy, transposed, null, gx);
        _launcher.For(Blocks(n, PassImages), b => Run(p, b, n));
    }

    /// <summary>gw += the weight gradient for gy and the forward's input x; <paramref name="partials"/> holds
    /// <see cref="WeightGradientScratch"/> floats.</summary>
    public void WeightGradient(int n, int h, int w, float* x, float* gy, float* gw, float* partials)
    {
        if (n == 0)
            return;
        int blocks = Blocks(n, BlockImages);
        int taps = Co * Ci * KH * KW;
        nint xi = (nint)x, gyi = (nint)gy, pi = (nint)partials;
        _launcher.For(blocks, b =>
        {
            switch (Simd)
            {
                case SimdWidth.V512: WeightBlock<V512>(b, n, h, w, (float*)xi, (float*)gyi, (float*)pi + (long)b * taps); break;
                case SimdWidth.V256: WeightBlock<V256>(b, n, h, w, (float*)xi, (float*)gyi, (float*)pi + (long)b * taps); break;
                default: WeightBlock<V1>(b, n, h, w, (float*)xi, (float*)gyi, (float*)pi + (long)b * taps); break;
            }
        });
        for (int t = 0; t < taps; t++)
        {
            float sum = 0f;
            for (int b = 0; b < blocks; b++)
                sum += partials[(long)b * taps + t];
            gw[t] += sum;
        }
    }

    /// <summary>One correlation: the input [N, I, H, W] with padding, the weight [O, I, KH, KW], the output [N, O, Ho, Wo].</summary>
    private readonly struct Pass(int i, int o, int kh, int kw, int py, int px, int h, int w, float* input, float* weight, float* bias, float* output)
    {
        public readonly int I = i, O = o, KH = kh, KW = kw, PY = py, PX = px, H = h, W = w;
        public readonly float* In = input, Weight = weight, Bias = bias, Out = output;
        public int Ho => H + 2 * PY - KH + 1;
        public int Wo => W + 2 * PX - KW + 1;
    }

    private void Run(Pass p, int block, int n)
    {
        switch (Simd)
        {
            case SimdWidth.V512: Correlate<V512>(p, block, n); break;
            case SimdWidth.V256: Correlate<V256>(p, block, n); break;
            default: Correlate<V1>(p, block, n); break;
        }
    }

    /// <summary>Output vectors computed together (each weight broadcast once for them).</summary>
    private const int Group = 4;

    /// <summary>The layout of one image in the scratch: each input channel zero-padded to rows of Wr = W + 2·PX floats
    /// and Hp = H + 2·PY rows, then room for the overrun of whole vector groups; outputs (and output gradients) at the
    /// same row stride Wr, so that output element e = oy·Wr + ox reads input element e + ky·Wr + kx of every channel:
    /// one flat loop over e per tap, the columns ox ≥ Wo computed and thrown away.</summary>
    private readonly struct Layout
    {
        public Layout(int h, int w, int kh, int kw, int py, int px, int v)
        {
            Wr = w + 2 * px;
            Hp = h + 2 * py;
            Ho = h + 2 * py - kh + 1;
            Wo = w + 2 * px - kw + 1;
            int span = v * Group;
            Out = (Ho * Wr + span - 1) / span * span;
            Channel = Hp * Wr + span + kw;
        }

        public readonly int Wr, Hp, Ho, Wo;

        /// <summary>Floats of an output plane in the scratch (whole vector groups).</summary>
        public readonly int Out;

        /// <summary>Floats of a padded input channel.</summary>
        public readonly int Channel;
    }

    /// <summary>The images' channels into the padded scratch: row r of channel c at dst[c·stride + (r + py)·wr + px]
    /// (the rest stays 0 from the allocation).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Pad<TV>(float* dst, float* src, int channels, int h, int w, long stride, int wr, int py, int px) where TV : struct, IVec<TV>
    {
        for (int c = 0; c < channels; c++)
            for (int r = 0; r < h; r++)
                Rows.Copy<TV>(dst + c * stride + (r + py) * wr + px, src + ((long)c * h + r) * w, w);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Correlate<TV>(Pass p, int block, int n) where TV : struct, IVec<TV>
    {
        int v = TV.Count, span = v * Group;
        var l = new Layout(p.H, p.W, p.KH, p.KW, p.PY, p.PX, v);
        int taps = p.I * p.KH * p.KW;
        long total = (long)p.I * l.Channel + l.Out;
        float* xp = (float*)NativeMemory.AlignedAlloc((nuint)(total * sizeof(float)), 64);
        NativeMemory.Clear(xp, (nuint)(total * sizeof(float)));
        float* outp = xp + (long)p.I * l.Channel;
        int kh = p.KH, kw = p.KW, inChannels = p.I, outChannels = p.O, wr = l.Wr, channel = l.Channel, outLength = l.Out;
        try
        {
            int first = block * PassImages, end = Math.Min(n, first + PassImages);
            for (int img = first; img < end; img++)
            {
                Pad<TV>(xp, p.In + (long)img * p.I * p.H * p.W, p.I, p.H, p.W, l.Channel, l.Wr, p.PY, p.PX);
                for (int o = 0; o < outChannels; o++)
                {
                    float* wt = p.Weight + (long)o * taps;
                    TV b0 = TV.Splat(p.Bias == null ? 0f : p.Bias[o]);
                    for (int e = 0; e < outLength; e += span)
                    {
                        TV a0 = b0, a1 = b0, a2 = b0, a3 = b0;
                        int t = 0;
                        for (int i = 0; i < inChannels; i++)
                        {
                            for (int ky = 0; ky < kh; ky++)
                            {
                                float* src = xp + (long)i * channel + ky * wr + e;
                                for (int kx = 0; kx < kw; kx++, t++)
                                {
                                    TV wv = TV.Splat(wt[t]);
                                    float* q = src + kx;
                                    a0 = TV.MulAdd(wv, TV.Load(q), a0);
                                    a1 = TV.MulAdd(wv, TV.Load(q + v), a1);
                                    a2 = TV.MulAdd(wv, TV.Load(q + 2 * v), a2);
                                    a3 = TV.MulAdd(wv, TV.Load(q + 3 * v), a3);
                                }
                            }
                        }
                        TV.Store(outp + e, a0);
                        TV.Store(outp + e + v, a1);
                        TV.Store(outp + e + 2 * v, a2);
                        TV.Store(outp + e + 3 * v, a3);
                    }
                    float* yo = p.Out + ((long)img * p.O + o) * l.Ho * l.Wo;
                    for (int oy = 0; oy < l.Ho; oy++)
                        Rows.Copy<TV>(yo + oy * l.Wo, outp + oy * wr, l.Wo);
                }
            }
        }
        finally
        {
            NativeMemory.AlignedFree(xp);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void WeightBlock<TV>(int block, int n, int h, int w, float* x, float* gy, float* partial) where TV : struct, IVec<TV>
    {
        int v = TV.Count;
        var l = new Layout(h, w, KH, KW, PY, PX, v);
        int taps = Ci * KH * KW;
        long xpLength = (long)Ci * l.Channel, gLength = (long)Co * l.Out, accLength = (long)Co * taps * v;
        long total = xpLength + gLength + accLength;
        float* s = (float*)NativeMemory.AlignedAlloc((nuint)(total * sizeof(float)), 64);
        NativeMemory.Clear(s, (nuint)(total * sizeof(float)));
        float* xp = s, gp = s + xpLength, acc = gp + gLength;
        int wr = l.Wr, outLength = l.Out, kh = KH, kw = KW;
        try
        {
            int first = block * BlockImages, end = Math.Min(n, first + BlockImages);
            for (int img = first; img < end; img++)
            {
                Pad<TV>(xp, x + (long)img * Ci * h * w, Ci, h, w, l.Channel, wr, PY, PX);
                // gy at the row stride Wr, zero past Wo and past the last row, so that those columns add nothing.
                Pad<TV>(gp, gy + (long)img * Co * l.Ho * l.Wo, Co, l.Ho, l.Wo, l.Out, wr, 0, 0);
                for (int o = 0; o < Co; o++)
                {
                    float* g = gp + (long)o * outLength;
                    int t = 0;
                    for (int i = 0; i < Ci; i++)
                    {
                        for (int ky = 0; ky < kh; ky++)
                        {
                            float* src = xp + (long)i * l.Channel + ky * wr;
                            int kx = 0;
                            for (; kx + 3 <= kw; kx += 3, t += 3)
                            {
                                float* a = acc + ((long)o * taps + t) * v;
                                TV s0 = TV.Load(a), s1 = TV.Load(a + v), s2 = TV.Load(a + 2 * v);
                                float* q = src + kx;
                                for (int e = 0; e < outLength; e += v)
                                {
                                    TV gv = TV.Load(g + e);
                                    s0 = TV.MulAdd(gv, TV.Load(q + e), s0);
                                    s1 = TV.MulAdd(gv, TV.Load(q + e + 1), s1);
                                    s2 = TV.MulAdd(gv, TV.Load(q + e + 2), s2);
                                }
                                TV.Store(a, s0);
                                TV.Store(a + v, s1);
                                TV.Store(a + 2 * v, s2);
                            }
                            for (; kx < kw; kx++, t++)
                            {
                                float* a = acc + ((long)o * taps + t) * v;
                                TV s0 = TV.Load(a);
                                float* q = src + kx;
                                for (int e = 0; e < outLength; e += v)
                                    s0 = TV.MulAdd(TV.Load(g + e), TV.Load(q + e), s0);
                                TV.Store(a, s0);
                            }
                        }
                    }
                }
            }
            for (int t = 0; t < Co * taps; t++)
                partial[t] = TV.Sum(TV.Load(acc + (long)t * v));
        }
        finally
        {
            NativeMemory.AlignedFree(s);
        }
    }

    private static int Blocks(int n, int per) => (n + per - 1) / per;
}
