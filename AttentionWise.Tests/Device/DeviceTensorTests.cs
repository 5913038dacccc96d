using AttentionWise.Tests.Infrastructure;

namespace AttentionWise.Tests.Device;

[Collection(AttentionWise.Tests.Infrastructure.SharedDevices.Name)]
public class DeviceTensorTests
{
    private static ComputeDevice Device => TestDevices.Cpu;

    [Fact]
    public void UploadThenDownloadRoundTrips()
    {
        var data = Numerics.Uniform(1, 3 * 5 * 7);
        using var t = Device.Upload(Shape.Of(3, 5, 7), data);
        Assert.Equal(data, t.Download());
        Assert.Equal(105, t.Length);
    }

    [Fact]
    public void ZeroClearsEveryElement()
    {
        using var t = Device.Upload(Shape.Of(3, 5), Numerics.Uniform(2, 15));
        t.Zero();
        Assert.All(t.Download(), v => Assert.Equal(0f, v));
    }

    [Fact]
    public void UploadOfTheWrongLengthNamesTheShape()
    {
        using var t = Device.Allocate(Shape.Of(3, 5));
        var e = Assert.Throws<ArgumentException>(() => t.Upload(new float[14]));
        Assert.Contains("[3, 5]", e.Message);
        Assert.Contains("14", e.Message);
    }

    [Fact]
    public void ReshapeKeepsDataAndRejectsADifferentLength()
    {
        var data = Numerics.Uniform(3, 12);
        using var t = Device.Upload(Shape.Of(3, 4), data);
        t.Reshape(Shape.Of(2, 6));
        Assert.Equal(Shape.Of(2, 6), t.Shape);
        Assert.Equal(data, t.Download());
        var e = Assert.Throws<ShapeMismatchException>(() => t.Reshape(Shape.Of(5, 5)));
        Assert.Contains("[2, 6]", e.Message);
        Assert.Contains("[5, 5]", e.Message);
    }

    [Fact]
    public void ResizeToASmallerBatchKeepsTheBuffer()
    {
        using var t = Device.Allocate(Shape.Of(8, 3, 5, 7));
        long capacity = t.Capacity;
        t.Resize(Shape.Of(3, 3, 5, 7));
        Assert.Equal(capacity, t.Capacity);
        Assert.Equal(3 * 105, t.View.Length);
        t.Resize(Shape.Of(9, 3, 5, 7));
        Assert.True(t.Capacity >= 9 * 105);
        Assert.Equal(9 * 105, t.View.Length);
    }

    [Fact]
    public void CopyFromCopiesAndChecksShapes()
    {
        var data = Numerics.Uniform(4, 35);
        using var a = Device.Upload(Shape.Of(5, 7), data);
        using var b = Device.Allocate(Shape.Of(5, 7));
        b.CopyFrom(a);
        Assert.Equal(data, b.Download());
        using var c = Device.Allocate(Shape.Of(7, 5));
        Assert.Throws<ShapeMismatchException>(() => c.CopyFrom(a));
    }

    [Fact]
    public void DeviceCountsAllocatedAndPeakBytes()
    {
        using var device = ComputeDevice.Open("cpu");
        Assert.Equal(0, device.AllocatedBytes);
        var a = device.Allocate(Shape.Of(1000));
        var b = device.Allocate(Shape.Of(500));
        Assert.Equal(6000, device.AllocatedBytes);
        a.Dispose();
        Assert.Equal(2000, device.AllocatedBytes);
        Assert.Equal(6000, device.PeakAllocatedBytes);
        device.ResetPeak();
        Assert.Equal(2000, device.PeakAllocatedBytes);
        b.Dispose();
        Assert.Equal(0, device.AllocatedBytes);
    }

    [Fact]
    public void ADisposedTensorRefusesWork()
    {
        var t = Device.Allocate(Shape.Of(4));
        t.Dispose();
        Assert.Throws<ObjectDisposedException>(() => t.Download());
        t.Dispose(); // twice is harmless
    }

    [Fact]
    public void IntTensorsRoundTripZeroAndResizeAsFloatTensorsDo()
    {
        int[] data = [0, -1, int.MaxValue, int.MinValue, (1 << 24) + 1, 7];
        using var t = DeviceIntTensor.Upload(Device, data);
        Assert.Equal(Shape.Of(6), t.Shape);
        Assert.Equal(data, t.Download());
        var e = Assert.Throws<ArgumentException>(() => t.Upload(new int[5]));
        Assert.Contains("[6]", e.Message);
        t.Zero();
        Assert.All(t.Download(), v => Assert.Equal(0, v));
        long capacity = t.Capacity;
        t.Resize(Shape.Of(2, 2));
        Assert.Equal(capacity, t.Capacity);
        Assert.Equal(4, t.View.Length);
        t.Resize(Shape.Of(9));
        Assert.True(t.Capacity >= 9);
        Assert.Equal(9, t.View.Length);
    }

    [Fact]
    public void IntTensorsAreCountedPoisonedAndRefuseWorkOnceDisposed()
    {
        using var device = ComputeDevice.Open("cpu", new DeviceOptions(PoisonNewBuffers: true));
        var t = new DeviceIntTensor(device, Shape.Of(250));
        Assert.Equal(1000, device.AllocatedBytes);
        Assert.All(t.Download(), v => Assert.Equal(-1, v));
        t.Dispose();
        Assert.Equal(0, device.AllocatedBytes);
        Assert.Throws<ObjectDisposedException>(() => t.Download());
        t.Dispose();
    }

    [Fact]
    public void ShapesDescribeThemselves()
    {
        var s = Shape.Of(4, 3, 28, 28);
        Assert.Equal((4, 3, 28, 28), (s.N, s.C, s.H, s.W));
        Assert.Equal(3 * 28 * 28, s.ItemLength);
        Assert.Equal(Shape.Of(2, 3, 28, 28), s.WithBatch(2));
        Assert.Throws<ArgumentOutOfRangeException>(() => Shape.Of(3, -1));
        Assert.Throws<InvalidOperationException>(() => Shape.Of(3, 4).C);
    }
}
