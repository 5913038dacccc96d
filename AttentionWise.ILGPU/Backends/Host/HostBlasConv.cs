// The cpu device's convolution passes as host code: im2col (or col2im) per image and a BLAS matrix product, the
// images spread over the host launcher's threads. NCHW, cross-correlation as PyTorch's Conv2d.
//
//   x:   [N, Ci, H, W]      w: [Co, Ci, KH, KW] = [Co, K] with K = Ci·KH·KW      y: [N, Co, Ho, Wo] = [N, Co, P], P = Ho·Wo
//   col: [K, P]             col[(ci·KH + ky)·KW + kx, oy·Wo + ox] = x[ci, oy·SY + ky − PY, ox·SX + kx − PX] (0 outside)
//
//   forward:          y[n]  = w · col(x[n]) (+ b)                     GEMM Co×P×K
//   weight gradient:  gw   += Σ_n gy[n] · col(x[n])ᵀ                  GEMM Co×K×P per image, summed per image group
//   input gradient:   gx[n] = col2im(wᵀ · gy[n])                      GEMM K×P×Co, then the columns added back; for
//                     a "same" convolution: the forward pass over gy with w transposed and flipped (no scatter)
//
// Every image is computed the same way whatever thread runs it, and the weight gradient adds fixed groups of images
// in a fixed order, so the results do not depend on the scheduling.
using System.Runtime.CompilerServices;

namespace AttentionWise.Host;

/// <summary>The shape of one convolution as the host passes see it.</summary>
internal readonly record struct HostConvShape(int Batch, int InChannels, int H, int W, int OutChannels, int KernelH, int KernelW,
    int StrideY, int StrideX, int PadY, int PadX)
{
    public int OutH => (H + 2 * PadY - KernelH) / StrideY + 1;
    public int OutW => (W + 2 * PadX - KernelW) / StrideX + 1;

    /// <summary>K: rows of a column matrix (Ci·KH·KW).</summary>
    public int Rows => InChannels * KernelH * KernelW;

    /// <summary>P: output pixels per channel (Ho·Wo).</summary>
    public int Pixels => OutH * OutW;
}

/// <summary>Convolution passes of the cpu device over raw CPU memory (see the file header).</summary>
internal static unsafe class HostBlasConv
{
    /// <summary>Images whose weight-gradient products are summed into one partial sum (fixed: the sums do not depend
    /// on the number of threads).</summary>
    private const int WeightGradGroups = 16;

    [ThreadStatic] private static float[]? _scratch;

    /// <summary>y = conv(x, w) + b (b may be null).</summary>
    public static void Forward(HostConvShape s, float* x, float* w, float* b, float* y)
    {
        nint xi = (nint)x, wi = (nint)w, bi = (nint)b, yi = (nint)y;
        HostLauncher.Shared.For(s.Batch, n =>
        {
            float* col = Scratch((long)s.Rows * s.Pixels);
            float* xn = (float*)xi + (long)n * s.InChannels * s.H * s.W;
            float* yn = (float*)yi + (long)n * s.OutChannels * s.Pixels;
            Im2Col(s, xn, col);
            Blas.Gemm(false, false, s.OutChannels, s.Pixels, s.Rows, 1f, (float*)wi, s.Rows, col, s.Pixels, 0f, yn, s.Pixels);
            if (bi != 0)
                AddRowBias(yn, (float*)bi, s.OutChannels, s.Pixels);
        });
    }

    /// <summary>The partial sums <see cref="WeightGradient"/> needs: one [Co, K] matrix per group of images.</summary>
    public static long WeightGradientScratch(HostConvShape s) => (long)Math.Min(Math.Max(s.Batch, 1), WeightGradGroups) * s.OutChannels * s.Rows;

    /// <summary>gw += Σ_n gy[n] · col(x[n])ᵀ; <paramref name="partials"/> holds <see cref="WeightGradientScratch"/> floats.</summary>
    public static void WeightGradient(HostConvShape s, float* x, float* gy, float* gw, float* partials)
    {
        if (s.Batch == 0)
            return;
        int groups = Math.Min(s.Batch, WeightGradGroups);
        long size = (long)s.OutChannels * s.Rows;
        nint xi = (nint)x, gyi = (nint)gy, pi = (nint)partials;
        HostLauncher.Shared.For(groups, g =>
        {
            float* col = Scratch((long)s.Rows * s.Pixels);
            float* part = (float*)pi + g * size;
            int first = (int)((long)s.Batch * g / groups), end = (int)((long)s.Batch * (g + 1) / groups);
            for (int n = first; n < end; n++)
            {
                Im2Col(s, (float*)xi + (long)n * s.InChannels * s.H * s.W, col);
                Blas.Gemm(false, true, s.OutChannels, s.Rows, s.Pixels, 1f, (float*)gyi + (long)n * s.OutChannels * s.Pixels, s.Pixels,
                    col, s.Pixels, n == first ? 0f : 1f, part, s.Rows);
            }
        });
        // gw += Σ_g partial_g, in the order of g, in slices spread over the threads.
        nint gwi = (nint)gw;
        const int slice = 4096;
        int slices = (int)((size + slice - 1) / slice);
        HostLauncher.Shared.For(slices, c =>
        {
            long start = (long)c * slice, stop = Math.Min(size, start + slice);
            float* target = (float*)gwi;
            float* parts = (float*)pi;
            for (long e = start; e < stop; e++)
            {
                float sum = target[e];
                for (int g = 0; g < groups; g++)
                    sum += parts[g * size + e];
                target[e] = sum;
            }
        });
    }

