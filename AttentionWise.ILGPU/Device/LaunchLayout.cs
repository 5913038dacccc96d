namespace AttentionWise;

/// <summary>
/// How the threads of an element-wise launch cover <see cref="Length"/> elements. Thread t handles the
/// elements <c>t * ThreadStep + k * ItemStep</c> for k in [0, PerThread) that are below Length.
/// On CPUs each thread takes one contiguous run (ThreadStep = PerThread, ItemStep = 1), which keeps
/// every cache line with one core; on GPUs the launch is grid-strided (ThreadStep = 1, ItemStep =
/// thread count), which keeps neighbouring threads on neighbouring addresses. Passed to kernels by value.
/// </summary>
internal readonly struct LaunchLayout
{
    public LaunchLayout(int length, int threads, int perThread, int threadStep, int itemStep)
    {
        Length = length;
        Threads = threads;
        PerThread = perThread;
        ThreadStep = threadStep;
        ItemStep = itemStep;
    }

    public readonly int Length;
    public readonly int Threads;
    public readonly int PerThread;
    public readonly int ThreadStep;
    public readonly int ItemStep;

    /// <summary>The k-th element of thread <paramref name="thread"/> (may be ≥ Length: check).</summary>
    public int Element(int thread, int k) => thread * ThreadStep + k * ItemStep;

    /// <summary>A contiguous-run layout for CPUs: at most <paramref name="maxThreads"/> threads.</summary>
    public static LaunchLayout Contiguous(int length, int maxThreads)
    {
        int threads = Math.Max(1, Math.Min(length, maxThreads));
        int perThread = length == 0 ? 0 : (length + threads - 1) / threads;
        threads = perThread == 0 ? 1 : (length + perThread - 1) / perThread;
        return new LaunchLayout(length, threads, perThread, perThread, 1);
    }

    /// <summary>A grid-stride layout for GPUs: at most <paramref name="maxThreads"/> threads.</summary>
    public static LaunchLayout GridStride(int length, int maxThreads)
    {
        int threads = Math.Max(1, Math.Min(length, maxThreads));
        int perThread = length == 0 ? 0 : (length + threads - 1) / threads;
        return new LaunchLayout(length, threads, perThread, 1, threads);
    }

    public override string ToString() =>
        $"LaunchLayout(length {Length}, {Threads} threads × {PerThread}, thread step {ThreadStep}, item step {ItemStep})";
}
