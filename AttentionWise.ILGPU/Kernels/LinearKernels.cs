// Fully connected layer, as PyTorch's nn.Linear: y = x·Wᵀ + b.
//
//   x, gx: [N, I]      (any [N, …] input flattened to I = ItemLength features)
//   w, gw: [O, I]
//   b:     [O]
//   y, gy: [N, O]
//
// Forward: thread (o-block of 4, n) computes y[n, o..o+3] (one read of the x row for 4 dot products). On GPU-shaped
// devices a long input row is split into slices (ForwardSlices: thread (o-block, n, slice) writes its slice's dot
// products to partials[slice, n, o]) and ForwardCombine adds the slices in order, then the bias.
// Input gradient: thread (i-chunk of ChunkI, n) computes gx[n, i] = Σ_o gy[n, o]·w[o, i] for its chunk.
// Weight gradient: thread (i-block of 4, o-block of 2) owns gw[o..o+1, i..i+3] and reduces over the batch
// (no atomics); it adds into gw. On GPU-shaped devices the batch is split into slices (BackwardWeightSlices: thread
// (i-block, o-block, slice) writes its slice's sums to partials[slice, o, i]) and GpuPartialSumKernels.WeightGradCombineGroup
// adds the slices into gw by groups of lanes × rows: many more threads, each with a short loop, and a fixed order of
// additions.
// The bias gradient is a per-channel sum of gy (ChannelReductions).
using ILGPU;
using ILGPU.Runtime;

namespace AttentionWise.Kernels;

internal static class LinearKernels
{
    /// <summary>Input columns per thread of the input-gradient kernel.</summary>
    public const int ChunkI = 64;

    /// <summary>Thread (ob, n): y[n, 4·ob + j] = b[·] + Σ_i x[n, i]·w[4·ob + j, i] for the valid j.</summary>
    public static void Forward<TView>(Index2D index, ArrayView<float> yView, ArrayView<float> xView, ArrayView<float> wView, ArrayView<float> biasView,
        int inFeatures, int outFeatures, int hasBias)
        where TView : struct, IKernelView<TView>
    {
        var y = TView.Of(yView);
        var x = TView.Of(xView);
        var w = TView.Of(wView);
        var bias = TView.Of(biasView);
        int ob = index.X;
        int n = index.Y;
        int o0 = ob * 4;
        // Rows past the last output repeat the last row (computed, not stored) so the loop has no branch.
        int last = outFeatures - 1;
        int r0 = o0 * inFeatures;
        int r1 = (o0 + 1 > last ? last : o0 + 1) * inFeatures;
        int r2 = (o0 + 2 > last ? last : o0 + 2) * inFeatures;
        int r3 = (o0 + 3 > last ? last : o0 + 3) * inFeatures;
        int xr = n * inFeatures;
        var d = FourDots(x, w, xr, r0, r1, r2, r3, 0, inFeatures);
        int yr = n * outFeatures + o0;
        y[yr] = d.D0 + (hasBias != 0 ? bias[o0] : 0f);
        if (o0 + 1 <= last)
            y[yr + 1] = d.D1 + (hasBias != 0 ? bias[o0 + 1] : 0f);
        if (o0 + 2 <= last)
            y[yr + 2] = d.D2 + (hasBias != 0 ? bias[o0 + 2] : 0f);
        if (o0 + 3 <= last)
            y[yr + 3] = d.D3 + (hasBias != 0 ? bias[o0 + 3] : 0f);
    }

    /// <summary>The four dot products of one x row with four w rows over the inputs [i0, i1).</summary>
    private readonly struct Dots4(float d0, float d1, float d2, float d3)
    {
        public readonly float D0 = d0, D1 = d1, D2 = d2, D3 = d3;
    }

    /// <summary>Σ_i x[xr + i]·w[rj + i] for i in [i0, i1) and the four rows rj, two interleaved accumulators per row
    /// (even and odd i, added at the end), as Forward and ForwardSlices compute them.</summary>
    private static Dots4 FourDots<TView>(TView x, TView w, int xr, int r0, int r1, int r2, int r3, int i0, int i1)
        where TView : struct, IKernelView<TView>
    {
        float a0 = 0f, a1 = 0f, a2 = 0f, a3 = 0f, c0 = 0f, c1 = 0f, c2 = 0f, c3 = 0f;
        int i = i0;
        for (; i + 1 < i1; i += 2)
        {
            float x0 = x[xr + i];
            float x1 = x[xr + i + 1];
            a0 += x0 * w[r0 + i];
            c0 += x1 * w[r0 + i + 1];
            a1 += x0 * w[r1 + i];
            c1 += x1 * w[r1 + i + 1];
            a2 += x0 * w[r2 + i];
            c2 += x1 * w[r2 + i + 1];
            a3 += x0 * w[r3 + i];
            c3 += x1 * w[r3 + i + 1];
        }
        if (i < i1)
        {
            float x0 = x[xr + i];
            a0 += x0 * w[r0 + i];
            a1 += x0 * w[r1 + i];
            a2 += x0 * w[r2 + i];
            a3 += x0 * w[r3 + i];
        }
        return new Dots4(a0 + c0, a1 + c1, a2 + c2, a3 + c3);
    }

