using AttentionWise.Tests.Infrastructure;
using ILGPU;
using ILGPU.Runtime;

namespace AttentionWise.Tests.Device;

/// <summary>How each device launches what it loads: every index exactly once, atomics, poisoned buffers, and the
/// checks of the loader itself. The same tests run on every device kind.</summary>
public abstract class KernelLaunchSuite : DeviceTest
{
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

    /// <summary>Explicitly grouped: each group sums its elements in shared memory (a tree with a barrier per level).</summary>
    private static void GroupSums(ArrayView<float> values, ArrayView<float> sums)
    {
        var shared = SharedMemory.Allocate<float>(64);
        int t = Group.IdxX;
        int i = Grid.IdxX * Group.DimX + t;
        shared[t] = i < values.Length ? values[i] : 0f;
        Group.Barrier();
        for (int s = Group.DimX / 2; s > 0; s /= 2)
        {
            if (t < s)
                shared[t] += shared[t + s];
            Group.Barrier();
        }
        if (t == 0)
            sums[Grid.IdxX] = shared[0];
    }

    private int[] Run(Action<MemoryBuffer1D<int, Stride1D.Dense>> launch, int length)
    {
        using var counts = Device.Accelerator.Allocate1D<int>(length);
        counts.MemSetToZero();
        launch(counts);
        Device.Synchronize();
        return counts.GetAsArray1D();
    }

    [Theory]
    [InlineData(1)]
    [InlineData(7)]
    [InlineData(100_003)]
    public void Every1DIndexIsVisitedOnce(int n)
    {
        var kernel = Device.Loader.Load<Index1D, ArrayView<int>>(Mark1D);
        Assert.All(Run(c => kernel(n, c.View), n), c => Assert.Equal(1, c));
    }

    [Theory]
    [InlineData(1, 1)]
    [InlineData(37, 29)]
    [InlineData(3, 1001)]
    public void Every2DIndexIsVisitedOnce(int x, int y)
    {
        var kernel = Device.Loader.Load<Index2D, ArrayView<int>, int>(Mark2D);
        Assert.All(Run(c => kernel(new Index2D(x, y), c.View, x), x * y), c => Assert.Equal(1, c));
    }

    [Theory]
    [InlineData(1, 1, 1)]
    [InlineData(7, 11, 13)]
    [InlineData(5, 3, 997)]
    public void Every3DIndexIsVisitedOnce(int x, int y, int z)
    {
        var kernel = Device.Loader.Load<Index3D, ArrayView<int>, int, int>(Mark3D);
        Assert.All(Run(c => kernel(new Index3D(x, y, z), c.View, x, y), x * y * z), c => Assert.Equal(1, c));
    }

    [Fact]
    public void AnEmptyExtentRunsNothing()
    {
        var kernel = Device.Loader.Load<Index2D, ArrayView<int>, int>(Mark2D);
        Assert.All(Run(c => kernel(new Index2D(0, 4), c.View, 0), 4), c => Assert.Equal(0, c));
    }

    [Fact]
    public void ConcurrentAtomicAddsLoseNothing()
    {
        const int n = 300_000;
        var kernel = Device.Loader.Load<Index1D, ArrayView<float>, ArrayView<int>>(AddOne);
        using var sums = Device.Accelerator.Allocate1D<float>(3);
        using var intSums = Device.Accelerator.Allocate1D<int>(3);
        sums.MemSetToZero();
        intSums.MemSetToZero();
        kernel(n, sums.View, intSums.View);
        Device.Synchronize();
        int[] expected = [100_000, 100_000, 100_000];
        Assert.Equal(expected.Select(e => (float)e), sums.GetAsArray1D());
        Assert.Equal(expected, intSums.GetAsArray1D());
    }

    [Fact]
    public void AnExplicitlyGroupedKernelSharesMemoryAndSynchronisesItsGroup()
    {
        int group = Math.Min(64, 1 << (int)Math.Log2(Device.Accelerator.MaxNumThreadsPerGroup));
        const int n = 1000;
        int groups = (n + group - 1) / group;
        var values = Enumerable.Range(0, n).Select(i => (float)(i % 7)).ToArray();
        var kernel = Device.Loader.LoadGrouped<ArrayView<float>, ArrayView<float>>(GroupSums);
        using var v = Device.Upload(Shape.Of(n), values);
        using var sums = Device.Allocate(Shape.Of(groups));
        kernel(new KernelConfig(groups, group), v.View, sums.View);
        Device.Synchronize();
        var expected = Enumerable.Range(0, groups).Select(g => values.Skip(g * group).Take(group).Sum()).ToArray();
        Assert.Equal(expected, sums.Download());
        Assert.Equal(KernelGrouping.Explicit, Device.Loader.Loaded[^1].Grouping);
    }

    [Fact]
    public void KernelsMustBeStaticMethods()
    {
        int captured = 3;
        var e = Assert.Throws<ArgumentException>(() => Device.Loader.Load<Index1D, ArrayView<int>>((i, v) => v[i] = captured));
        Assert.Contains("static", e.Message);
    }

    [Fact]
    public void NewTensorsOfTheTestDevicesAreNaN()
    {
        using var t = Device.Allocate(Shape.Of(3, 5));
        Assert.All(t.Download(), v => Assert.True(float.IsNaN(v)));
    }

