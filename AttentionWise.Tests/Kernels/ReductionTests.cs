using AttentionWise.Backends;
using AttentionWise.Kernels;
using AttentionWise.Ops;
using AttentionWise.Tests.Infrastructure;

namespace AttentionWise.Tests.Kernels;

/// <summary>Whole-tensor and per-channel reductions on each accelerator against float64 sums.</summary>
public abstract class ReductionSuite : DeviceTest
{
    private IReductions? _op;

    /// <summary>The reductions op under test: the device's own, unless a test sets another variant.</summary>
    internal IReductions Op
    {
        get => _op ?? Device.Backend.Reductions;
        set => _op = value;
    }

    [Theory]
    [InlineData(1)]
    [InlineData(8191)]
    [InlineData(8193)]
    [InlineData(100_003)]
    public void SumAndMeanMatchFloat64(int length)
    {
        var x = Numerics.Uniform(130, length, 0f, 1f);
        using var t = Device.Upload(Shape.Of(length), x);
        double sum = x.Sum(v => (double)v);
        using var result = Device.Allocate(Shape.Of(2));
        Reductions.SumTo(Op, t, result, 0);
        Reductions.SumTo(Op, t, result, 1, 1f / length);
        var r = result.Download();
        Assert.Equal(sum, r[0], 1e-6 * length + 1e-6);
        Assert.Equal(sum / length, r[1], 1e-6);
        Reductions.SumTo(Op, t, result, 1);
        Assert.Equal(r[0], result.Download()[1]);
        if (_op is null)
        {
            Assert.Equal(r[0], Reductions.Sum(t));
            Assert.Equal(r[1], Reductions.Mean(t));
        }
    }

    public static TheoryData<int[]> ChannelShapes => new()
    {
        new[] { 3, 3, 5, 7 },
        new[] { 7, 10 },
        new[] { 90, 2, 17, 19 },   // several slices per channel
        new[] { 1, 4, 1, 1 },
    };

    [Theory]
    [MemberData(nameof(ChannelShapes))]
    public void ChannelSumsMatchFloat64(int[] dims)
    {
        var shape = Shape.Of(dims);
        int n = shape[0], c = shape[1], s = shape.ItemLength / c;
        var a = Numerics.Uniform(131, shape.Length);
        var b = Numerics.Uniform(132, shape.Length, 2f, 4f);
        var shift = Numerics.Uniform(133, c, 2f, 4f);
        double[] sa = new double[c], sd = new double[c], mean = new double[c], variance = new double[c];
        for (int i = 0; i < shape.Length; i++)
        {
            int ch = i / s % c;
            sa[ch] += a[i];
            sd[ch] += (double)a[i] * (b[i] - shift[ch]);
            mean[ch] += b[i];
        }
        for (int ch = 0; ch < c; ch++)
            mean[ch] /= n * s;
        for (int i = 0; i < shape.Length; i++)
        {
            int ch = i / s % c;
            variance[ch] += (b[i] - mean[ch]) * (b[i] - mean[ch]) / (n * s);
        }
        using var da = Device.Upload(shape, a);
        using var db = Device.Upload(shape, b);
        using var dshift = Device.Upload(Shape.Of(c), shift);
        using var r1 = Device.Allocate(Shape.Of(c));
        using var r2 = Device.Allocate(Shape.Of(c));
        using var work = Device.Allocate(Shape.Of(1));
        double tol = 1e-6 * Math.Sqrt(n * s) + 1e-6;

        Numerics.Poison(r1);
        ChannelReductions.Sum(Op, da, r1, accumulate: false, work);
        Numerics.AssertClose(r1.Download(), sa, tol, 1e-5, "per-channel sum");
        ChannelReductions.Sum(Op, da, r1, accumulate: true);
        Numerics.AssertClose(r1.Download(), Array.ConvertAll(sa, v => 2 * v), 2 * tol, 1e-5, "per-channel sum accumulated");

        Numerics.Poison(r1);
        Numerics.Poison(r2);
        ChannelReductions.SumAndCenteredDot(Op, da, db, dshift, r1, r2, accumulate: false, work);
        Numerics.AssertClose(r1.Download(), sa, tol, 1e-5, "per-channel sum (with dot)");
        Numerics.AssertClose(r2.Download(), sd, 3 * tol, 1e-5, "per-channel centred dot");

        Numerics.Poison(r1);
        Numerics.Poison(r2);
        ChannelReductions.MeanVariance(Op, db, r1, r2, work);
        Numerics.AssertClose(r1.Download(), mean, 1e-6, 1e-6, "per-channel mean");
        Numerics.AssertClose(r2.Download(), variance, 1e-6, 1e-5, "per-channel biased variance");
    }