    /// <summary>Thread (ob, n, s): partials[s, n, 4·ob + j] = Σ_i x[n, i]·w[4·ob + j, i] over the inputs i of slice s
    /// ([s·perSlice, (s + 1)·perSlice) ∩ [0, inFeatures)), for the valid j.</summary>
    public static void ForwardSlices<TView>(Index3D index, ArrayView<float> partialsView, ArrayView<float> xView, ArrayView<float> wView,
        int inFeatures, int outFeatures, int batch, int perSlice)
        where TView : struct, IKernelView<TView>
    {
        var partials = TView.Of(partialsView);
        var x = TView.Of(xView);
        var w = TView.Of(wView);
        int o0 = index.X * 4;
        int n = index.Y;
        int i0 = index.Z * perSlice;
        int i1 = i0 + perSlice > inFeatures ? inFeatures : i0 + perSlice;
        int last = outFeatures - 1;
        int r0 = o0 * inFeatures;
        int r1 = (o0 + 1 > last ? last : o0 + 1) * inFeatures;
        int r2 = (o0 + 2 > last ? last : o0 + 2) * inFeatures;
        int r3 = (o0 + 3 > last ? last : o0 + 3) * inFeatures;
        int xr = n * inFeatures;
        var d = FourDots(x, w, xr, r0, r1, r2, r3, i0, i1);
        int pr = (index.Z * batch + n) * outFeatures + o0;
        partials[pr] = d.D0;
        if (o0 + 1 <= last)
            partials[pr + 1] = d.D1;
        if (o0 + 2 <= last)
            partials[pr + 2] = d.D2;
        if (o0 + 3 <= last)
            partials[pr + 3] = d.D3;
    }

    /// <summary>Thread e of [N, O]: y[e] = Σ_s partials[s, e] (in order s = 0, 1, …) + b[e mod O] (with a bias).</summary>
    public static void ForwardCombine<TView>(Index1D e, ArrayView<float> yView, ArrayView<float> partialsView, ArrayView<float> biasView,
        int slices, int outFeatures, int hasBias)
        where TView : struct, IKernelView<TView>
    {
        var y = TView.Of(yView);
        var partials = TView.Of(partialsView);
        var bias = TView.Of(biasView);
        int length = (int)yView.Length;
        float s = 0f;
        int p = e;
        for (int k = 0; k < slices; k++)
        {
            s += partials[p];
            p += length;
        }
        y[e] = s + (hasBias != 0 ? bias[e % outFeatures] : 0f);
    }

    /// <summary>Thread (chunk, n): gx[n, i] = Σ_o gy[n, o]·w[o, i] for i in the chunk (4 columns at a time).</summary>
    public static void BackwardInput<TView>(Index2D index, ArrayView<float> gxView, ArrayView<float> gyView, ArrayView<float> wView,
        int inFeatures, int outFeatures)
        where TView : struct, IKernelView<TView>
    {
        var gx = TView.Of(gxView);
        var gy = TView.Of(gyView);
        var w = TView.Of(wView);
        int start = index.X * ChunkI;
        int n = index.Y;
        int end = start + ChunkI;
        if (end > inFeatures)
            end = inFeatures;
        int gr = n * outFeatures;
        int xr = n * inFeatures;
        int i = start;
        for (; i + 3 < end; i += 4)
        {
            float s0 = 0f, s1 = 0f, s2 = 0f, s3 = 0f;
            int wr = i;
            for (int o = 0; o < outFeatures; o++)
            {
                float g = gy[gr + o];
                s0 += g * w[wr];
                s1 += g * w[wr + 1];
                s2 += g * w[wr + 2];
                s3 += g * w[wr + 3];
                wr += inFeatures;
            }
            gx[xr + i] = s0;
            gx[xr + i + 1] = s1;
            gx[xr + i + 2] = s2;
            gx[xr + i + 3] = s3;
        }
        for (; i < end; i++)
        {
            float s0 = 0f;
            int wr = i;
            for (int o = 0; o < outFeatures; o++)
            {
                s0 += gy[gr + o] * w[wr];
                wr += inFeatures;
            }
            gx[xr + i] = s0;
        }
    }

