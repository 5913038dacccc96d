using AttentionWise.Tests.Infrastructure;

namespace AttentionWise.Tests.Kernels;

/// <summary>Whole-tensor and per-channel reductions on each accelerator against float64 sums.</summary>
public abstract class ReductionSuite : DeviceTest
{
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
        Assert.Equal(sum, Reductions.Sum(t), 1e-6 * length + 1e-6);
        Assert.Equal(sum / length, Reductions.Mean(t), 1e-6);
        Assert.Equal(Reductions.Sum(t), Reductions.Sum(t));
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
        ChannelReductions.Sum(da, r1, accumulate: false, work);
        Numerics.AssertClose(r1.Download(), sa, tol, 1e-5, "per-channel sum");
        ChannelReductions.Sum(da, r1, accumulate: true);
        Numerics.AssertClose(r1.Download(), Array.ConvertAll(sa, v => 2 * v), 2 * tol, 1e-5, "per-channel sum accumulated");

        Numerics.Poison(r1);
        Numerics.Poison(r2);
        ChannelReductions.SumAndCenteredDot(da, db, dshift, r1, r2, accumulate: false, work);
        Numerics.AssertClose(r1.Download(), sa, tol, 1e-5, "per-channel sum (with dot)");
        Numerics.AssertClose(r2.Download(), sd, 3 * tol, 1e-5, "per-channel centred dot");

        Numerics.Poison(r1);
        Numerics.Poison(r2);
        ChannelReductions.MeanVariance(db, r1, r2, work);
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
        ChannelReductions.MeanVariance(dx, m, v);
        Numerics.AssertClose(v.Download(), variance, 1e-5, 1e-3, "variance around 1000");
        Numerics.AssertClose(m.Download(), mean, 1e-4, 1e-7, "mean around 1000");
    }
}

/// <summary>The group tree reductions of GPU-shaped devices (Kernels/GroupReductionKernels.cs) at every tree depth from
/// 2 threads to the device's group: whole-tensor sums, per-channel sums, dots and moments, the loss result, and the head
/// batchnorm statistics through the attention heads' forward and backward.</summary>
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
        try
        {
            AttentionWise.Kernels.ReductionKernelSet.ForcedGroupSize = group;
            Assert.Equal(group, AttentionWise.Kernels.ReductionKernelSet.GroupSize(device));
            SumAndMeanMatchFloat64(8193);
            SumAndMeanMatchFloat64(3);
            foreach (var dims in new[] { new[] { 90, 2, 17, 19 }, new[] { 7, 10 } })
                ChannelSumsMatchFloat64(dims);
            VarianceOfALargeOffsetKeepsItsPrecision();

            // The loss result: mean NLL and correct count over a batch longer than the group.
            using var loss = new AttentionWise.Layers.LogSoftmaxNllLoss(device);
            int n = 37, k = 10;
            var logits = Numerics.Uniform(150, n * k, -2f, 2f);
            var labels = Enumerable.Range(0, n).Select(i => i * 7 % k).ToArray();
            using var dl = device.Upload(Shape.Of(n, k), logits);
            using var dy = DeviceIntTensor.Upload(device, labels);
            loss.Forward(dl, dy);
            var (mean, correct) = loss.Result();
            var want = AttentionWise.Tests.Reference.LossReference.Forward(Numerics.ToDouble(logits), labels, n, k);
            Assert.Equal(want.Loss, mean, 1e-5);
            Assert.Equal(want.Correct, correct);
        }
        finally
        {
            AttentionWise.Kernels.ReductionKernelSet.ForcedGroupSize = null;
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
