using AttentionWise.Tests.Infrastructure;

namespace AttentionWise.Tests.Kernels;

/// <summary>The row gather kernel, per accelerator, against a host loop.</summary>
public abstract class GatherSuite : DeviceTest
{
    [Theory]
    [InlineData(11, 3, 5, 7, 0, 4)]
    [InlineData(11, 3, 5, 7, 6, 5)]
    [InlineData(9, 1, 1, 1, 2, 7)]
    [InlineData(40, 1, 28, 28, 3, 33)]
    public void GathersTheNamedRows(int rows, int c, int h, int w, int start, int count)
    {
        var source = Numerics.Uniform(31, rows * c * h * w);
        var rng = new AttentionWise.Layers.Rng(5);
        var order = Enumerable.Range(0, rows).ToArray();
        rng.Shuffle(order);
        // Longer than needed, with repeats, so that start and count matter.
        var indices = order.Concat(order).Concat(order).Concat(order).Take(start + count + 3).Select(i => (float)i).ToArray();
        using var dsource = Device.Upload(Shape.Of(rows, c, h, w), source);
        using var dindices = Device.Upload(Shape.Of(indices.Length), indices);
        using var dy = Device.Allocate(Shape.Of(count, c, h, w));
        Numerics.Poison(dy);
        Gather.Rows(dsource, dindices, start, dy);
        int item = c * h * w;
        var expected = new float[count * item];
        for (int r = 0; r < count; r++)
            Array.Copy(source, (int)indices[start + r] * item, expected, r * item, item);
        Assert.Equal(expected, dy.Download());
    }

    [Fact]
    public void RejectsShapesAndRangesThatDoNotFit()
    {
        using var source = Device.Upload(Shape.Of(4, 3), Numerics.Uniform(1, 12));
        using var indices = Device.Upload(Shape.Of(4), [3f, 2f, 1f, 0f]);
        using var wrong = Device.Allocate(Shape.Of(2, 4));
        var e = Assert.Throws<ShapeMismatchException>(() => Gather.Rows(source, indices, 0, wrong));
        Assert.Contains("[2, 3]", e.Message);
        using var y = Device.Allocate(Shape.Of(2, 3));
        Assert.Throws<ArgumentOutOfRangeException>(() => Gather.Rows(source, indices, 3, y));
    }
}

public sealed class GatherCpuTests : GatherSuite
{
    protected override DeviceKind Kind => DeviceKind.Cpu;
}

public sealed class GatherCpuSimTests : GatherSuite
{
    protected override DeviceKind Kind => DeviceKind.CpuSimulator;
}

public sealed class GatherCudaTests : GatherSuite
{
    protected override DeviceKind Kind => DeviceKind.Cuda;
}

public sealed class GatherOpenCLTests : GatherSuite
{
    protected override DeviceKind Kind => DeviceKind.OpenCL;
}