    /// <summary>Thread (ib, ob): gw[o, i] += Σ_n gy[n, o]·x[n, i] for o in [2·ob, 2·ob + 2), i in [4·ib, 4·ib + 4)
    /// (the valid ones).</summary>
    public static void BackwardWeight<TView>(Index2D index, ArrayView<float> gwView, ArrayView<float> gyView, ArrayView<float> xView,
        int batch, int inFeatures, int outFeatures)
        where TView : struct, IKernelView<TView>
    {
        var gw = TView.Of(gwView);
        var gy = TView.Of(gyView);
        var x = TView.Of(xView);
        int i0 = index.X * 4;
        int o0 = index.Y * 2;
        // Clamp the columns and rows read (computed, not stored) so the loop has no branch.
        int lastI = inFeatures - 1;
        int c1 = i0 + 1 > lastI ? lastI : i0 + 1;
        int c2 = i0 + 2 > lastI ? lastI : i0 + 2;
        int c3 = i0 + 3 > lastI ? lastI : i0 + 3;
        int o1 = o0 + 1 >= outFeatures ? outFeatures - 1 : o0 + 1;
        float a00 = 0f, a01 = 0f, a02 = 0f, a03 = 0f, a10 = 0f, a11 = 0f, a12 = 0f, a13 = 0f;
        int xr = 0;
        int gr = 0;
        for (int n = 0; n < batch; n++)
        {
            float g0 = gy[gr + o0];
            float g1 = gy[gr + o1];
            float x0 = x[xr + i0], x1 = x[xr + c1], x2 = x[xr + c2], x3 = x[xr + c3];
            a00 += g0 * x0;
            a01 += g0 * x1;
            a02 += g0 * x2;
            a03 += g0 * x3;
            a10 += g1 * x0;
            a11 += g1 * x1;
            a12 += g1 * x2;
            a13 += g1 * x3;
            xr += inFeatures;
            gr += outFeatures;
        }
        int w0 = o0 * inFeatures + i0;
        gw[w0] += a00;
        if (i0 + 1 <= lastI)
            gw[w0 + 1] += a01;
        if (i0 + 2 <= lastI)
            gw[w0 + 2] += a02;
        if (i0 + 3 <= lastI)
            gw[w0 + 3] += a03;
        if (o0 + 1 < outFeatures)
        {
            int w1 = w0 + inFeatures;
            gw[w1] += a10;
            if (i0 + 1 <= lastI)
                gw[w1 + 1] += a11;
            if (i0 + 2 <= lastI)
                gw[w1 + 2] += a12;
            if (i0 + 3 <= lastI)
                gw[w1 + 3] += a13;
        }
    }

    /// <summary>Thread (ib, ob, s): partials[s, o, i] = Σ_n gy[n, o]·x[n, i] over the images n of slice s
    /// ([s·perSlice, (s + 1)·perSlice) ∩ [0, batch)) for o in [2·ob, 2·ob + 2), i in [4·ib, 4·ib + 4) (the valid ones).</summary>
    public static void BackwardWeightSlices<TView>(Index3D index, ArrayView<float> partialsView, ArrayView<float> gyView, ArrayView<float> xView,
        int batch, int inFeatures, int outFeatures, int perSlice)
        where TView : struct, IKernelView<TView>
    {
        var partials = TView.Of(partialsView);
        var gy = TView.Of(gyView);
        var x = TView.Of(xView);
        int i0 = index.X * 4;
        int o0 = index.Y * 2;
        int n0 = index.Z * perSlice;
        int n1 = n0 + perSlice > batch ? batch : n0 + perSlice;
        int lastI = inFeatures - 1;
        int c1 = i0 + 1 > lastI ? lastI : i0 + 1;
        int c2 = i0 + 2 > lastI ? lastI : i0 + 2;
        int c3 = i0 + 3 > lastI ? lastI : i0 + 3;
        int o1 = o0 + 1 >= outFeatures ? outFeatures - 1 : o0 + 1;
        float a00 = 0f, a01 = 0f, a02 = 0f, a03 = 0f, a10 = 0f, a11 = 0f, a12 = 0f, a13 = 0f;
        int xr = n0 * inFeatures;
        int gr = n0 * outFeatures;
        for (int n = n0; n < n1; n++)
        {
            float g0 = gy[gr + o0];
            float g1 = gy[gr + o1];
            float x0 = x[xr + i0], x1 = x[xr + c1], x2 = x[xr + c2], x3 = x[xr + c3];
            a00 += g0 * x0;
            a01 += g0 * x1;
            a02 += g0 * x2;
            a03 += g0 * x3;
            a10 += g1 * x0;
            a11 += g1 * x1;
            a12 += g1 * x2;
            a13 += g1 * x3;
            xr += inFeatures;
            gr += outFeatures;
        }
        int w0 = index.Z * outFeatures * inFeatures + o0 * inFeatures + i0;
        partials[w0] = a00;
        if (i0 + 1 <= lastI)
            partials[w0 + 1] = a01;
        if (i0 + 2 <= lastI)
            partials[w0 + 2] = a02;
        if (i0 + 3 <= lastI)
            partials[w0 + 3] = a03;
        if (o0 + 1 < outFeatures)
        {
            int w1 = w0 + inFeatures;
            partials[w1] = a10;
            if (i0 + 1 <= lastI)
                partials[w1 + 1] = a11;
            if (i0 + 2 <= lastI)
                partials[w1 + 2] = a12;
            if (i0 + 3 <= lastI)
                partials[w1 + 3] = a13;
        }
    }
}