    /// <summary>The weights of the input gradient of a "same" convolution, as a forward convolution of the output
    /// gradient: [Ci, Co, KH, KW] with wt[ci, co, ky, kx] = w[co, ci, KH − 1 − ky, KW − 1 − kx]. Null for other shapes.</summary>
    public static long TransposedWeightLength(HostConvShape s) => IsSame(s) && 2 * s.PadY == s.KernelH - 1 && 2 * s.PadX == s.KernelW - 1
        ? (long)s.InChannels * s.OutChannels * s.KernelH * s.KernelW
        : 0;

    /// <summary>
    /// gx = the input gradient (overwritten). A "same" convolution's is itself a same convolution of gy, with the
    /// weights transposed and flipped (<paramref name="transposed"/>, <see cref="TransposedWeightLength"/> floats of
    /// scratch): im2col of gy and one product per image, no scatter. Other shapes: wᵀ · gy per image, then col2im.
    /// </summary>
    public static void InputGradient(HostConvShape s, float* w, float* gy, float* gx, float* transposed)
    {
        if (TransposedWeightLength(s) > 0)
        {
            int taps = s.KernelH * s.KernelW;
            for (int ci = 0; ci < s.InChannels; ci++)
                for (int co = 0; co < s.OutChannels; co++)
                    for (int t = 0; t < taps; t++)
                        transposed[((long)ci * s.OutChannels + co) * taps + t] = w[((long)co * s.InChannels + ci) * taps + (taps - 1 - t)];
            var back = new HostConvShape(s.Batch, s.OutChannels, s.H, s.W, s.InChannels, s.KernelH, s.KernelW, 1, 1, s.KernelH - 1 - s.PadY, s.KernelW - 1 - s.PadX);
            Forward(back, gy, transposed, null, gx);
            return;
        }
        nint wi = (nint)w, gyi = (nint)gy, gxi = (nint)gx;
        HostLauncher.Shared.For(s.Batch, n =>
        {
            float* col = Scratch((long)s.Rows * s.Pixels);
            Blas.Gemm(true, false, s.Rows, s.Pixels, s.OutChannels, 1f, (float*)wi, s.Rows, (float*)gyi + (long)n * s.OutChannels * s.Pixels, s.Pixels,
                0f, col, s.Pixels);
            Col2Im(s, col, (float*)gxi + (long)n * s.InChannels * s.H * s.W);
        });
    }

    /// <summary>True for a "same" convolution (stride 1, output as large as the input): its column rows are shifted copies
    /// of the input planes, which <see cref="Im2Col"/> copies whole.</summary>
    public static bool IsSame(HostConvShape s) => s.StrideX == 1 && s.StrideY == 1 && s.OutH == s.H && s.OutW == s.W;

    /// <summary>col = im2col(x) for one image (see the file header).</summary>
    public static void Im2Col(HostConvShape s, float* x, float* col)
    {
        if (IsSame(s))
        {
            Im2ColSame(s, x, col);
            return;
        }
        int ho = s.OutH, wo = s.OutW, p = ho * wo;
        for (int ci = 0; ci < s.InChannels; ci++)
        {
            float* plane = x + (long)ci * s.H * s.W;
            for (int ky = 0; ky < s.KernelH; ky++)
            {
                for (int kx = 0; kx < s.KernelW; kx++)
                {
                    float* row = col + (long)((ci * s.KernelH + ky) * s.KernelW + kx) * p;
                    // Output columns whose input column ox·SX + kx − PX lies in [0, W).
                    int lo = ColumnsBefore(s.PadX - kx, s.StrideX), hi = ColumnsBefore(s.W + s.PadX - kx, s.StrideX);
                    lo = Math.Clamp(lo, 0, wo);
                    hi = Math.Clamp(hi, lo, wo);
                    for (int oy = 0; oy < ho; oy++)
                    {
                        float* dst = row + oy * wo;
                        int iy = oy * s.StrideY + ky - s.PadY;
                        if (iy < 0 || iy >= s.H)
                        {
                            new Span<float>(dst, wo).Clear();
                            continue;
                        }
                        float* src = plane + iy * s.W + kx - s.PadX;
                        if (lo > 0)
                            new Span<float>(dst, lo).Clear();
                        if (s.StrideX == 1)
                        {
                            new ReadOnlySpan<float>(src + lo, hi - lo).CopyTo(new Span<float>(dst + lo, hi - lo));
                        }
                        else
                        {
                            for (int ox = lo; ox < hi; ox++)
                                dst[ox] = src[ox * s.StrideX];
                        }
                        if (hi < wo)
                            new Span<float>(dst + hi, wo - hi).Clear();
                    }
                }
            }
        }
    }

