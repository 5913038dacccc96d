// The cpu device's fully connected layer as BLAS products, split over the host launcher's threads by rows of the
// output (forward, input gradient) or by columns of the weight gradient, so that every element is computed by one
// product, the same way whatever the scheduling.
//
//   x, gx: [N, I]      w, gw: [O, I]      b: [O]      y, gy: [N, O]
//   y = x·wᵀ + b       gw += gyᵀ·x        gx = gy·w
using AttentionWise.Kernels;

namespace AttentionWise.Host;

/// <summary>Linear-layer passes of the cpu device over raw CPU memory (see the file header).</summary>
internal static unsafe class HostLinear
{
    /// <summary>Rows (or weight columns) per product: large enough for the BLAS to run at speed.</summary>
    private const int Block = 64;

    /// <summary>y = x·wᵀ + b (b may be null); with <paramref name="accumulate"/>, y += x·wᵀ + b.</summary>
    public static void Forward(int n, int inFeatures, int outFeatures, float* x, float* w, float* b, float* y, bool accumulate = false)
    {
        nint xi = (nint)x, wi = (nint)w, bi = (nint)b, yi = (nint)y;
        HostLauncher.Shared.For(Blocks(n), c =>
        {
            int r0 = c * Block, rows = Math.Min(Block, n - r0);
            float* yr = (float*)yi + (long)r0 * outFeatures;
            Blas.Gemm(false, true, rows, outFeatures, inFeatures, 1f, (float*)xi + (long)r0 * inFeatures, inFeatures, (float*)wi, inFeatures,
                accumulate ? 1f : 0f, yr, outFeatures);
            if (bi != 0)
            {
                var bias = new ReadOnlySpan<float>((float*)bi, outFeatures);
                for (int r = 0; r < rows; r++)
                {
                    var row = new Span<float>(yr + (long)r * outFeatures, outFeatures);
                    System.Numerics.Tensors.TensorPrimitives.Add(row, bias, row);
                }
            }
        });
    }

    /// <summary>gw += gyᵀ·x.</summary>
    public static void WeightGradient(int n, int inFeatures, int outFeatures, float* x, float* gy, float* gw)
    {
        if (n == 0)
            return;
        nint xi = (nint)x, gyi = (nint)gy, gwi = (nint)gw;
        HostLauncher.Shared.For(Blocks(inFeatures), c =>
        {
            int i0 = c * Block, cols = Math.Min(Block, inFeatures - i0);
            Blas.Gemm(true, false, outFeatures, cols, n, 1f, (float*)gyi, outFeatures, (float*)xi + i0, inFeatures, 1f, (float*)gwi + i0, inFeatures);
        });
    }

    /// <summary>gx = gy·w (gx is overwritten).</summary>
    public static void InputGradient(int n, int inFeatures, int outFeatures, float* gy, float* w, float* gx)
    {
        nint gyi = (nint)gy, wi = (nint)w, gxi = (nint)gx;
        HostLauncher.Shared.For(Blocks(n), c =>
        {
            int r0 = c * Block, rows = Math.Min(Block, n - r0);
            Blas.Gemm(false, false, rows, inFeatures, outFeatures, 1f, (float*)gyi + (long)r0 * outFeatures, outFeatures, (float*)wi, inFeatures,
                0f, (float*)gxi + (long)r0 * inFeatures, inFeatures);
        });
    }

    /// <summary>a = ReLU(a) in place, as the DIA kernels write it (<see cref="ReluOp.Of"/>: NaN stays NaN).</summary>
    public static void Relu(float* a, long length)
    {
        for (long i = 0; i < length; i++)
            a[i] = ReluOp.Of(a[i]);
    }

    /// <summary>g = g where the ReLU output a is positive, else 0 (back through a ReLU).</summary>
    public static void ReluMask(float* g, float* a, long length)
    {
        for (long i = 0; i < length; i++)
            g[i] = a[i] > 0f ? g[i] : 0f;
    }

    private static int Blocks(int count) => (count + Block - 1) / Block;
}
