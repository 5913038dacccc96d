using ILGPU;
using ILGPU.Runtime;
using ILGPU.Runtime.CPU;

namespace AttentionWise.Tests.Compat;

/// <summary>The compatibility layer's executor, atomics and checks. Compiled only when it is the ILGPU in use.</summary>
public sealed class CompatExecutorTests : IDisposable
{
    private readonly Context _context = Context.Create(b => b.Default().EnableAlgorithms());
    private readonly Accelerator _accelerator;

    public CompatExecutorTests() => _accelerator = _context.GetPreferredDevice(preferCPU: true).CreateAccelerator(_context);

    public void Dispose()
    {
        _accelerator.Dispose();
        _context.Dispose();
    }

    private static void Mark1D(Index1D index, ArrayView<int> counts) => Atomic.Add(ref counts[index], 1);

    private static void Mark2D(Index2D index, ArrayView<int> counts, int width) =>
        Atomic.Add(ref counts[index.X + index.Y * width], 1);

    private static void Mark3D(Index3D index, ArrayView<int> counts, int width, int height) =>
        Atomic.Add(ref counts[index.X + width * (index.Y + height * index.Z)], 1);

    private static void AddOne(Index1D index, ArrayView<float> sums, ArrayView<int> intSums)
    {
        int slot = index % 3;
        Atomic.Add(ref sums[slot], 1f);
        Atomic.Add(ref intSums[slot], 1);
    }

    private static void WriteBeyond(Index1D index, ArrayView<float> data)
    {
        int i = index;
        data[i + 1] = 1f;
    }

    private static void RecordThread(Index1D index, ArrayView<int> ids)
    {
        // Enough work per index (about 1 ms) that the launch cannot finish on one thread before the others start,
        // even though this code is optimised (the whole launch takes about 0.1 s on 2 cores).
        double x = index;
        for (int k = 0; k < 250_000; k++)
            x = Math.Sqrt(x + k);
        ids[index] = Environment.CurrentManagedThreadId + (x < 0 ? 1 : 0);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(7)]
    [InlineData(100_003)]
    public void Every1DIndexIsVisitedOnce(int n)
    {
        var kernel = _accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<int>>(Mark1D);
        using var counts = _accelerator.Allocate1D<int>(n);
        counts.MemSetToZero();
        kernel(n, counts.View);
        _accelerator.Synchronize();
        Assert.All(counts.GetAsArray1D(), c => Assert.Equal(1, c));
    }

    [Theory]
    [InlineData(1, 1)]
    [InlineData(37, 29)]
    [InlineData(3, 1001)]
    public void Every2DIndexIsVisitedOnce(int x, int y)
    {
        var kernel = _accelerator.LoadAutoGroupedStreamKernel<Index2D, ArrayView<int>, int>(Mark2D);
        using var counts = _accelerator.Allocate1D<int>(x * y);
        counts.MemSetToZero();
        kernel(new Index2D(x, y), counts.View, x);
        Assert.All(counts.GetAsArray1D(), c => Assert.Equal(1, c));
    }

    [Theory]
    [InlineData(1, 1, 1)]
    [InlineData(7, 11, 13)]
    [InlineData(5, 3, 997)]
    public void Every3DIndexIsVisitedOnce(int x, int y, int z)
    {
        var kernel = _accelerator.LoadAutoGroupedStreamKernel<Index3D, ArrayView<int>, int, int>(Mark3D);
        using var counts = _accelerator.Allocate1D<int>(x * y * z);
        counts.MemSetToZero();
        kernel(new Index3D(x, y, z), counts.View, x, y);
        Assert.All(counts.GetAsArray1D(), c => Assert.Equal(1, c));
    }

    [Fact]
    public void AnEmptyExtentRunsNothing()
    {
        var kernel = _accelerator.LoadAutoGroupedStreamKernel<Index2D, ArrayView<int>, int>(Mark2D);
        using var counts = _accelerator.Allocate1D<int>(4);
        counts.MemSetToZero();
        kernel(new Index2D(0, 4), counts.View, 0);
        Assert.All(counts.GetAsArray1D(), c => Assert.Equal(0, c));
    }

    [Fact]
    public void AMillionConcurrentAtomicAddsLoseNothing()
    {
        const int n = 1_000_000;
        var kernel = _accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<int>>(AddOne);
        using var sums = _accelerator.Allocate1D<float>(3);
        using var intSums = _accelerator.Allocate1D<int>(3);
        sums.MemSetToZero();
        intSums.MemSetToZero();
        kernel(n, sums.View, intSums.View);
        // Each slot gets n/3 (+1) ones; floats hold these integers exactly.
        int[] expected = { 333_334, 333_333, 333_333 };
        Assert.Equal(expected.Select(e => (float)e), sums.GetAsArray1D());
        Assert.Equal(expected, intSums.GetAsArray1D());
    }