    /// <summary>im2col of a "same" convolution: column row (ci, ky, kx) is plane ci shifted by dy = ky − PY rows and
    /// dx = kx − PX columns. It is copied as one block (element j reads j + dy·W + dx of the plane), then what fell
    /// outside the plane is zeroed: the rows past the top or bottom and the |dx| columns that wrapped round a row edge.</summary>
    private static void Im2ColSame(HostConvShape s, float* x, float* col)
    {
        int w = s.W, p = s.H * s.W;
        for (int ci = 0; ci < s.InChannels; ci++)
        {
            float* plane = x + (long)ci * p;
            for (int ky = 0; ky < s.KernelH; ky++)
            {
                int dy = ky - s.PadY;
                for (int kx = 0; kx < s.KernelW; kx++)
                {
                    int dx = kx - s.PadX, shift = dy * w + dx;
                    float* row = col + (long)((ci * s.KernelH + ky) * s.KernelW + kx) * p;
                    int lo = Math.Clamp(-shift, 0, p), hi = Math.Clamp(p - shift, lo, p);
                    new Span<float>(row, lo).Clear();
                    new ReadOnlySpan<float>(plane + lo + shift, hi - lo).CopyTo(new Span<float>(row + lo, hi - lo));
                    new Span<float>(row + hi, p - hi).Clear();
                    // Rows whose source row is outside the plane (covered above only where the shift runs off the ends).
                    int rowLo = Math.Clamp(-dy, 0, s.H), rowHi = Math.Clamp(s.H - dy, rowLo, s.H);
                    new Span<float>(row, rowLo * w).Clear();
                    new Span<float>(row + rowHi * w, (s.H - rowHi) * w).Clear();
                    // Columns that wrapped: ox + dx outside [0, W).
                    if (dx != 0)
                    {
                        int c0 = dx > 0 ? w - dx : 0, c1 = dx > 0 ? w : Math.Min(w, -dx);
                        if (c1 - c0 == 1)
                        {
                            for (int oy = rowLo; oy < rowHi; oy++)
                                row[oy * w + c0] = 0f;
                        }
                        else
                        {
                            for (int oy = rowLo; oy < rowHi; oy++)
                                new Span<float>(row + oy * w + c0, c1 - c0).Clear();
                        }
                    }
                }
            }
        }
    }

    /// <summary>x = col2im(col) for one image: every column value added back to the input element it was read from
    /// (x is overwritten).</summary>
    public static void Col2Im(HostConvShape s, float* col, float* x)
    {
        int ho = s.OutH, wo = s.OutW, p = ho * wo;
        new Span<float>(x, s.InChannels * s.H * s.W).Clear();
        for (int ci = 0; ci < s.InChannels; ci++)
        {
            float* plane = x + (long)ci * s.H * s.W;
            for (int ky = 0; ky < s.KernelH; ky++)
            {
                for (int kx = 0; kx < s.KernelW; kx++)
                {
                    float* row = col + (long)((ci * s.KernelH + ky) * s.KernelW + kx) * p;
                    int lo = Math.Clamp(ColumnsBefore(s.PadX - kx, s.StrideX), 0, wo);
                    int hi = Math.Clamp(ColumnsBefore(s.W + s.PadX - kx, s.StrideX), lo, wo);
                    for (int oy = 0; oy < ho; oy++)
                    {
                        int iy = oy * s.StrideY + ky - s.PadY;
                        if (iy < 0 || iy >= s.H)
                            continue;
                        float* src = row + oy * wo;
                        float* dst = plane + iy * s.W + kx - s.PadX;
                        if (s.StrideX == 1)
                        {
                            var d = new Span<float>(dst + lo, hi - lo);
                            System.Numerics.Tensors.TensorPrimitives.Add(d, new ReadOnlySpan<float>(src + lo, hi - lo), d);
                        }
                        else
                        {
                            for (int ox = lo; ox < hi; ox++)
                                dst[ox * s.StrideX] += src[ox];
                        }
                    }
                }
            }
        }
    }

    /// <summary>The number of output columns ox ≥ 0 with ox·stride &lt; limit (limit may be negative: then 0 or less).</summary>
    private static int ColumnsBefore(int limit, int stride) => limit <= 0 ? -((-limit) / stride) : (limit + stride - 1) / stride;

    private static void AddRowBias(float* y, float* b, int rows, int cols)
    {
        for (int r = 0; r < rows; r++)
        {
            var row = new Span<float>(y + (long)r * cols, cols);
            System.Numerics.Tensors.TensorPrimitives.Add(row, b[r], row);
        }
    }

    /// <summary>This thread's scratch of at least <paramref name="length"/> floats (pinned, reused between calls).</summary>
    private static float* Scratch(long length)
    {
        if (length > Array.MaxLength)
            throw new InvalidOperationException($"A convolution column buffer of {length} floats is too large.");
        var a = _scratch;
        if (a is null || a.Length < length)
            _scratch = a = GC.AllocateUninitializedArray<float>((int)Math.Max(length, 1), pinned: true);
        return (float*)Unsafe.AsPointer(ref a[0]);
    }
}
