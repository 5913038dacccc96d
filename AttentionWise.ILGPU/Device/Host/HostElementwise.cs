// The cpu device's element-wise layer operations that show in a training step (the attention layer's skip
// connection and ReLU, forward and backward) as vectorised host code over chunks of the tensors, spread over the host
// launcher's threads. Each element is computed alone, so the results do not depend on the scheduling.
using System.Runtime.CompilerServices;

namespace AttentionWise.Host;

/// <summary>Vectorised element-wise passes over raw CPU memory at a given width.</summary>
internal static unsafe class HostElementwise
{
    /// <summary>Elements per work item.</summary>
    private const int Chunk = 1 << 15;

    /// <summary>y = a + b.</summary>
    public static void Add(SimdWidth simd, long length, float* a, float* b, float* y) => Run(simd, Op.Add, length, a, b, y);

    /// <summary>y = ReLU(x), NaN kept (<see cref="Kernels.ReluOp.Of"/>: v &lt; 0 ? 0 : v).</summary>
    public static void Relu(SimdWidth simd, long length, float* x, float* y) => Run(simd, Op.Relu, length, x, x, y);

    /// <summary>gradInput = gradOutput where the ReLU's output is positive, else 0.</summary>
    public static void ReluBackward(SimdWidth simd, long length, float* gradOutput, float* output, float* gradInput) =>
        Run(simd, Op.ReluBackward, length, gradOutput, output, gradInput);

    private enum Op
    {
        Add,
        Relu,
        ReluBackward,
    }

    private static void Run(SimdWidth simd, Op op, long length, float* a, float* b, float* y)
    {
        if (length <= 0)
            return;
        nint ai = (nint)a, bi = (nint)b, yi = (nint)y;
        int chunks = checked((int)((length + Chunk - 1) / Chunk));
        HostLauncher.Shared.For(chunks, c =>
        {
            long start = (long)c * Chunk;
            int count = (int)Math.Min(Chunk, length - start);
            float* pa = (float*)ai + start, pb = (float*)bi + start, py = (float*)yi + start;
            switch (simd)
            {
                case SimdWidth.V512: Apply<V512>(op, count, pa, pb, py); break;
                case SimdWidth.V256: Apply<V256>(op, count, pa, pb, py); break;
                default: Apply<V1>(op, count, pa, pb, py); break;
            }
        });
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Apply<TV>(Op op, int count, float* a, float* b, float* y) where TV : struct, IVec<TV>
    {
        int v = TV.Count, e = 0;
        TV zero = TV.Splat(0f);
        switch (op)
        {
            case Op.Add:
                for (; e + v <= count; e += v)
                    TV.Store(y + e, TV.Load(a + e) + TV.Load(b + e));
                for (; e < count; e++)
                    y[e] = a[e] + b[e];
                break;
            case Op.Relu:
                for (; e + v <= count; e += v)
                {
                    TV x = TV.Load(a + e);
                    TV.Store(y + e, TV.Select(TV.Less(x, zero), zero, x));
                }
                for (; e < count; e++)
                    y[e] = Kernels.ReluOp.Of(a[e]);
                break;
            default:
                for (; e + v <= count; e += v)
                    TV.Store(y + e, TV.Select(TV.Greater(TV.Load(b + e), zero), TV.Load(a + e), zero));
                for (; e < count; e++)
                    y[e] = b[e] > 0f ? a[e] : 0f;
                break;
        }
    }
}
