using AttentionWise.Layers;
using AttentionWise.Tests.Infrastructure;
using AttentionWise.Tests.Reference;

namespace AttentionWise.Tests.Layers;

/// <summary>BatchNorm2d on each accelerator against the float64 reference: training and evaluation, affine on
/// and off, running statistics, accumulation, poisoned outputs, and a few channels over many elements.</summary>
public abstract class BatchNorm2dSuite : DeviceTest
{
    private const double Eps = 1e-5;

    public static TheoryData<int[], bool> Cases => new()
    {
        { new[] { 3, 3, 5, 7 }, true },
        { new[] { 3, 3, 5, 7 }, false },
        { new[] { 2, 5, 1, 1 }, true },             // one value per item
        { new[] { 150, 2, 16, 17 }, true },         // few channels, many slices
        { new[] { 40, 3, 21, 23 }, false },
    };

    private static (double[] Gamma, double[] Beta) Affine(BatchNorm2d bn, int seed)
    {
        var g = Numerics.Uniform(seed, bn.Channels, 0.5f, 1.5f);
        var b = Numerics.Uniform(seed + 1, bn.Channels);
        bn.Weight!.Value.Upload(g);
        bn.Bias!.Value.Upload(b);
        return (Numerics.ToDouble(g), Numerics.ToDouble(b));
    }

