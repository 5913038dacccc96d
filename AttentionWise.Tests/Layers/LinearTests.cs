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

    /// <summary>The dense op's epilogues, as the DIA unit uses them: y = ReLU(x·wᵀ + b), y += x·wᵀ + b, gx = gy·w
    /// through the ReLU's output, and the bias gradient beside the weight gradient.</summary>
    [Theory]
    [InlineData(5, 12, 7)]
    [InlineData(3, 601, 6)]
    [InlineData(200, 9, 3)]
    public void DenseOpEpiloguesMatchReference(int n, int inF, int outF)
    {
        var dense = Device.Backend.Dense;
        using var workspace = new AttentionWise.Ops.DenseWorkspace(Device);
        var x = Numerics.Uniform(70, n * inF);
        var w = Numerics.Uniform(71, outF * inF);
        var b = Numerics.Uniform(72, outF);
        var gy = Numerics.Uniform(73, n * outF);
        using var dx = Device.Upload(Shape.Of(n, inF), x);
        using var dw = Device.Upload(Shape.Of(outF, inF), w);
        using var db = Device.Upload(Shape.Of(outF), b);
        using var dgy = Device.Upload(Shape.Of(n, outF), gy);
        using var y = Device.Allocate(Shape.Of(n, outF));
        using var gx = Device.Allocate(Shape.Of(n, inF));
        using var gw = Device.Upload(Shape.Of(outF, inF), new float[outF * inF]);
        using var gb = Device.Upload(Shape.Of(outF), new float[outF]);
        double[] rx = Numerics.ToDouble(x), rw = Numerics.ToDouble(w);
        var affine = LinearReference.Forward(rx, rw, Numerics.ToDouble(b), n, inF, outF);
        double tol = 2e-6 * Math.Sqrt(inF) + 1e-6;

        dense.Forward(dx, dw, db, y, AttentionWise.Ops.DenseOutput.Relu, workspace);
        var relu = y.Download();
        Numerics.AssertClose(relu, Array.ConvertAll(affine, v => Math.Max(v, 0)), tol, tol, "dense forward with ReLU");
        dense.Forward(dx, dw, db, y, AttentionWise.Ops.DenseOutput.Accumulate, workspace);
        var expected = new double[affine.Length];
        for (int i = 0; i < affine.Length; i++)
            expected[i] = Math.Max(affine[i], 0) + affine[i];
        Numerics.AssertClose(y.Download(), expected, 2 * tol, tol, "dense forward accumulated");

        // Back through the ReLU: dx = gy·w where the ReLU's output (x·wᵀ + b here, as an input of the product's shape)
        // is positive.
        using var mask = Device.Upload(Shape.Of(n, inF), Numerics.Uniform(74, n * inF));
        var m = mask.Download();
        var (rgx, rgw, rgb) = LinearReference.Backward(rx, rw, Numerics.ToDouble(gy), n, inF, outF);
        dense.InputGradient(dgy, dw, gx, reluOutput: mask);
        var masked = new double[rgx.Length];
        for (int i = 0; i < rgx.Length; i++)
            masked[i] = m[i] > 0 ? rgx[i] : 0;
        Numerics.AssertClose(gx.Download(), masked, 1e-5, 1e-5, "dense input gradient through a ReLU");
        dense.WeightGradient(dx, dgy, gw, gb, workspace);
        dense.WeightGradient(dx, dgy, gw, gb, workspace);
        Numerics.AssertClose(gw.Download(), Array.ConvertAll(rgw, v => 2 * v), 1e-5, 1e-5, "dense weight gradient (accumulated twice)");
        Numerics.AssertClose(gb.Download(), Array.ConvertAll(rgb, v => 2 * v), 1e-5, 1e-5, "dense bias gradient (accumulated twice)");
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
