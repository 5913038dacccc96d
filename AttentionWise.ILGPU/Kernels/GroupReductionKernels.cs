// Reductions on GPU-shaped devices: explicitly grouped, each group a fixed tree in shared memory. The implicitly grouped
// kernels of ReductionKernels.cs (and the loss and head-batchnorm ones) give one thread a whole range or a whole channel,
// which on a GPU is a near-serial tail (one thread over every partial) and uncoalesced reads (neighbouring threads a
// range apart). Here the G threads of a group (G a power of two, from the device's limits) stride through the range
// together (neighbouring threads, neighbouring elements), then add their G sums in a tree whose shape depends on G
// only: results are deterministic for a given device and group size, with no atomics and no one-thread loop.
//
//   SumBlocksGroup         partials[b] = Σ x over block b (as ReductionKernels.SumBlocks); grid: blocks.
//   SumPartialsGroup       result[0] = scale · Σ partials (one group).
//   ChannelSumsGroup       partials[k, 0, c] = Σ a, partials[k, 1, c] = Σ a·(b − shift[c]) over slice k of channel c
//                          (the slice's items × positions flattened, so short rows still fill the group); grid (C, K).
//   ChannelSumsCombineGroup  sumA[c] (+)= Σ_k partials[k, 0, c] (and sumDot); grid C.
//   ChannelMomentsGroup    slice k of channel c: mean and M2, from sums shifted by the slice's first value (the shift is
//                          a sample of the channel, so the sums stay of the order of the spread); grid (C, K).
//   ChannelMomentsCombineGroup  mean[c], biased variance[c] from the slices, merged with Chan's formula in a tree.
//   LossResultGroup        result[0] = Σ perItem[0, ·] / N, result[1] = Σ perItem[1, ·] (one group).
//   HeadNormForwardMomentsGroup  the head batchnorm's per-channel statistics from each image's Σ R and M2 (the GPU
//                          heads' partial sums; see the kernel); grid Q.
//   HeadNormBackwardStatsGroup  the backward's per-channel means from the image blocks' partial sums (as
//                          HeadNormKernels.HeadNormBackwardStats); grid Q.
using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Runtime;

namespace AttentionWise.Kernels;

internal static class GroupReductionKernels
{
    /// <summary>Most threads of a reduction group (the shared arrays' length).</summary>
    public const int MaxThreads = 256;

    /// <summary>Adds the group's values of <paramref name="a"/> and <paramref name="b"/> in a tree (thread t takes t + s,
    /// s halving from G/2); every thread gets the two totals. Every thread of the group must call it.</summary>
    private static (float A, float B) TreeSum(ArrayView<float> sa, ArrayView<float> sb, float a, float b)
    {
        int t = Group.IdxX;
        sa[t] = a;
        sb[t] = b;
        Group.Barrier();
        for (int s = Group.DimX / 2; s > 0; s /= 2)
        {
            if (t < s)
            {
                sa[t] += sa[t + s];
                sb[t] += sb[t + s];
            }
            Group.Barrier();
        }
        var total = (sa[0], sb[0]);
        // Nobody may overwrite the shared arrays before every thread has read the totals.
        Group.Barrier();
        return total;
    }

    /// <summary>See the file header. Group G; grid: blocks.</summary>
    public static void SumBlocksGroup(ArrayView<float> partials, ArrayView<float> x, int blockLength, int length)
    {
        var sa = SharedMemory.Allocate<float>(MaxThreads);
        var sb = SharedMemory.Allocate<float>(MaxThreads);
        int start = Grid.IdxX * blockLength;
        int end = length - start < blockLength ? length : start + blockLength;
        float s0 = 0f, s1 = 0f;
        int step = Group.DimX;
        int e = start + Group.IdxX;
        for (; e + step < end; e += 2 * step)
        {
            s0 += x[e];
            s1 += x[e + step];
        }
        if (e < end)
            s0 += x[e];
        var (total, _) = TreeSum(sa, sb, s0 + s1, 0f);
        if (Group.IdxX == 0)
            partials[Grid.IdxX] = total;
    }

