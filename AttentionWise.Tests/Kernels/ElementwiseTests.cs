using AttentionWise.Tests.Infrastructure;
using AttentionWise.Tests.Reference;

namespace AttentionWise.Tests.Kernels;

/// <summary>The generic element-wise kernel, per accelerator, against the float64 references.</summary>
public abstract class ElementwiseSuite : DeviceTest
{
    private const double Atol = 1e-6;
    private const double Rtol = 1e-6;

    public static TheoryData<int[]> Shapes => new()
    {
        new[] { 3, 5, 7 },
        new[] { 1 },
        new[] { 3, 3, 5, 7 },
        new[] { 2, 100, 17 },
    };

    [Theory]
    [MemberData(nameof(Shapes))]
    public void ReluMatchesReference(int[] dims)
    {
        var shape = Shape.Of(dims);
        var x = Numerics.Uniform(11, shape.Length);
        using var dx = Device.Upload(shape, x);
        using var dy = Device.Allocate(shape);
        Numerics.Poison(dy);
        Elementwise.Relu(dx, dy);
        Numerics.AssertClose(dy.Download(), ElementwiseReference.Relu(Numerics.ToDouble(x)), Atol, Rtol, "ReLU", shape);
    }

    [Theory]
    [MemberData(nameof(Shapes))]
    public void ReluBackwardMatchesReference(int[] dims)
    {
        var shape = Shape.Of(dims);
        var x = Numerics.UniformAwayFromZero(12, shape.Length);
        var g = Numerics.Uniform(13, shape.Length);
        using var dx = Device.Upload(shape, x);
        using var dy = Device.Allocate(shape);
        using var dg = Device.Upload(shape, g);
        using var dgx = Device.Allocate(shape);
        Elementwise.Relu(dx, dy);
        Numerics.Poison(dgx);
        Elementwise.ReluBackward(dg, dy, dgx);
        var expected = ElementwiseReference.ReluBackward(Numerics.ToDouble(x), Numerics.ToDouble(g));
        Numerics.AssertClose(dgx.Download(), expected, Atol, Rtol, "ReLU backward", shape);
    }

    [Fact]
    public void ReluKeepsNaNSoThatDivergenceIsSeen()
    {
        using var t = Device.Upload(Shape.Of(3), new[] { float.NaN, -1f, 2f });
        Elementwise.Relu(t, t);
        var r = t.Download();
        Assert.True(float.IsNaN(r[0]));
        Assert.Equal(new[] { 0f, 2f }, r[1..]);
    }

    [Fact]
    public void ReluKeepsNaNInEveryLaneOfAVector()
    {
        // 100 elements: whole vectors and a tail; NaN in the first lane, a middle lane and the tail.
        var x = Enumerable.Range(0, 100).Select(i => i % 2 == 0 ? -i - 1f : i).ToArray();
        foreach (int i in new[] { 0, 21, 99 })
            x[i] = float.NaN;
        using var t = Device.Upload(Shape.Of(100), x);
        Elementwise.Relu(t, t);
        var r = t.Download();
        for (int i = 0; i < 100; i++)
        {
            if (float.IsNaN(x[i]))
                Assert.True(float.IsNaN(r[i]), $"element {i}");
            else
                Assert.Equal(x[i] < 0 ? 0f : x[i], r[i]);
        }
    }

    [Theory]
    [MemberData(nameof(Shapes))]
    public void ArithmeticMatchesReference(int[] dims)
    {
        var shape = Shape.Of(dims);
        var a = Numerics.Uniform(21, shape.Length);
        var b = Numerics.Uniform(22, shape.Length);
        double[] ra = Numerics.ToDouble(a), rb = Numerics.ToDouble(b);
        using var da = Device.Upload(shape, a);
        using var db = Device.Upload(shape, b);
        using var dy = Device.Allocate(shape);

        Numerics.Poison(dy);
        Elementwise.Scale(da, -2.5f, dy);
        Numerics.AssertClose(dy.Download(), ElementwiseReference.Scale(ra, -2.5), Atol, Rtol, "Scale", shape);

        Numerics.Poison(dy);
        Elementwise.Add(da, db, dy);
        Numerics.AssertClose(dy.Download(), ElementwiseReference.Add(ra, rb), Atol, Rtol, "Add", shape);

        Numerics.Poison(dy);
        Elementwise.Multiply(da, db, dy);
        Numerics.AssertClose(dy.Download(), ElementwiseReference.Multiply(ra, rb), Atol, Rtol, "Multiply", shape);

        Numerics.Poison(dy);
        Elementwise.AddScaled(da, 0.75f, db, dy);
        Numerics.AssertClose(dy.Download(), ElementwiseReference.AddScaled(ra, 0.75, rb), Atol, Rtol, "AddScaled", shape);

        Elementwise.Fill(dy, 4.25f);
        Assert.All(dy.Download(), v => Assert.Equal(4.25f, v));
    }

    [Fact]
    public void AccumulatingInPlaceAddsEveryTime()
    {
        var shape = Shape.Of(3, 5, 7);
        var g = Numerics.Uniform(31, shape.Length);
        using var acc = Device.Zeros(shape);
        using var dg = Device.Upload(shape, g);
        Elementwise.AddScaled(acc, 1f, dg, acc);
        Elementwise.AddScaled(acc, 1f, dg, acc);
        Numerics.AssertClose(acc.Download(), ElementwiseReference.Scale(Numerics.ToDouble(g), 2), Atol, Rtol, "2 × g", shape);
    }

    [Fact]
    public void MismatchedShapesNameBothShapes()
    {
        using var a = Device.Zeros(Shape.Of(3, 5, 7));
        using var b = Device.Zeros(Shape.Of(3, 5, 8));
        var e = Assert.Throws<ShapeMismatchException>(() => Elementwise.Add(a, b, a));
        Assert.Contains("[3, 5, 7]", e.Message);
        Assert.Contains("[3, 5, 8]", e.Message);
    }
}

public sealed class ElementwiseCpuTests : ElementwiseSuite
{
    protected override DeviceKind Kind => DeviceKind.Cpu;
}

/// <summary>The cpu device's vectorised element-wise passes with Vector256 forced.</summary>
public sealed class ElementwiseCpuV256Tests : ElementwiseSuite
{
    protected override DeviceKind Kind => DeviceKind.Cpu;

    protected override AttentionWise.Host.SimdWidth? Simd => AttentionWise.Host.SimdWidth.V256;
}

/// <summary>The cpu device's vectorised element-wise passes with the scalar fallback forced.</summary>
public sealed class ElementwiseCpuScalarTests : ElementwiseSuite
{
    protected override DeviceKind Kind => DeviceKind.Cpu;

    protected override AttentionWise.Host.SimdWidth? Simd => AttentionWise.Host.SimdWidth.Scalar;
}

/// <summary>The cpu device with its host passes off: the element-wise kernels.</summary>
public sealed class ElementwiseCpuKernelTests : ElementwiseSuite
{
    protected override DeviceKind Kind => DeviceKind.Cpu;

    protected override bool HostPasses => false;
}

public sealed class ElementwiseCpuSimTests : ElementwiseSuite
{
    protected override DeviceKind Kind => DeviceKind.CpuSimulator;
}

public sealed class ElementwiseCudaTests : ElementwiseSuite
{
    protected override DeviceKind Kind => DeviceKind.Cuda;
}

public sealed class ElementwiseOpenCLTests : ElementwiseSuite
{
    protected override DeviceKind Kind => DeviceKind.OpenCL;
}