    [Fact]
    public void TheLoaderListsWhatItLoaded()
    {
        var before = Device.Loader.Loaded.Count;
        Device.Loader.Load<Index1D, ArrayView<int>>(Mark1D);
        var loaded = Device.Loader.Loaded;
        Assert.Equal(before + 1, loaded.Count);
        Assert.Equal("KernelLaunchSuite.Mark1D", loaded[^1].Name);
        Assert.Equal(Kind == DeviceKind.Cpu ? KernelLaunchMode.Host : KernelLaunchMode.Ilgpu, Device.Loader.Mode);
        Assert.Equal(Kind != DeviceKind.Cpu, Device.GpuShaped);
    }
}

public sealed class KernelLaunchCpuTests : KernelLaunchSuite
{
    protected override DeviceKind Kind => DeviceKind.Cpu;

    private static void WriteBeyond(Index1D index, ArrayView<float> data) => data[index + 1] = 1f;

    private static void ThrowAt(Index1D index, ArrayView<int> marks, int bad)
    {
        if (index == bad)
            throw new InvalidOperationException($"index {bad}");
        marks[index] = 1;
    }

    private static void RecordThread(Index1D index, ArrayView<int> ids)
    {
        // About a millisecond of work per index, so that the launch cannot finish on one thread before the others start.
        double x = index;
        for (int k = 0; k < 250_000; k++)
            x = Math.Sqrt(x + k);
        ids[index] = Environment.CurrentManagedThreadId + (x < 0 ? 1 : 0);
    }

    [Fact]
    public void OutOfRangeAccessInAKernelIsAnExceptionNotTheEndOfTheProcess()
    {
        var kernel = Device.Loader.Load<Index1D, ArrayView<float>>(WriteBeyond);
        using var t = Device.Allocate(Shape.Of(8));
        var e = Assert.Throws<KernelAssertionException>(() => kernel(8, t.View));
        Assert.Contains("Index out of range", e.Message);
    }

    [Fact]
    public void AKernelsExceptionReachesTheCallerAndTheLauncherKeepsWorking()
    {
        var kernel = Device.Loader.Load<Index1D, ArrayView<int>, int>(ThrowAt);
        using var marks = Device.Accelerator.Allocate1D<int>(10_000);
        var e = Assert.Throws<InvalidOperationException>(() => kernel(10_000, marks.View, 4_321));
        Assert.Equal("index 4321", e.Message);
        marks.MemSetToZero();
        kernel(10_000, marks.View, -1);
        Assert.All(marks.GetAsArray1D(), m => Assert.Equal(1, m));
    }

    [Fact]
    public void ALaunchRunsOnSeveralThreads()
    {
        Assert.SkipWhen(Environment.ProcessorCount < 2, "one core only");
        Assert.Equal(Environment.ProcessorCount, HostLauncher.Shared.Threads);
        var kernel = Device.Loader.Load<Index1D, ArrayView<int>>(RecordThread);
        using var ids = Device.Accelerator.Allocate1D<int>(64);
        kernel(64, ids.View);
        Assert.True(ids.GetAsArray1D().Distinct().Count() > 1, "every index ran on the same thread");
    }

    [Fact]
    public void ARecordingLoaderLaunchesNothing()
    {
        var loader = KernelLoader.ForRecording(DeviceKind.Cuda);
        var kernel = loader.Load<Index1D, ArrayView<float>>(WriteBeyond);
        Assert.Single(loader.Loaded);
        Assert.True(loader.GpuShaped);
        Assert.Throws<InvalidOperationException>(() => kernel(1, default));
    }
}

public sealed class KernelLaunchCpuSimTests : KernelLaunchSuite
{
    protected override DeviceKind Kind => DeviceKind.CpuSimulator;
}

public sealed class KernelLaunchCudaTests : KernelLaunchSuite
{
    protected override DeviceKind Kind => DeviceKind.Cuda;
}

public sealed class KernelLaunchOpenCLTests : KernelLaunchSuite
{
    protected override DeviceKind Kind => DeviceKind.OpenCL;

    /// <summary>What the OpenCL driver compiles is what ILGPU wrote with every barrier fencing local memory too: every
    /// kernel of every kernel set is loaded on the device, and each one with a barrier carries the local fence.</summary>
    [Fact]
    public void EveryLoadedKernelWithABarrierFencesLocalMemory()
    {
        Device.Loader.LoadGrouped<ArrayView<float>, ArrayView<float>>(GroupSumsForFence);
        foreach (var set in KernelCatalog.KernelSets(Kind))
            Device.Loader.LoadSet(set);
        var sources = Device.Loader.OpenCLSources;
        Assert.Equal(Device.Loader.Loaded.Select(k => k.Method).Distinct().Count(), sources.Count);
        var withBarriers = sources.Where(s => OpenCLBarriers.CountBarriers(s.Value) > 0).ToArray();
        Assert.NotEmpty(withBarriers);
        Assert.All(withBarriers, s => Assert.Empty(OpenCLBarriers.UnfencedBarriers(s.Value)));
        Assert.All(withBarriers, s => Assert.Contains(OpenCLBarriers.Flags, s.Value));
    }

    private static void GroupSumsForFence(ArrayView<float> values, ArrayView<float> sums)
    {
        var shared = SharedMemory.Allocate<float>(32);
        shared[Group.IdxX] = values[Grid.GlobalIndex.X];
        Group.Barrier();
        if (Group.IdxX == 0)
            sums[Grid.IdxX] = shared[Group.DimX - 1];
    }
}
