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
        var indices = Indices(rows, start + count + 3);
        using var dsource = Device.Upload(Shape.Of(rows, c, h, w), source);
        using var dindices = DeviceIntTensor.Upload(Device, indices);
        using var dy = Device.Allocate(Shape.Of(count, c, h, w));
        Numerics.Poison(dy);
        Gather.Rows(dsource, dindices, start, dy);
        int item = c * h * w;
        var expected = new float[count * item];
        for (int r = 0; r < count; r++)
            Array.Copy(source, indices[start + r] * item, expected, r * item, item);
        Assert.Equal(expected, dy.Download());
    }

    [Theory]
    [InlineData(11, 1, 0, 4)]
    [InlineData(40, 1, 3, 33)]
    [InlineData(9, 3, 2, 7)]
    public void GathersTheNamedIntegerRows(int rows, int item, int start, int count)
    {
        var rng = new Random(32);
        var source = Enumerable.Range(0, rows * item).Select(_ => rng.Next(int.MinValue, int.MaxValue)).ToArray();
        var indices = Indices(rows, start + count + 3);
        using var dsource = new DeviceIntTensor(Device, Shape.Of(rows, item));
        dsource.Upload(source);
        using var dindices = DeviceIntTensor.Upload(Device, indices);
        using var dy = new DeviceIntTensor(Device, Shape.Of(count, item));
        Gather.Rows(dsource, dindices, start, dy);
        var expected = new int[count * item];
        for (int r = 0; r < count; r++)
            Array.Copy(source, indices[start + r] * item, expected, r * item, item);
        Assert.Equal(expected, dy.Download());
    }

    /// <summary>Row numbers past 2²⁴, which a float index would round: a gather of one-element rows out of 2²⁴ + 8 rows
    /// (64 MiB) names rows 2²⁴ + 1, 2²⁴ + 3, …, each read exactly.</summary>
    [Fact]
    public void RowNumbersPastTwoToTheTwentyFourAreExact()
    {
        const int rows = (1 << 24) + 8;
        var source = new int[rows];
        for (int i = 0; i < rows; i++)
            source[i] = i;
        int[] indices = [(1 << 24) + 1, (1 << 24) + 3, (1 << 24) + 5, (1 << 24) + 7, 1];
        using var dsource = DeviceIntTensor.Upload(Device, source);
        using var dindices = DeviceIntTensor.Upload(Device, indices);
        using var dy = new DeviceIntTensor(Device, Shape.Of(indices.Length));
        Gather.Rows(dsource, dindices, 0, dy);
        Assert.Equal(indices, dy.Download());
    }

    [Fact]
    public void RejectsShapesAndRangesThatDoNotFit()
    {
        using var source = Device.Upload(Shape.Of(4, 3), Numerics.Uniform(1, 12));
        using var indices = DeviceIntTensor.Upload(Device, [3, 2, 1, 0]);
        using var wrong = Device.Allocate(Shape.Of(2, 4));
        var e = Assert.Throws<ShapeMismatchException>(() => Gather.Rows(source, indices, 0, wrong));
        Assert.Contains("[2, 3]", e.Message);
        using var y = Device.Allocate(Shape.Of(2, 3));
        Assert.Throws<ArgumentOutOfRangeException>(() => Gather.Rows(source, indices, 3, y));
        using var labels = DeviceIntTensor.Upload(Device, [7, 8, 9, 6]);
        using var wrongLabels = new DeviceIntTensor(Device, Shape.Of(2, 2));
        Assert.Throws<ShapeMismatchException>(() => Gather.Rows(labels, indices, 0, wrongLabels));
    }

    /// <summary>A shuffled order of the rows repeated past <paramref name="length"/>, cut there (repeats, so that start and
    /// count matter).</summary>
    private static int[] Indices(int rows, int length)
    {
        var order = Enumerable.Range(0, rows).ToArray();
        new AttentionWise.Layers.Rng(5).Shuffle(order);
        return Enumerable.Repeat(order, length / rows + 1).SelectMany(o => o).Take(length).ToArray();
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
