// The cpu device's narrow convolutions (few output channels, stride 1: the attention layers' K·C → C, 3×3) as
// vectorised host code. Too thin for a BLAS product (a 1 × 784 × 72 GEMM per image), they are direct correlations
// over rows of output pixels, one vector of columns at a time, with the input held zero-padded in cache:
//
//   x: [N, Ci, H, W]     w: [Co, Ci, KH, KW]     y: [N, Co, Ho, Wo], Ho = H + 2·PY − KH + 1, Wo = W + 2·PX − KW + 1
//   forward:          y[n, o]  = b[o] + Σ_{i, ky, kx} w[o, i, ky, kx] · xpad[n, i, oy + ky, ox + kx]
//   input gradient:   the forward over gy padded by K − 1 − P with the weight transposed and flipped
//   weight gradient:  gw[o, i, ky, kx] += Σ_n Σ_{oy, ox} gy[n, o, oy, ox] · xpad[n, i, oy + ky, ox + kx], per block of
//                     64 images in vector lanes, the blocks added in order (so not dependent on the thread count)
using System.Runtime.InteropServices;

namespace AttentionWise.Host;

/// <summary>Stride-1 convolutions with few output channels on the cpu device, at a given vector width (see the file
/// header).</summary>
public sealed unsafe class HostNarrowConv
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

    /// <summary>Floats per padded input row: the output row rounded up to whole vectors, plus KW − 1.</summary>
    private static int RowFloats(int wo, int kw, int v) => (wo + v - 1) / v * v + kw - 1;

    /// <summary>The images of a block into the padded scratch: rows PY … PY + H − 1, columns PX … PX + W − 1 (the rest
    /// stays 0 from the allocation).</summary>
    private static void Pad(float* dst, float* src, int channels, int h, int w, int hp, int wr, int py, int px)
    {
        for (int c = 0; c < channels; c++)
            for (int r = 0; r < h; r++)
                new ReadOnlySpan<float>(src + ((long)c * h + r) * w, w).CopyTo(new Span<float>(dst + ((long)c * hp + r + py) * wr + px, w));
    }

    private static void Correlate<TV>(Pass p, int block, int n) where TV : struct, IVec<TV>
    {
        int v = TV.Count;
        int ho = p.Ho, wo = p.Wo, hp = p.H + 2 * p.PY, wr = RowFloats(wo, p.KW, v);
        int taps = p.I * p.KH * p.KW;
        float* xp = (float*)NativeMemory.AlignedAlloc((nuint)(((long)p.I * hp * wr + v) * sizeof(float)), 64);
        NativeMemory.Clear(xp, (nuint)(((long)p.I * hp * wr + v) * sizeof(float)));
        float* spare = xp + (long)p.I * hp * wr;
        try
        {
            int first = block * PassImages, end = Math.Min(n, first + PassImages);
            for (int img = first; img < end; img++)
            {
                Pad(xp, p.In + (long)img * p.I * p.H * p.W, p.I, p.H, p.W, hp, wr, p.PY, p.PX);
                for (int o = 0; o < p.O; o++)
                {
                    float* wt = p.Weight + (long)o * taps;
                    TV b0 = TV.Splat(p.Bias == null ? 0f : p.Bias[o]);
                    float* yo = p.Out + ((long)img * p.O + o) * ho * wo;
                    for (int oy = 0; oy < ho; oy++)
                    {
                        for (int j = 0; j < wo; j += v)
                        {
                            TV acc = b0;
                            int t = 0;
                            for (int i = 0; i < p.I; i++)
                            {
                                for (int ky = 0; ky < p.KH; ky++)
                                {
                                    float* row = xp + ((long)i * hp + oy + ky) * wr + j;
                                    for (int kx = 0; kx < p.KW; kx++, t++)
                                        acc = TV.MulAdd(TV.Splat(wt[t]), TV.Load(row + kx), acc);
                                }
                            }
                            float* dst = yo + oy * wo;
                            if (j + v <= wo)
                            {
                                TV.Store(dst + j, acc);
                            }
                            else
                            {
                                TV.Store(spare, acc);
                                for (int e = 0; j + e < wo; e++)
                                    dst[j + e] = spare[e];
                            }
                        }
                    }
                }
            }
        }
        finally
        {
            NativeMemory.AlignedFree(xp);
        }
    }

    private void WeightBlock<TV>(int block, int n, int h, int w, float* x, float* gy, float* partial) where TV : struct, IVec<TV>
    {
        int v = TV.Count;
        int ho = h + 2 * PY - KH + 1, wo = w + 2 * PX - KW + 1, hp = h + 2 * PY, wr = RowFloats(wo, KW, v), wov = (wo + v - 1) / v * v;
        int taps = Ci * KH * KW;
        long xpLength = (long)Ci * hp * wr, gLength = (long)Co * ho * wov, accLength = (long)Co * taps * v;
        long total = xpLength + gLength + accLength;
        float* s = (float*)NativeMemory.AlignedAlloc((nuint)(total * sizeof(float)), 64);
        NativeMemory.Clear(s, (nuint)(total * sizeof(float)));
        float* xp = s, gp = s + xpLength, acc = gp + gLength;
        try
        {
            int first = block * BlockImages, end = Math.Min(n, first + BlockImages);
            for (int img = first; img < end; img++)
            {
                Pad(xp, x + (long)img * Ci * h * w, Ci, h, w, hp, wr, PY, PX);
                // gy rows padded to whole vectors with zeros, so that the columns past Wo add nothing.
                Pad(gp, gy + (long)img * Co * ho * wo, Co, ho, wo, ho, wov, 0, 0);
                for (int o = 0; o < Co; o++)
                {
                    float* g = gp + (long)o * ho * wov;
                    int t = 0;
                    for (int i = 0; i < Ci; i++)
                    {
                        for (int ky = 0; ky < KH; ky++)
                        {
                            for (int kx = 0; kx < KW; kx++, t++)
                            {
                                float* a = acc + ((long)o * taps + t) * v;
                                TV sum = TV.Load(a);
                                for (int oy = 0; oy < ho; oy++)
                                {
                                    float* row = xp + ((long)i * hp + oy + ky) * wr + kx;
                                    float* gr = g + oy * wov;
                                    for (int j = 0; j < wov; j += v)
                                        sum = TV.MulAdd(TV.Load(gr + j), TV.Load(row + j), sum);
                                }
                                TV.Store(a, sum);
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