internal static class LinearForwardSlices
{
    /// <summary>Inputs per slice at least.</summary>
    public const int MinInputs = 256;

    /// <summary>Slices of the input row for the forward pass on a GPU-shaped device with <paramref name="maxThreads"/>
    /// resident threads: as many as fill the GPU (a thread per 4 outputs, image and slice), at least
    /// <see cref="MinInputs"/> inputs each. Returns (slices, inputs per slice).</summary>
    public static (int Slices, int PerSlice) Choose(int batch, int inFeatures, int outFeatures, int maxThreads)
    {
        long perSlice = (long)((outFeatures + 3) / 4) * batch;
        long slices = Math.Min((inFeatures + MinInputs - 1) / MinInputs, Math.Max(1, maxThreads / Math.Max(1, perSlice)));
        slices = Math.Max(1, slices);
        int per = (int)((inFeatures + slices - 1) / slices);
        return ((inFeatures + per - 1) / per, per);
    }
}

internal static class LinearWeightSlices
{
    /// <summary>Images per slice at least (shorter loops would make the combine the larger cost).</summary>
    public const int MinImages = 32;

    /// <summary>Slices of the batch for the weight gradient on a GPU-shaped device with <paramref name="maxThreads"/>
    /// resident threads: enough for one thread each (4 inputs × 2 outputs per thread), at least
    /// <see cref="MinImages"/> images each; partials hold at most 16 M floats. Returns (slices, images per slice).</summary>
    public static (int Slices, int PerSlice) Choose(int batch, int inFeatures, int outFeatures, int maxThreads)
    {
        long perSlice = (long)((inFeatures + 3) / 4) * ((outFeatures + 1) / 2);
        long bySize = Math.Max(1, (16L << 20) / ((long)inFeatures * outFeatures));
        long slices = Math.Min(Math.Min((batch + MinImages - 1) / MinImages, Math.Max(1, maxThreads / perSlice)), bySize);
        slices = Math.Max(1, slices);
        int per = (int)((batch + slices - 1) / slices);
        return ((batch + per - 1) / per, per);
    }
}

/// <summary>The linear-layer kernels of both families, closed with the family's kernel view: the products every dense op
/// runs when it does not run a BLAS.</summary>
internal sealed class LinearKernelSet<TView> : IKernelSet<LinearKernelSet<TView>>
    where TView : struct, IKernelView<TView>
{
    private LinearKernelSet(KernelLoader loader)
    {
        Forward = loader.Load<Index2D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, int>(LinearKernels.Forward<TView>);
        BackwardInput = loader.Load<Index2D, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int>(LinearKernels.BackwardInput<TView>);
        BackwardWeight = loader.Load<Index2D, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, int>(LinearKernels.BackwardWeight<TView>);
    }

    public Action<Index2D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, int> Forward { get; }
    public Action<Index2D, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int> BackwardInput { get; }
    public Action<Index2D, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, int> BackwardWeight { get; }

    public static LinearKernelSet<TView> Load(KernelLoader loader) => new(loader);
}

/// <summary>The sliced linear-layer kernels of GPU-shaped devices: a long input row or a large batch cut into slices run
/// in parallel, then added in slice order.</summary>
[AttentionWise.Backends.KernelFamily(AttentionWise.Backends.BackendFamily.Gpu)]
internal sealed class GpuLinearKernelSet : IKernelSet<GpuLinearKernelSet>
{
    private GpuLinearKernelSet(KernelLoader loader)
    {
        BackwardWeightSlices = loader.Load<Index3D, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, int, int>(
            LinearKernels.BackwardWeightSlices<DeviceView>);
        ForwardSlices = loader.Load<Index3D, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, int, int>(
            LinearKernels.ForwardSlices<DeviceView>);
        ForwardCombine = loader.Load<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, int>(
            LinearKernels.ForwardCombine<DeviceView>);
    }

    public Action<Index3D, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, int, int> ForwardSlices { get; }
    public Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, int> ForwardCombine { get; }
    public Action<Index3D, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, int, int> BackwardWeightSlices { get; }

    public static GpuLinearKernelSet Load(KernelLoader loader) => new(loader);
}