    /// <summary>See the file header. One group.</summary>
    public static void SumPartialsGroup(ArrayView<float> result, ArrayView<float> partials, int count, float scale)
    {
        var sa = SharedMemory.Allocate<float>(MaxThreads);
        var sb = SharedMemory.Allocate<float>(MaxThreads);
        float s = 0f;
        for (int b = Group.IdxX; b < count; b += Group.DimX)
            s += partials[b];
        var (total, _) = TreeSum(sa, sb, s, 0f);
        if (Group.IdxX == 0)
            result[0] = total * scale;
    }

    /// <summary>See the file header. Group G; grid (C, K). <paramref name="spatial"/> divides a slice's flat index.</summary>
    public static void ChannelSumsGroup(ArrayView<float> partials, ArrayView<float> a, ArrayView<float> b, ArrayView<float> shift,
        ChannelGeometry geo, FastDivisor spatial, int withDot)
    {
        var sa = SharedMemory.Allocate<float>(MaxThreads);
        var sb = SharedMemory.Allocate<float>(MaxThreads);
        int c = Grid.IdxX;
        int k = Grid.IdxY;
        int first = k * geo.ItemsPerSlice;
        int last = geo.Items - first < geo.ItemsPerSlice ? geo.Items : first + geo.ItemsPerSlice;
        int S = geo.Spatial;
        int count = (last - first) * S;
        int itemStride = geo.Channels * S;
        int origin = first * itemStride + c * S;
        float mu = withDot != 0 ? shift[c] : 0f;
        float s1 = 0f, s2 = 0f;
        for (int u = Group.IdxX; u < count; u += Group.DimX)
        {
            int n = spatial.Divide(u);
            int e = origin + n * itemStride + (u - n * S);
            float g = a[e];
            s1 += g;
            if (withDot != 0)
                s2 += g * (b[e] - mu);
        }
        var (t1, t2) = TreeSum(sa, sb, s1, s2);
        if (Group.IdxX == 0)
        {
            int p = k * 2 * geo.Channels + c;
            partials[p] = t1;
            partials[p + geo.Channels] = t2;
        }
    }

    /// <summary>See the file header. Group G; grid C.</summary>
    public static void ChannelSumsCombineGroup(ArrayView<float> sumA, ArrayView<float> sumDot, ArrayView<float> partials,
        ChannelGeometry geo, int withDot, int accumulate)
    {
        var sa = SharedMemory.Allocate<float>(MaxThreads);
        var sb = SharedMemory.Allocate<float>(MaxThreads);
        int c = Grid.IdxX;
        float s1 = 0f, s2 = 0f;
        for (int k = Group.IdxX; k < geo.Slices; k += Group.DimX)
        {
            int p = k * 2 * geo.Channels + c;
            s1 += partials[p];
            s2 += partials[p + geo.Channels];
        }
        var (t1, t2) = TreeSum(sa, sb, s1, s2);
        if (Group.IdxX == 0)
        {
            if (accumulate != 0)
            {
                sumA[c] += t1;
                if (withDot != 0)
                    sumDot[c] += t2;
            }
            else
            {
                sumA[c] = t1;
                if (withDot != 0)
                    sumDot[c] = t2;
            }
        }
    }