    [Fact]
    public void VarianceOfALargeOffsetKeepsItsPrecision()
    {
        // Values 1000 + u with u in [−1, 1): a naive E[x²] − E[x]² in float32 would lose every digit.
        var shape = Shape.Of(64, 2, 16, 16);
        var x = Numerics.Uniform(140, shape.Length);
        for (int i = 0; i < x.Length; i++)
            x[i] += 1000f;
        var mean = new double[2];
        var variance = new double[2];
        for (int i = 0; i < x.Length; i++)
            mean[i / 256 % 2] += x[i] / (64.0 * 256);
        for (int i = 0; i < x.Length; i++)
            variance[i / 256 % 2] += (x[i] - mean[i / 256 % 2]) * (x[i] - mean[i / 256 % 2]) / (64.0 * 256);
        using var dx = Device.Upload(shape, x);
        using var m = Device.Allocate(Shape.Of(2));
        using var v = Device.Allocate(Shape.Of(2));
        ChannelReductions.MeanVariance(Op, dx, m, v);
        Numerics.AssertClose(v.Download(), variance, 1e-5, 1e-3, "variance around 1000");
        Numerics.AssertClose(m.Download(), mean, 1e-4, 1e-7, "mean around 1000");
    }
}

/// <summary>The group tree reductions of GPU-shaped devices (Kernels/GroupReductionKernels.cs) at every tree depth from
/// 2 threads to the device's group, each group size given to the op or the launch: whole-tensor sums, per-channel sums,
/// dots and moments, the loss result, and the head batchnorm statistics, against float64.</summary>
public abstract class ReductionGpuSuite : ReductionSuite
{
    [Theory]
    [InlineData(2)]
    [InlineData(4)]
    [InlineData(16)]
    public void EveryGroupSizeMatchesFloat64(int group)
    {
        var device = Device;
        Assert.SkipWhen(group > device.Accelerator.MaxNumThreadsPerGroup, $"The device has groups of at most {device.Accelerator.MaxNumThreadsPerGroup} threads.");
        var op = new GpuReductions(device, group);
        Assert.Equal(group, op.GroupSize);
        Op = op;
        SumAndMeanMatchFloat64(8193);
        SumAndMeanMatchFloat64(3);
        foreach (var dims in new[] { new[] { 90, 2, 17, 19 }, new[] { 7, 10 } })
            ChannelSumsMatchFloat64(dims);
        VarianceOfALargeOffsetKeepsItsPrecision();
        LossResultMatchesFloat64(group);
        HeadNormStatisticsMatchFloat64(group);
    }

    [Fact]
    public void TheDefaultGroupIsTheLargestPowerOfTwoTheDeviceAllows()
    {
        int g = GpuReductionKernelSet.GroupSize(Device);
        Assert.Equal(g, new GpuReductions(Device).GroupSize);
        Assert.True(g >= 2 && g <= GroupReductionKernels.MaxThreads && (g & (g - 1)) == 0);
        Assert.True(2 * g > Math.Min(Device.MaxGroupThreads, GroupReductionKernels.MaxThreads));
        Assert.Throws<ArgumentOutOfRangeException>(() => new GpuReductions(Device, 3));
        Assert.Throws<ArgumentOutOfRangeException>(() => new GpuReductions(Device, 1));
    }

    /// <summary>result = (Σ loss / N, Σ correct) over a batch longer than the group.</summary>
    private void LossResultMatchesFloat64(int group)
    {
        int n = 37;
        var perItem = Numerics.Uniform(150, 2 * n, 0f, 3f);
        using var dp = Device.Upload(Shape.Of(2 * n), perItem);
        using var result = Device.Allocate(Shape.Of(2));
        Device.Kernels<GpuReductionKernelSet>().LossResultGroup(new ILGPU.KernelConfig(1, group), result.View, dp.View, n);
        var r = result.Download();
        Assert.Equal(perItem.Take(n).Sum(v => (double)v) / n, r[0], 1e-5);
        Assert.Equal(perItem.Skip(n).Sum(v => (double)v), r[1], 1e-4);
    }

