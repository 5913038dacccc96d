using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.ExceptionServices;
using ILGPU;

namespace AttentionWise;

/// <summary>One bound kernel launch: the kernel and its arguments, invoked per index (generated: HostCall).</summary>
internal interface IHostCall<TIndex> where TIndex : struct, IIndex
{
    void Invoke(TIndex index);
}

/// <summary>
/// The <c>cpu</c> device's kernel launcher: calls an implicitly grouped kernel method directly, as the .NET code it
/// is, for every index of the launch. The index space is cut into contiguous chunks that the launching thread and
/// dedicated worker threads take from a shared counter; within a chunk the index is advanced incrementally (no
/// division per element) and the kernel is called through a struct that holds its arguments, so a launch allocates
/// nothing per element. The buffers are the CPU accelerator's own: ILGPU owns the memory, this only runs the code.
/// Launches are synchronous and serialised; the first exception a kernel throws is rethrown on the launching thread.
/// </summary>
internal sealed class HostLauncher
{
    /// <summary>Chunks per worker thread: enough for load balance, few enough to keep the overhead low.</summary>
    private const int ChunksPerThread = 4;

    private readonly WorkerPool _workers;

    /// <param name="threads">Threads that run a launch, the launching one included.</param>
    public HostLauncher(int threads)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(threads, 1);
        Threads = threads;
        _workers = new WorkerPool(threads - 1);
        AssertionListener.Install();
    }

    /// <summary>The process's launcher: one thread per core.</summary>
    public static HostLauncher Shared { get; } = new(Environment.ProcessorCount);

    /// <summary>Threads that run a launch, the launching one included.</summary>
    public int Threads { get; }

    /// <summary>Runs <paramref name="body"/>(0 … count − 1) on the launcher's threads, each index once, in no particular
    /// order: the host-code passes of the cpu device (matrix products, im2col) use it, so that one owner runs the cores.</summary>
    public void For(int count, Action<int> body)
    {
        ArgumentNullException.ThrowIfNull(body);
        if (count <= 0)
            return;
        if (count == 1 || Threads == 1)
        {
            for (int i = 0; i < count; i++)
                body(i);
            return;
        }
        _workers.Run(count, Threads, body);
    }

    internal void Launch<TIndex, TCall>(TIndex extent, TCall call)
        where TIndex : struct, IIndex
        where TCall : struct, IHostCall<TIndex>
    {
        long total = Size(extent);
        if (total <= 0)
            return;
        if (total > int.MaxValue)
            throw new ArgumentOutOfRangeException(nameof(extent), $"A launch of {extent} has more than {int.MaxValue} threads.");

        int chunks = (int)Math.Min(total, (long)Threads * ChunksPerThread);
        if (chunks <= 1 || Threads == 1)
        {
            RunRange(extent, call, 0, (int)total);
            return;
        }
        long chunkSize = (total + chunks - 1) / chunks;
        chunks = (int)((total + chunkSize - 1) / chunkSize);
        _workers.Run(chunks, Threads, chunk =>
        {
            long start = chunk * chunkSize;
            long end = Math.Min(total, start + chunkSize);
            RunRange(extent, call, (int)start, (int)end);
        });
    }

    private static long Size<TIndex>(TIndex extent) where TIndex : struct, IIndex
    {
        if (typeof(TIndex) == typeof(Index1D))
            return Math.Max(0, Unsafe.As<TIndex, Index1D>(ref extent).X);
        if (typeof(TIndex) == typeof(Index2D))
        {
            var e = Unsafe.As<TIndex, Index2D>(ref extent);
            return e.X <= 0 || e.Y <= 0 ? 0 : (long)e.X * e.Y;
        }
        if (typeof(TIndex) == typeof(Index3D))
        {
            var e = Unsafe.As<TIndex, Index3D>(ref extent);
            return e.X <= 0 || e.Y <= 0 || e.Z <= 0 ? 0 : (long)e.X * e.Y * e.Z;
        }
        throw new NotSupportedException($"The host launcher runs Index1D, Index2D and Index3D launches, not {typeof(TIndex).Name}.");
    }

    /// <summary>Runs the linear indices [start, end) of the extent, X fastest, as ILGPU orders them.</summary>
    private static void RunRange<TIndex, TCall>(TIndex extent, TCall call, int start, int end)
        where TIndex : struct, IIndex
        where TCall : struct, IHostCall<TIndex>
    {
        if (typeof(TIndex) == typeof(Index1D))
        {
            for (int i = start; i < end; i++)
            {
                var index = new Index1D(i);
                call.Invoke(Unsafe.As<Index1D, TIndex>(ref index));
            }
        }
        else if (typeof(TIndex) == typeof(Index2D))
        {
            var e = Unsafe.As<TIndex, Index2D>(ref extent);
            int x = start % e.X, y = start / e.X;
            for (int i = start; i < end; i++)
            {
                var index = new Index2D(x, y);
                call.Invoke(Unsafe.As<Index2D, TIndex>(ref index));
                if (++x == e.X)
                {
                    x = 0;
                    y++;
                }
            }
        }
        else if (typeof(TIndex) == typeof(Index3D))
        {
            var e = Unsafe.As<TIndex, Index3D>(ref extent);
            int plane = e.X * e.Y;
            int z = start / plane, rest = start % plane;
            int y = rest / e.X, x = rest % e.X;
            for (int i = start; i < end; i++)
            {
                var index = new Index3D(x, y, z);
                call.Invoke(Unsafe.As<Index3D, TIndex>(ref index));
                if (++x == e.X)
                {
                    x = 0;
                    if (++y == e.Y)
                    {
                        y = 0;
                        z++;
                    }
                }
            }
        }
    }

    /// <summary>
    /// Dedicated background threads that run the chunks of a launch together with the launching thread. Unlike the
    /// .NET thread pool they are there at once: a launch never waits for a pool thread to be injected (with a busy
    /// pool, under a test runner say, a short launch would otherwise run on one core).
    /// </summary>
    private sealed class WorkerPool
    {
        private readonly object _launchLock = new();
        private readonly SemaphoreSlim _start = new(0);
        private readonly int _workers;
        private Action<int>? _job;
        private int _chunks;
        private int _next;
        private CountdownEvent? _done;
        private ExceptionDispatchInfo? _error;
        [ThreadStatic] private static bool _running;

        public WorkerPool(int workers)
        {
            _workers = Math.Max(0, workers);
            for (int i = 0; i < _workers; i++)
            {
                var thread = new Thread(Work) { IsBackground = true, Name = $"AttentionWise host launcher {i}" };
                thread.Start();
            }
        }

        /// <summary>Runs job(0 … chunks − 1) on at most <paramref name="threads"/> threads (this one included) and
        /// returns when every chunk is done.</summary>
        public void Run(int chunks, int threads, Action<int> job)
        {
            int helpers = Math.Min(_workers, Math.Min(threads, chunks) - 1);
            if (_running)
            {
                // A launch from inside a launch (a host pass that launches a kernel) runs on the calling thread: the
                // other threads are busy with the outer launch.
                for (int c = 0; c < chunks; c++)
                    job(c);
                return;
            }
            lock (_launchLock)
            {
                _job = job;
                _chunks = chunks;
                _error = null;
                Volatile.Write(ref _next, 0);
                if (helpers <= 0)
                {
                    Drain(job, chunks);
                }
                else
                {
                    _done = new CountdownEvent(helpers);
                    _start.Release(helpers);
                    Drain(job, chunks);
                    _done.Wait();
                    _done.Dispose();
                    _done = null;
                }
                _job = null;
                _error?.Throw();
            }
        }

        private void Work()
        {
            while (true)
            {
                _start.Wait();
                var job = _job!;
                var done = _done!;
                Drain(job, _chunks);
                done.Signal();
            }
        }

        private void Drain(Action<int> job, int chunks)
        {
            _running = true;
            try
            {
                DrainChunks(job, chunks);
            }
            finally
            {
                _running = false;
            }
        }

        private void DrainChunks(Action<int> job, int chunks)
        {
            int c;
            while ((c = Interlocked.Increment(ref _next) - 1) < chunks)
            {
                try
                {
                    job(c);
                }
                catch (Exception e)
                {
                    // Keep the first failure; hand out no more chunks.
                    Interlocked.CompareExchange(ref _error, ExceptionDispatchInfo.Capture(e), null);
                    Volatile.Write(ref _next, chunks);
                }
            }
        }
    }

    /// <summary>
    /// ILGPU checks view accesses with <see cref="Trace.Assert(bool, string)"/> ("Index out of range"), and .NET's
    /// default listener ends the process on a failed assertion. Kernels run as host code hit those checks, so the
    /// launcher replaces the default listener with one that throws <see cref="KernelAssertionException"/>: the launch
    /// fails with the kernel's stack trace and the caller decides what to do.
    /// </summary>
    private sealed class AssertionListener : TraceListener
    {
        private static readonly object Gate = new();
        private static bool _installed;

        public static void Install()
        {
            lock (Gate)
            {
                if (_installed)
                    return;
                _installed = true;
                foreach (var listener in Trace.Listeners.OfType<DefaultTraceListener>().ToArray())
                    Trace.Listeners.Remove(listener);
                // First in the list: a failed assertion reaches the listeners in order, and one installed earlier by a
                // host (xunit v3's turns assertions into its own exception) would otherwise throw before this one.
                Trace.Listeners.Insert(0, new AssertionListener());
            }
        }

        public override void Fail(string? message, string? detailMessage) =>
            throw new KernelAssertionException(string.IsNullOrEmpty(detailMessage) ? message : $"{message}: {detailMessage}");

        public override void Write(string? message)
        {
        }

        public override void WriteLine(string? message)
        {
        }
    }
}

/// <summary>A check inside a kernel failed on the <c>cpu</c> device (for example ILGPU's "Index out of range" on a
/// view access): a bug in the kernel or in the sizes it was launched with.</summary>
public sealed class KernelAssertionException : Exception
{
    public KernelAssertionException(string? check)
        : base($"A kernel failed the check '{check ?? "assertion"}' on the cpu device (a bug in the kernel or its launch sizes).")
    {
    }
}