    /// <summary>See the file header. Group G; grid (C, K). Writes partials[k, 0, c] = mean, partials[k, 1, c] = M2 (as
    /// ReductionKernels.ChannelMomentsPartial).</summary>
    public static void ChannelMomentsGroup(ArrayView<float> partials, ArrayView<float> x, ChannelGeometry geo, FastDivisor spatial)
    {
        var sa = SharedMemory.Allocate<float>(MaxThreads);
        var sb = SharedMemory.Allocate<float>(MaxThreads);
        int c = Grid.IdxX;
        int k = Grid.IdxY;
        int first = k * geo.ItemsPerSlice;
        int last = geo.Items - first < geo.ItemsPerSlice ? geo.Items : first + geo.ItemsPerSlice;
        int S = geo.Spatial;
        int count = (last - first) * S;
        int itemStride = geo.Channels * S;
        int origin = first * itemStride + c * S;
        float shift = x[origin];
        float s1 = 0f, s2 = 0f;
        for (int u = Group.IdxX; u < count; u += Group.DimX)
        {
            int n = spatial.Divide(u);
            float d = x[origin + n * itemStride + (u - n * S)] - shift;
            s1 += d;
            s2 += d * d;
        }
        var (t1, t2) = TreeSum(sa, sb, s1, s2);
        if (Group.IdxX == 0)
        {
            float inv = 1f / count;
            float m2 = t2 - t1 * t1 * inv;
            int p = k * 2 * geo.Channels + c;
            partials[p] = shift + t1 * inv;
            partials[p + geo.Channels] = m2 < 0f ? 0f : m2;
        }
    }

    /// <summary>See the file header. Group G; grid C.</summary>
    public static void ChannelMomentsCombineGroup(ArrayView<float> mean, ArrayView<float> variance, ArrayView<float> partials, ChannelGeometry geo)
    {
        var sn = SharedMemory.Allocate<float>(MaxThreads);
        var sm = SharedMemory.Allocate<float>(MaxThreads);
        var sq = SharedMemory.Allocate<float>(MaxThreads);
        int c = Grid.IdxX;
        int t = Group.IdxX;
        var acc = new Moments(0f, 0f, 0f);
        for (int k = t; k < geo.Slices; k += Group.DimX)
        {
            int first = k * geo.ItemsPerSlice;
            int last = geo.Items - first < geo.ItemsPerSlice ? geo.Items : first + geo.ItemsPerSlice;
            int p = k * 2 * geo.Channels + c;
            acc = Merge(acc, (float)(last - first) * geo.Spatial, partials[p], partials[p + geo.Channels]);
        }
        sn[t] = acc.Count;
        sm[t] = acc.Mean;
        sq[t] = acc.M2;
        Group.Barrier();
        for (int s = Group.DimX / 2; s > 0; s /= 2)
        {
            if (t < s)
            {
                var merged = Merge(new Moments(sn[t], sm[t], sq[t]), sn[t + s], sm[t + s], sq[t + s]);
                sn[t] = merged.Count;
                sm[t] = merged.Mean;
                sq[t] = merged.M2;
            }
            Group.Barrier();
        }
        if (t == 0)
        {
            mean[c] = sm[0];
            variance[c] = sq[0] / sn[0];
        }
    }

    /// <summary>Chan's merge of two (count, mean, M2); an empty second one changes nothing.</summary>
    private static Moments Merge(Moments a, float n, float m, float q)
    {
        if (n == 0f)
            return a;
        float total = a.Count + n;
        float delta = m - a.Mean;
        float w = n / total;
        return new Moments(total, a.Mean + delta * w, a.M2 + q + delta * delta * a.Count * w);
    }

    private readonly struct Moments
    {
        public Moments(float count, float mean, float m2)
        {
            Count = count;
            Mean = mean;
            M2 = m2;
        }

        public readonly float Count;
        public readonly float Mean;
        public readonly float M2;
    }

    /// <summary>See the file header. One group.</summary>
    public static void LossResultGroup(ArrayView<float> result, ArrayView<float> perItem, int batch)
    {
        var sa = SharedMemory.Allocate<float>(MaxThreads);
        var sb = SharedMemory.Allocate<float>(MaxThreads);
        float loss = 0f, correct = 0f;
        for (int n = Group.IdxX; n < batch; n += Group.DimX)
        {
            loss += perItem[n];
            correct += perItem[batch + n];
        }
        var (l, r) = TreeSum(sa, sb, loss, correct);
        if (Group.IdxX == 0)
        {
            result[0] = l / batch;
            result[1] = r;
        }
    }

