// Deterministic reductions: every thread sums its own range in a fixed order, then one fixed-order
// combine. No atomics.
//
// Whole tensor:   x: [n]  → partials: [blocks] (block b = elements [b·blockLength, (b+1)·blockLength))
//                 partials → result[0] = scale · Σ_b partials[b]
// Per channel:    x viewed as [N, C, S] (S = H·W, or 1 for [N, C]); channel c reduces over N·S elements.
//                 The N items are cut into K slices of consecutive items (slice k = items
//                 [k·itemsPerSlice, (k+1)·itemsPerSlice)); thread (c, k) reduces one slice of one channel
//                 into partials[k, ·, c]; a combine thread per channel folds the K partials in order k = 0, 1, …
//   Sums:     partials [K, 2, C] = (Σ a, Σ a·(b − shift[c]))
//   Moments:  partials [K, 2, C] = (mean, M2 = Σ (x − mean)²) of the slice (per item: sums shifted by the
//             item's first value, one read); items and slices are merged with Chan's formula.
using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Runtime;

namespace AttentionWise.Kernels;

/// <summary>How a per-channel reduction views its input: [N, C, S], cut into K slices of items. Passed by value.</summary>
internal readonly struct ChannelGeometry
{
    public ChannelGeometry(int items, int channels, int spatial, int slices, int itemsPerSlice)
    {
        Items = items;
        Channels = channels;
        Spatial = spatial;
        Slices = slices;
        ItemsPerSlice = itemsPerSlice;
    }

    /// <summary>N: batch items.</summary>
    public readonly int Items;

    /// <summary>C: channels (one result each).</summary>
    public readonly int Channels;

    /// <summary>S: contiguous elements of one channel of one item (H·W).</summary>
    public readonly int Spatial;

    /// <summary>K: slices of items per channel (partial results per channel).</summary>
    public readonly int Slices;

    public readonly int ItemsPerSlice;

    /// <summary>Chooses the slices from the shape only, so the summation order never depends on the machine.</summary>
    public static ChannelGeometry For(int items, int channels, int spatial)
    {
        // About 16 K elements per partial: enough work per thread, and enough threads for every core even
        // with few channels.
        long total = (long)items * spatial;
        int slices = (int)Math.Clamp((total + 16383) / 16384, 1, Math.Max(1, items));
        int perSlice = items == 0 ? 0 : (items + slices - 1) / slices;
        slices = perSlice == 0 ? 1 : (items + perSlice - 1) / perSlice;
        return new ChannelGeometry(items, channels, spatial, slices, perSlice);
    }

    public override string ToString() =>
        $"ChannelGeometry(N {Items}, C {Channels}, S {Spatial}, {Slices} slices of {ItemsPerSlice} items)";
}

internal static class ReductionKernels
{
    /// <summary>Block length of the whole-tensor sum (fixed: the summation order depends on the length only).</summary>
    public const int SumBlockLength = 8192;

    /// <summary>partials[b] = Σ x[b·blockLength ..] over one block, four interleaved accumulators.</summary>
    public static void SumBlocks<TView>(Index1D block, ArrayView<float> partialsView, ArrayView<float> xView, int blockLength, int length)
        where TView : struct, IKernelView<TView>
    {
        var partials = TView.Of(partialsView);
        var x = TView.Of(xView);
        int start = block * blockLength;
        int end = start + blockLength;
        if (end > length)
            end = length;
        float s0 = 0f, s1 = 0f, s2 = 0f, s3 = 0f;
        int e = start;
        for (; e + 3 < end; e += 4)
        {
            s0 += x[e];
            s1 += x[e + 1];
            s2 += x[e + 2];
            s3 += x[e + 3];
        }
        for (; e < end; e++)
            s0 += x[e];
        partials[block] = (s0 + s1) + (s2 + s3);
    }

    /// <summary>result[index] = scale · Σ_b partials[b], in order b = 0, 1, … (one thread).</summary>
    public static void SumPartials<TView>(Index1D index, ArrayView<float> resultView, ArrayView<float> partialsView, int count, float scale)
        where TView : struct, IKernelView<TView>
    {
        var result = TView.Of(resultView);
        var partials = TView.Of(partialsView);
        float s = 0f;
        for (int b = 0; b < count; b++)
            s += partials[b];
        result[index] = s * scale;
    }