    /// <summary>The head batchnorm's statistics from per-image moments (HeadNormForwardMomentsGroup: each block's Σ and
    /// M2 about its own mean): mean, 1/√(var + eps), the running statistics' update (training); the backward means
    /// from per-block sums (HeadNormBackwardStatsGroup); then the evaluation pass from the running statistics. The values
    /// sit on a large offset (1000 + a spread of 1 to 3), where E[x²] − E[x]² in float32 would lose every digit.</summary>
    private void HeadNormStatisticsMatchFloat64(int group)
    {
        int q = 3, blocks = 5, count = 40;
        float momentum = 0.1f, eps = 1e-5f;
        var rng = new Random(151);
        var partial = new float[q * blocks * 2];
        var values = new List<double>[q];
        for (int c = 0; c < q; c++)
        {
            values[c] = new List<double>();
            for (int b = 0; b < blocks; b++)
            {
                // Per block: 8 values around 1000 with a spread, their sum and M2 about the block's mean.
                var block = new double[count / blocks];
                for (int e = 0; e < block.Length; e++)
                    block[e] = (float)(1000 + rng.NextDouble() * (c + 1));
                double s1 = block.Sum(), mean = s1 / block.Length;
                partial[(c * blocks + b) * 2] = (float)s1;
                partial[(c * blocks + b) * 2 + 1] = (float)block.Sum(x => (x - mean) * (x - mean));
                values[c].AddRange(block);
            }
        }
        var runMean = new float[] { 0.1f, -0.2f, 0.3f };
        var runVar = new float[] { 1f, 2f, 0.5f };
        using var dPartial = Device.Upload(Shape.Of(partial.Length), partial);
        using var dMean = Device.Upload(Shape.Of(q), runMean);
        using var dVar = Device.Upload(Shape.Of(q), runVar);
        using var aux = Device.Allocate(Shape.Of(4 * q));
        var k = Device.Kernels<GpuReductionKernelSet>();
        var config = new ILGPU.KernelConfig(q, group);
        k.HeadNormForwardMomentsGroup(config, aux.View, dMean.View, dVar.View, dPartial.View, new HeadNormConfig(q, blocks, count, momentum, eps, true));
        k.HeadNormBackwardStatsGroup(config, aux.View, dPartial.View, new HeadNormConfig(q, blocks, count, momentum, eps, true));
        var a = aux.Download();
        var m = dMean.Download();
        var v = dVar.Download();
        for (int c = 0; c < q; c++)
        {
            double mean = values[c].Average(), variance = values[c].Sum(x => (x - mean) * (x - mean)) / count;
            Assert.Equal(mean, a[c], 1e-3);
            Assert.Equal(1 / Math.Sqrt(variance + eps), a[q + c], 1e-3 / Math.Sqrt(variance + eps));
            double f0 = 0, f1 = 0;
            for (int b = 0; b < blocks; b++)
            {
                f0 += partial[(c * blocks + b) * 2];
                f1 += partial[(c * blocks + b) * 2 + 1];
            }
            Assert.Equal(f0 / count, a[2 * q + c], 1e-3);
            Assert.Equal(f1 / count, a[3 * q + c], 1e-4);
            Assert.Equal(0.9 * runMean[c] + 0.1 * mean, m[c], 1e-3);
            Assert.Equal(0.9 * runVar[c] + 0.1 * variance * count / (count - 1), v[c], 1e-3 * variance);
        }
        k.HeadNormForwardMomentsGroup(config, aux.View, dMean.View, dVar.View, dPartial.View, new HeadNormConfig(q, blocks, count, momentum, eps, false));
        a = aux.Download();
        for (int c = 0; c < q; c++)
        {
            Assert.Equal(m[c], a[c]);
            Assert.Equal(1 / Math.Sqrt(v[c] + eps), a[q + c], 1e-6);
        }
    }
}

public sealed class ReductionCpuTests : ReductionSuite
{
    protected override DeviceKind Kind => DeviceKind.Cpu;
}

public sealed class ReductionCpuSimTests : ReductionGpuSuite
{
    protected override DeviceKind Kind => DeviceKind.CpuSimulator;
}

public sealed class ReductionCudaTests : ReductionGpuSuite
{
    protected override DeviceKind Kind => DeviceKind.Cuda;
}

public sealed class ReductionOpenCLTests : ReductionGpuSuite
{
    protected override DeviceKind Kind => DeviceKind.OpenCL;
}