    /// <summary>The head batchnorm's statistics from each image's sum and M2 of R (GpuHeadPlaneKernels.SoftmaxPlanes,
    /// partial [Q, N, 2], H·W values an image): the mean from the sums' tree; then the variance from the images' M2 and
    /// their means' squared deviations from it, M2 = Σ_n (M2_n + HW·(S_n/HW − μ)²), a second tree: no E[R²] − E[R]².
    /// Finalised by <see cref="BatchNormStatistics"/>. Group G; grid Q.</summary>
    public static void HeadNormForwardMomentsGroup(ArrayView<float> aux, ArrayView<float> runningMean, ArrayView<float> runningVar,
        ArrayView<float> partial, HeadNormConfig cfg)
    {
        var sa = SharedMemory.Allocate<float>(MaxThreads);
        var sb = SharedMemory.Allocate<float>(MaxThreads);
        int q = Grid.IdxX;
        int p = q * cfg.Blocks * 2;
        float s1 = 0f;
        if (cfg.Training != 0)
        {
            for (int b = Group.IdxX; b < cfg.Blocks; b += Group.DimX)
                s1 += partial[p + 2 * b];
        }
        var (total, _) = TreeSum(sa, sb, s1, 0f);
        float mean = total / cfg.Count;
        float per = (float)cfg.Count / cfg.Blocks;
        float m2 = 0f;
        if (cfg.Training != 0)
        {
            for (int b = Group.IdxX; b < cfg.Blocks; b += Group.DimX)
            {
                float dev = partial[p + 2 * b] / per - mean;
                m2 += partial[p + 2 * b + 1] + per * dev * dev;
            }
        }
        var (sumM2, _) = TreeSum(sa, sb, m2, 0f);
        if (Group.IdxX == 0)
        {
            float batchMean = 0f, batchVariance = 0f, unbias = 1f;
            if (cfg.Training != 0)
            {
                batchMean = mean;
                batchVariance = sumM2 / cfg.Count;
                unbias = BatchNormStatistics.Unbias(cfg.Count);
            }
            var stats = BatchNormStatistics.Finalize(DeviceView.Of(runningMean), DeviceView.Of(runningVar), q, cfg.Training, batchMean, batchVariance, unbias,
                cfg.Momentum, cfg.Eps);
            aux[q] = stats.Mean;
            aux[cfg.Q + q] = stats.InvStd;
        }
    }

    /// <summary>See the file header (AttentionKernels.HeadNormBackwardStats). Group G; grid Q.</summary>
    public static void HeadNormBackwardStatsGroup(ArrayView<float> aux, ArrayView<float> partial, HeadNormConfig cfg)
    {
        var sa = SharedMemory.Allocate<float>(MaxThreads);
        var sb = SharedMemory.Allocate<float>(MaxThreads);
        int q = Grid.IdxX;
        float s1 = 0f, s2 = 0f;
        if (cfg.Training != 0)
        {
            int p = q * cfg.Blocks * 2;
            for (int b = Group.IdxX; b < cfg.Blocks; b += Group.DimX)
            {
                s1 += partial[p + 2 * b];
                s2 += partial[p + 2 * b + 1];
            }
        }
        var (t1, t2) = TreeSum(sa, sb, s1, s2);
        if (Group.IdxX == 0)
        {
            float inv = cfg.Training != 0 ? 1f / cfg.Count : 0f;
            aux[2 * cfg.Q + q] = t1 * inv;
            aux[3 * cfg.Q + q] = t2 * inv;
        }
    }
}