    /// <summary>Thread (c, k): partials[k, 0, c] = Σ a and, when <paramref name="withDot"/> ≠ 0,
    /// partials[k, 1, c] = Σ a·(b − shift[c]) over slice k of channel c.</summary>
    public static void ChannelSumsPartial<TView>(
        Index2D index, ArrayView<float> partialsView, ArrayView<float> aView, ArrayView<float> bView, ArrayView<float> shiftView,
        ChannelGeometry geo, int withDot)
        where TView : struct, IKernelView<TView>
    {
        var partials = TView.Of(partialsView);
        var a = TView.Of(aView);
        var b = TView.Of(bView);
        var shift = TView.Of(shiftView);
        int c = index.X;
        int k = index.Y;
        int first = k * geo.ItemsPerSlice;
        int last = first + geo.ItemsPerSlice;
        if (last > geo.Items)
            last = geo.Items;
        int S = geo.Spatial;
        int itemStride = geo.Channels * S;
        float sa0 = 0f, sa1 = 0f, sd0 = 0f, sd1 = 0f;
        if (withDot != 0)
        {
            float mu = shift[c];
            for (int n = first; n < last; n++)
            {
                int row = n * itemStride + c * S;
                int end = row + S;
                int e = row;
                for (; e + 1 < end; e += 2)
                {
                    float g0 = a[e], g1 = a[e + 1];
                    sa0 += g0;
                    sa1 += g1;
                    sd0 += g0 * (b[e] - mu);
                    sd1 += g1 * (b[e + 1] - mu);
                }
                if (e < end)
                {
                    float g0 = a[e];
                    sa0 += g0;
                    sd0 += g0 * (b[e] - mu);
                }
            }
        }
        else
        {
            for (int n = first; n < last; n++)
            {
                int row = n * itemStride + c * S;
                int end = row + S;
                int e = row;
                for (; e + 1 < end; e += 2)
                {
                    sa0 += a[e];
                    sa1 += a[e + 1];
                }
                if (e < end)
                    sa0 += a[e];
            }
        }
        int p = k * 2 * geo.Channels + c;
        partials[p] = sa0 + sa1;
        partials[p + geo.Channels] = sd0 + sd1;
    }

    /// <summary>Thread c folds the K partials of channel c in order: sumA[c] (+)= Σ_k partials[k, 0, c], and
    /// when <paramref name="withDot"/> ≠ 0, sumDot[c] (+)= Σ_k partials[k, 1, c]. Adds when
    /// <paramref name="accumulate"/> ≠ 0, else overwrites.</summary>
    public static void ChannelSumsCombine<TView>(
        Index1D c, ArrayView<float> sumAView, ArrayView<float> sumDotView, ArrayView<float> partialsView,
        ChannelGeometry geo, int withDot, int accumulate)
        where TView : struct, IKernelView<TView>
    {
        var sumA = TView.Of(sumAView);
        var sumDot = TView.Of(sumDotView);
        var partials = TView.Of(partialsView);
        float sa = 0f, sd = 0f;
        for (int k = 0; k < geo.Slices; k++)
        {
            int p = k * 2 * geo.Channels + c;
            sa += partials[p];
            sd += partials[p + geo.Channels];
        }
        if (accumulate != 0)
        {
            sumA[c] += sa;
            if (withDot != 0)
                sumDot[c] += sd;
        }
        else
        {
            sumA[c] = sa;
            if (withDot != 0)
                sumDot[c] = sd;
        }
    }