    /// <summary>Inputs with a channel-dependent offset and scale, so the statistics are not trivial.</summary>
    private static float[] Input(int seed, Shape shape)
    {
        var x = Numerics.Uniform(seed, shape.Length);
        int s = shape.H * shape.W;
        for (int i = 0; i < x.Length; i++)
        {
            int c = i / s % shape.C;
            x[i] = 3f + c + (1f + 0.5f * c) * x[i];
        }
        return x;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void TrainingForwardAndBackwardMatchReference(int[] dims, bool affine)
    {
        var shape = Shape.Of(dims);
        int n = shape.N, c = shape.C, s = shape.H * shape.W;
        using var bn = new BatchNorm2d(Device, c, affine);
        double[]? gamma = null, beta = null;
        if (affine)
            (gamma, beta) = Affine(bn, 30);
        bn.ZeroGrad();
        var x = Input(31, shape);
        var gy = Numerics.Uniform(32, shape.Length);
        using var dx = Device.Upload(shape, x);
        using var dgy = Device.Upload(shape, gy);
        double[] rx = Numerics.ToDouble(x), rgy = Numerics.ToDouble(gy);

        var y = bn.Forward(dx);
        Numerics.Poison(y);
        y = bn.Forward(dx);
        var (ry, _, _) = BatchNorm2dReference.ForwardTrain(rx, n, c, s, gamma, beta, Eps);
        // Normalised values are O(1): float32 statistics over up to 40 K values are good to ~1e-5.
        Numerics.AssertClose(y.Download(), ry, 2e-5, 2e-5, "batchnorm forward (training)", shape);

        var gx = bn.Backward(dgy)!;
        Numerics.Poison(gx);
        gx = bn.Backward(dgy)!;
        var (rgx, rgg, rgb) = BatchNorm2dReference.BackwardTrain(rx, rgy, n, c, s, gamma, Eps);
        Numerics.AssertClose(gx.Download(), rgx, 2e-5, 1e-4, "batchnorm input gradient (training)", shape);
        if (affine)
        {
            double tol = 2e-6 * Math.Sqrt(n * s);
            Numerics.AssertClose(bn.Weight!.Gradient.Download(), Array.ConvertAll(rgg, v => 2 * v), tol, 1e-5, "batchnorm weight gradient (two backward calls)");
            Numerics.AssertClose(bn.Bias!.Gradient.Download(), Array.ConvertAll(rgb, v => 2 * v), tol, 1e-5, "batchnorm bias gradient (two backward calls)");
        }
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void RunningStatisticsFollowPyTorchAndEvalModeUsesThem(bool affine)
    {
        var shape = Shape.Of(3, 3, 5, 7);
        int n = shape.N, c = shape.C, s = shape.H * shape.W;
        using var bn = new BatchNorm2d(Device, c, affine, momentum: 0.1f);
        double[]? gamma = null, beta = null;
        if (affine)
            (gamma, beta) = Affine(bn, 40);
        var runMean = new double[c];
        var runVar = Enumerable.Repeat(1.0, c).ToArray();
        Assert.All(bn.RunningMean.Download(), v => Assert.Equal(0f, v));
        Assert.All(bn.RunningVar.Download(), v => Assert.Equal(1f, v));
        using var dx = Device.Allocate(shape);
        for (int step = 0; step < 4; step++)
        {
            var x = Input(41 + step, shape);
            dx.Upload(x);
            bn.Forward(dx);
            var (_, mean, variance) = BatchNorm2dReference.ForwardTrain(Numerics.ToDouble(x), n, c, s, null, null, Eps);
            BatchNorm2dReference.UpdateRunning(runMean, runVar, mean, variance, n * s, 0.1);
        }
        Numerics.AssertClose(bn.RunningMean.Download(), runMean, 1e-5, 1e-5, "running mean after 4 steps");
        Numerics.AssertClose(bn.RunningVar.Download(), runVar, 1e-5, 1e-5, "running variance (unbiased) after 4 steps");

        bn.Eval();
        bn.ZeroGrad();
        var xe = Input(50, shape);
        var gy = Numerics.Uniform(51, shape.Length);
        dx.Upload(xe);
        using var dgy = Device.Upload(shape, gy);
        var y = bn.Forward(dx);
        Numerics.AssertClose(y.Download(), BatchNorm2dReference.Normalize(Numerics.ToDouble(xe), n, c, s, runMean, runVar, gamma, beta, Eps), 1e-5, 1e-5, "batchnorm forward (eval)", shape);
        Numerics.AssertClose(bn.RunningMean.Download(), runMean, 1e-5, 1e-5, "running mean unchanged in eval");
        var gx = bn.Backward(dgy)!;
        var (rgx, rgg, rgb) = BatchNorm2dReference.BackwardEval(Numerics.ToDouble(xe), Numerics.ToDouble(gy), n, c, s, runMean, runVar, gamma, Eps);
        Numerics.AssertClose(gx.Download(), rgx, 1e-5, 1e-5, "batchnorm input gradient (eval)", shape);
        if (affine)
        {
            Numerics.AssertClose(bn.Weight!.Gradient.Download(), rgg, 1e-4, 1e-5, "batchnorm weight gradient (eval)");
            Numerics.AssertClose(bn.Bias!.Gradient.Download(), rgb, 1e-4, 1e-5, "batchnorm bias gradient (eval)");
        }
    }

    [Fact]
    public void NamesInitialValuesAndAffineOff()
    {
        using var bn = new BatchNorm2d(Device, 4);
        Assert.Equal(new[] { "weight", "bias" }, bn.NamedParameters().Select(p => p.Name));
        Assert.Equal(new[] { "running_mean", "running_var" }, bn.NamedBuffers().Select(b => b.Name));
        Assert.Equal(ParameterInit.Ones, bn.Weight!.Init);
        Assert.Equal(ParameterInit.Zeros, bn.Bias!.Init);
        Assert.All(bn.Weight.Value.Download(), v => Assert.Equal(1f, v));
        Assert.All(bn.Bias.Value.Download(), v => Assert.Equal(0f, v));
        using var plain = new BatchNorm2d(Device, 4, affine: false);
        Assert.Null(plain.Weight);
        Assert.Null(plain.Bias);
        Assert.Equal(0, plain.ParameterCount);
        Assert.Equal(2, plain.NamedBuffers().Count());
    }

    [Fact]
    public void TrainingOnASingleValuePerChannelIsAnError()
    {
        using var bn = new BatchNorm2d(Device, 3);
        using var x = Device.Upload(Shape.Of(1, 3, 1, 1), new[] { 1f, 2f, 3f });
        Assert.Throws<ArgumentException>(() => bn.Forward(x));
        bn.Eval();
        Assert.Equal(Shape.Of(1, 3, 1, 1), bn.Forward(x).Shape);
    }
}

public sealed class BatchNorm2dCpuTests : BatchNorm2dSuite
{
    protected override DeviceKind Kind => DeviceKind.Cpu;
}

public sealed class BatchNorm2dCpuSimTests : BatchNorm2dSuite
{
    protected override DeviceKind Kind => DeviceKind.CpuSimulator;
}

public sealed class BatchNorm2dCudaTests : BatchNorm2dSuite
{
    protected override DeviceKind Kind => DeviceKind.Cuda;
}

public sealed class BatchNorm2dOpenCLTests : BatchNorm2dSuite
{
    protected override DeviceKind Kind => DeviceKind.OpenCL;
}