/// <summary>The group tree reductions of GPU-shaped devices (see the file header): the reductions' own, the loss result
/// and the head batchnorm's statistics. Every kernel runs 1-D groups of a power-of-two size, at most
/// <see cref="GroupReductionKernels.MaxThreads"/>: <see cref="GroupSize(ComputeDevice)"/> by default.</summary>
[AttentionWise.Backends.KernelFamily(AttentionWise.Backends.BackendFamily.Gpu)]
internal sealed class GpuReductionKernelSet : IKernelSet<GpuReductionKernelSet>
{
    private GpuReductionKernelSet(KernelLoader loader)
    {
        SumBlocksGroup = loader.LoadGrouped<ArrayView<float>, ArrayView<float>, int, int>(GroupReductionKernels.SumBlocksGroup);
        SumPartialsGroup = loader.LoadGrouped<ArrayView<float>, ArrayView<float>, int, float>(GroupReductionKernels.SumPartialsGroup);
        ChannelSumsGroup = loader.LoadGrouped<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ChannelGeometry, FastDivisor, int>(
            GroupReductionKernels.ChannelSumsGroup);
        ChannelSumsCombineGroup = loader.LoadGrouped<ArrayView<float>, ArrayView<float>, ArrayView<float>, ChannelGeometry, int, int>(
            GroupReductionKernels.ChannelSumsCombineGroup);
        ChannelMomentsGroup = loader.LoadGrouped<ArrayView<float>, ArrayView<float>, ChannelGeometry, FastDivisor>(GroupReductionKernels.ChannelMomentsGroup);
        ChannelMomentsCombineGroup = loader.LoadGrouped<ArrayView<float>, ArrayView<float>, ArrayView<float>, ChannelGeometry>(
            GroupReductionKernels.ChannelMomentsCombineGroup);
        LossResultGroup = loader.LoadGrouped<ArrayView<float>, ArrayView<float>, int>(GroupReductionKernels.LossResultGroup);
        HeadNormBackwardStatsGroup = loader.LoadGrouped<ArrayView<float>, ArrayView<float>, HeadNormConfig>(GroupReductionKernels.HeadNormBackwardStatsGroup);
        HeadNormForwardMomentsGroup = loader.LoadGrouped<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, HeadNormConfig>(
            GroupReductionKernels.HeadNormForwardMomentsGroup);
    }

    public Action<KernelConfig, ArrayView<float>, ArrayView<float>, int, int> SumBlocksGroup { get; }
    public Action<KernelConfig, ArrayView<float>, ArrayView<float>, int, float> SumPartialsGroup { get; }
    public Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ChannelGeometry, FastDivisor, int> ChannelSumsGroup { get; }
    public Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, ChannelGeometry, int, int> ChannelSumsCombineGroup { get; }
    public Action<KernelConfig, ArrayView<float>, ArrayView<float>, ChannelGeometry, FastDivisor> ChannelMomentsGroup { get; }
    public Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, ChannelGeometry> ChannelMomentsCombineGroup { get; }
    public Action<KernelConfig, ArrayView<float>, ArrayView<float>, int> LossResultGroup { get; }
    public Action<KernelConfig, ArrayView<float>, ArrayView<float>, HeadNormConfig> HeadNormBackwardStatsGroup { get; }
    public Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, HeadNormConfig> HeadNormForwardMomentsGroup { get; }

    /// <summary>The default threads of a group reduction on <paramref name="device"/>: the largest power of two within
    /// the device's group limit and <see cref="GroupReductionKernels.MaxThreads"/> (at least 2).</summary>
    public static int GroupSize(ComputeDevice device)
    {
        int limit = Math.Min(device.MaxGroupThreads, GroupReductionKernels.MaxThreads);
        int g = 2;
        while (2 * g <= limit)
            g *= 2;
        return g;
    }

    /// <summary>Throws unless <paramref name="groupSize"/> is a power of two from 2 to <paramref name="device"/>'s (and the
    /// kernels') limit.</summary>
    public static int CheckGroupSize(ComputeDevice device, int groupSize)
    {
        int limit = Math.Min(device.MaxGroupThreads, GroupReductionKernels.MaxThreads);
        if (groupSize < 2 || groupSize > limit || (groupSize & (groupSize - 1)) != 0)
            throw new ArgumentOutOfRangeException(nameof(groupSize), groupSize, $"A reduction group is a power of two from 2 to {limit} threads.");
        return groupSize;
    }

    public static GpuReductionKernelSet Load(KernelLoader loader) => new(loader);
}