    [Fact]
    public void AtomicAddReturnsTheOldValue()
    {
        float f = 1.5f;
        int i = 4;
        Assert.Equal(1.5f, Atomic.Add(ref f, 2f));
        Assert.Equal(3.5f, f);
        Assert.Equal(4, Atomic.Add(ref i, 3));
        Assert.Equal(7, i);
        float nan = float.NaN;
        Assert.True(float.IsNaN(Atomic.Add(ref nan, 1f)));
    }

    [Fact]
    public void OutOfRangeAccessInsideAKernelThrowsAClearException()
    {
        var kernel = _accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>>(WriteBeyond);
        using var data = _accelerator.Allocate1D<float>(10);
        var e = Assert.Throws<IndexOutOfRangeException>(() => kernel(10, data.View));
        Assert.Contains("Index 10", e.Message);
        Assert.Contains("length 10", e.Message);
    }

    [Fact]
    public void OutOfRangeAccessOnTheHostThrows()
    {
        using var data = _accelerator.Allocate1D<float>(5);
        ArrayView<float> view = data.View;
        Assert.Throws<IndexOutOfRangeException>(() => view[5]);
        Assert.Throws<IndexOutOfRangeException>(() => view[-1]);
        Assert.Throws<IndexOutOfRangeException>(() => view.SubView(1, 3)[3]);
        Assert.Throws<ArgumentOutOfRangeException>(() => view.SubView(3, 3));
    }

    [Fact]
    public void CopiesOfMismatchedSizesThrow()
    {
        using var data = _accelerator.Allocate1D<float>(5);
        var tooLong = Assert.Throws<ArgumentOutOfRangeException>(() => data.View.CopyFromCPU(new float[6]));
        Assert.Contains("5", tooLong.Message);
        Assert.Contains("6", tooLong.Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => data.View.CopyFromCPU(new float[4]));
        Assert.Throws<ArgumentOutOfRangeException>(() => data.View.CopyToCPU(new float[4]));
        using var other = _accelerator.Allocate1D<float>(4);
        Assert.Throws<ArgumentOutOfRangeException>(() => data.View.BaseView.CopyTo(other.View.BaseView));
    }

    [Fact]
    public void CopiesRoundTripAndSubViewsWriteThrough()
    {
        using var data = _accelerator.Allocate1D(new[] { 1f, 2f, 3f, 4f, 5f });
        var sub = data.View.BaseView.SubView(1, 3);
        sub.CopyFromCPU(new[] { 20f, 30f, 40f });
        Assert.Equal(new[] { 1f, 20f, 30f, 40f, 5f }, data.GetAsArray1D());
        Assert.Equal(new[] { 20f, 30f, 40f }, sub.GetAsArray());
        data.MemSetToZero();
        Assert.All(data.GetAsArray1D(), v => Assert.Equal(0f, v));
    }

    [Fact]
    public void NewFloatBuffersAreNaNLikeUninitialisedDeviceMemory()
    {
        using var data = _accelerator.Allocate1D<float>(3);
        Assert.All(data.GetAsArray1D(), v => Assert.True(float.IsNaN(v)));
    }

    [Fact]
    public void KernelsMustBeStaticMethods()
    {
        int captured = 3;
        var e = Assert.Throws<NotSupportedException>(() =>
            _accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<int>>((i, v) => v[i] = captured));
        Assert.Contains("static", e.Message);
    }

    [SkippableFact]
    public void ALaunchRunsOnSeveralThreads()
    {
        Skip.If(Environment.ProcessorCount < 2, "one core only");
        var cpu = Assert.IsType<CPUAccelerator>(_accelerator);
        Assert.Equal(Environment.ProcessorCount, cpu.NumThreads);
        var kernel = _accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<int>>(RecordThread);
        using var ids = _accelerator.Allocate1D<int>(64);
        kernel(64, ids.View);
        Assert.True(ids.GetAsArray1D().Distinct().Count() > 1, "every index ran on the same thread");
    }

    [Fact]
    public void IndexConversionsFollowILGPU()
    {
        Index1D i = 5;
        int back = i;
        LongIndex1D l = i;
        long lb = l;
        Index2D xy = (3, 4);
        Index3D xyz = (2, 3, 4);
        Assert.Equal(5, back);
        Assert.Equal(5L, lb);
        Assert.Equal(12, xy.Size);
        Assert.Equal(24, xyz.Size);
        Assert.Equal(new Index2D(2, 3), xyz.XY);
        Assert.Equal((Index1D)5, (Index1D)new LongIndex1D(5));
        Assert.Throws<OverflowException>(() => (Index1D)new LongIndex1D(long.MaxValue));
    }

    [Fact]
    public void TheContextHoldsTheCpuDevice()
    {
        var device = _context.GetPreferredDevice(preferCPU: false);
        Assert.Equal(AcceleratorType.CPU, device.AcceleratorType);
        Assert.Single(_context.Devices);
        Assert.Contains("compatibility", device.Name);
    }
}
