using AttentionWise.Layers;
using AttentionWise.Tests.Infrastructure;
using AttentionWise.Tests.Reference;

namespace AttentionWise.Tests.Layers;

/// <summary>Linear on each accelerator against the float64 reference, including flattened NCHW inputs.</summary>
public abstract class LinearSuite : DeviceTest
{
    public static TheoryData<int[], int> Cases => new()
    {
        { new[] { 3, 7 }, 5 },
        { new[] { 3, 3, 5, 7 }, 10 },     // NCHW input, flattened
        { new[] { 4, 9 }, 1 },
        { new[] { 2, 130 }, 6 },          // a partial column chunk
        { new[] { 5, 2, 7, 7 }, 3 },
        { new[] { 70, 150 }, 11 },        // several row blocks and weight-column blocks of the cpu BLAS path
        { new[] { 200, 9 }, 3 },          // GPU-shaped devices: the weight gradient over 7 slices of the batch, the last short
        { new[] { 3, 601 }, 6 },          // GPU-shaped devices: the forward over 3 slices of the row (an odd last slice)
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void ForwardBackwardMatchReferenceAndAccumulate(int[] dims, int outF)
    {
        var inShape = Shape.Of(dims);
        int n = inShape.N, inF = inShape.ItemLength;
        using var linear = new Linear(Device, inF, outF);
        var x = Numerics.Uniform(60, inShape.Length);
        var w = Numerics.Uniform(61, outF * inF);
        var b = Numerics.Uniform(62, outF);
        var gy = Numerics.Uniform(63, n * outF);
        linear.Weight.Value.Upload(w);
        linear.Bias!.Value.Upload(b);
        linear.ZeroGrad();
        using var dx = Device.Upload(inShape, x);
        using var dgy = Device.Upload(Shape.Of(n, outF), gy);
        double[] rx = Numerics.ToDouble(x), rw = Numerics.ToDouble(w);

        var y = linear.Forward(dx);
        Numerics.Poison(y);
        y = linear.Forward(dx);
        Assert.Equal(Shape.Of(n, outF), y.Shape);
        double tol = 2e-6 * Math.Sqrt(inF) + 1e-6;
        Numerics.AssertClose(y.Download(), LinearReference.Forward(rx, rw, Numerics.ToDouble(b), n, inF, outF), tol, tol, "linear forward", y.Shape);

        var gx = linear.Backward(dgy)!;
        Numerics.Poison(gx);
        gx = linear.Backward(dgy)!;
        Assert.Equal(inShape, gx.Shape);
        var (rgx, rgw, rgb) = LinearReference.Backward(rx, rw, Numerics.ToDouble(gy), n, inF, outF);
        Numerics.AssertClose(gx.Download(), rgx, 1e-5, 1e-5, "linear input gradient", inShape);
        Numerics.AssertClose(linear.Weight.Gradient.Download(), Array.ConvertAll(rgw, v => 2 * v), 1e-5, 1e-5, "linear weight gradient (two backward calls)", linear.Weight.Shape);
        Numerics.AssertClose(linear.Bias.Gradient.Download(), Array.ConvertAll(rgb, v => 2 * v), 1e-5, 1e-5, "linear bias gradient (two backward calls)");
    }

    [Fact]
    public void WithoutBiasAndWithoutInputGradient()
    {
        using var linear = new Linear(Device, 6, 4, bias: false);
        Assert.Null(linear.Bias);
        Assert.Equal(24, linear.ParameterCount);
        var x = Numerics.Uniform(64, 3 * 6);
        var w = Numerics.Uniform(65, 24);
        linear.Weight.Value.Upload(w);
        using var dx = Device.Upload(Shape.Of(3, 6), x);
        var y = linear.Forward(dx);
        Numerics.AssertClose(y.Download(), LinearReference.Forward(Numerics.ToDouble(x), Numerics.ToDouble(w), null, 3, 6, 4), 1e-6, 1e-6, "linear forward without bias");
        linear.ComputeInputGradient = false;
        using var dgy = Device.Upload(Shape.Of(3, 4), Numerics.Uniform(66, 12));
        linear.ZeroGrad();
        Assert.Null(linear.Backward(dgy));
        Assert.Contains(linear.Weight.Gradient.Download(), v => v != 0f);
    }

    [Fact]
    public void WrongItemLengthNamesBothShapes()
    {
        using var linear = new Linear(Device, 12, 3);
        using var x = Device.Zeros(Shape.Of(2, 13));
        var e = Assert.Throws<ShapeMismatchException>(() => linear.Forward(x));
        Assert.Contains("[2, 13]", e.Message);
        Assert.Contains("[2, 12]", e.Message);
    }
}

public sealed class LinearCpuTests : LinearSuite
{
    protected override DeviceKind Kind => DeviceKind.Cpu;

    [Fact]
    public void TheCpuDeviceRunsLinearLayersWithItsBlas()
    {
        using var linear = new Linear(Device, 7, 3);
        Assert.Equal(AttentionWise.Host.Blas.Available, linear.RunsOnHost);
    }
}

/// <summary>The cpu device with its BLAS path turned off: the linear kernels.</summary>
public sealed class LinearCpuPlainKernelTests : LinearSuite
{
    protected override DeviceKind Kind => DeviceKind.Cpu;

    protected override bool HostPasses => false;
}

public sealed class LinearCpuSimTests : LinearSuite
{
    protected override DeviceKind Kind => DeviceKind.CpuSimulator;
}

public sealed class LinearCudaTests : LinearSuite
{
    protected override DeviceKind Kind => DeviceKind.Cuda;
}

public sealed class LinearOpenCLTests : LinearSuite
{
    protected override DeviceKind Kind => DeviceKind.OpenCL;
}