    /// <summary>Thread (c, k): mean and M2 = Σ (x − mean)² of slice k of channel c, in one read of the data. Each
    /// item's S values are summed shifted by the item's first value (d = x − x₀: Σd and Σd² stay small, so
    /// M2 = Σd² − (Σd)²/S loses no precision however large the mean), and items are merged with Chan's formula.</summary>
    public static void ChannelMomentsPartial<TView>(Index2D index, ArrayView<float> partialsView, ArrayView<float> xView, ChannelGeometry geo)
        where TView : struct, IKernelView<TView>
    {
        var partials = TView.Of(partialsView);
        var x = TView.Of(xView);
        int c = index.X;
        int k = index.Y;
        int first = k * geo.ItemsPerSlice;
        int last = first + geo.ItemsPerSlice;
        if (last > geo.Items)
            last = geo.Items;
        int S = geo.Spatial;
        int itemStride = geo.Channels * S;
        float invS = 1f / S;
        float mean = 0f, m2 = 0f, count = 0f;
        for (int n = first; n < last; n++)
        {
            int row = n * itemStride + c * S;
            int end = row + S;
            float shift = x[row];
            float s0 = 0f, s1 = 0f, s2 = 0f, s3 = 0f;
            float q0 = 0f, q1 = 0f, q2 = 0f, q3 = 0f;
            int e = row;
            for (; e + 3 < end; e += 4)
            {
                float d0 = x[e] - shift, d1 = x[e + 1] - shift, d2 = x[e + 2] - shift, d3 = x[e + 3] - shift;
                s0 += d0;
                s1 += d1;
                s2 += d2;
                s3 += d3;
                q0 += d0 * d0;
                q1 += d1 * d1;
                q2 += d2 * d2;
                q3 += d3 * d3;
            }
            for (; e < end; e++)
            {
                float d0 = x[e] - shift;
                s0 += d0;
                q0 += d0 * d0;
            }
            float sd = (s0 + s1) + (s2 + s3);
            float q = (q0 + q1) + (q2 + q3) - sd * sd * invS;
            if (q < 0f)
                q = 0f;
            float m = shift + sd * invS;
            // Chan: merge (count, mean, m2) with (S, m, q).
            float total = count + S;
            float delta = m - mean;
            float w = S / total;
            mean += delta * w;
            m2 += q + delta * delta * count * w;
            count = total;
        }
        int p = k * 2 * geo.Channels + c;
        partials[p] = mean;
        partials[p + geo.Channels] = m2;
    }

    /// <summary>Thread c merges the K slice moments of channel c in order and writes its mean and its
    /// biased variance M2 / (N·S).</summary>
    public static void ChannelMomentsCombine<TView>(Index1D c, ArrayView<float> meanView, ArrayView<float> varianceView, ArrayView<float> partialsView, ChannelGeometry geo)
        where TView : struct, IKernelView<TView>
    {
        var mean = TView.Of(meanView);
        var variance = TView.Of(varianceView);
        var partials = TView.Of(partialsView);
        float mu = 0f, m2 = 0f, count = 0f;
        for (int k = 0; k < geo.Slices; k++)
        {
            int first = k * geo.ItemsPerSlice;
            int last = first + geo.ItemsPerSlice;
            if (last > geo.Items)
                last = geo.Items;
            float cnt = (float)(last - first) * geo.Spatial;
            int p = k * 2 * geo.Channels + c;
            float m = partials[p];
            float q = partials[p + geo.Channels];
            float total = count + cnt;
            float delta = m - mu;
            float w = cnt / total;
            mu += delta * w;
            m2 += q + delta * delta * count * w;
            count = total;
        }
        mean[c] = mu;
        variance[c] = m2 / count;
    }
}

/// <summary>The cpu device's reduction kernels: every thread a whole range or a whole channel slice, on the host
/// launcher.</summary>
[AttentionWise.Backends.KernelFamily(AttentionWise.Backends.BackendFamily.Host)]
internal sealed class HostReductionKernelSet : IKernelSet<HostReductionKernelSet>
{
    private HostReductionKernelSet(KernelLoader loader)
    {
        SumBlocks = loader.Load<Index1D, ArrayView<float>, ArrayView<float>, int, int>(ReductionKernels.SumBlocks<HostView>);
        SumPartials = loader.Load<Index1D, ArrayView<float>, ArrayView<float>, int, float>(ReductionKernels.SumPartials<HostView>);
        ChannelSumsPartial = loader.Load<Index2D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ChannelGeometry, int>(
            ReductionKernels.ChannelSumsPartial<HostView>);
        ChannelSumsCombine = loader.Load<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ChannelGeometry, int, int>(
            ReductionKernels.ChannelSumsCombine<HostView>);
        ChannelMomentsPartial = loader.Load<Index2D, ArrayView<float>, ArrayView<float>, ChannelGeometry>(
            ReductionKernels.ChannelMomentsPartial<HostView>);
        ChannelMomentsCombine = loader.Load<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ChannelGeometry>(
            ReductionKernels.ChannelMomentsCombine<HostView>);
    }

    public Action<Index1D, ArrayView<float>, ArrayView<float>, int, int> SumBlocks { get; }
    public Action<Index1D, ArrayView<float>, ArrayView<float>, int, float> SumPartials { get; }
    public Action<Index2D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ChannelGeometry, int> ChannelSumsPartial { get; }
    public Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ChannelGeometry, int, int> ChannelSumsCombine { get; }
    public Action<Index2D, ArrayView<float>, ArrayView<float>, ChannelGeometry> ChannelMomentsPartial { get; }
    public Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ChannelGeometry> ChannelMomentsCombine { get; }

    public static HostReductionKernelSet Load(KernelLoader loader) => new(loader);
}
