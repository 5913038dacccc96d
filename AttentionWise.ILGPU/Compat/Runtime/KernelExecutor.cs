// The compatibility layer's kernel executor: splits the index space of a launch into contiguous chunks
// and runs them on all cores. Each chunk walks its indices incrementally (no division per element) and
// calls the kernel through a struct that holds the arguments, so nothing is allocated per element.
using System.Runtime.CompilerServices;
using System.Runtime.ExceptionServices;
using ILGPU.Runtime.CPU;

namespace ILGPU.Runtime
{
    /// <summary>One bound kernel call: the kernel delegate and its arguments, invoked per index.</summary>
    internal interface IKernelCall<TIndex> where TIndex : struct, IIndex
    {
        void Invoke(TIndex index);
    }

    internal static class KernelExecutor
    {
        /// <summary>Chunks per worker thread: enough for load balance, few enough to keep overhead low.</summary>
        private const int ChunksPerThread = 4;

        /// <summary>Checks that a delegate can be a kernel the way ILGPU requires: a static method.</summary>
        internal static CPUAccelerator Check(Accelerator accelerator, Delegate action)
        {
            ArgumentNullException.ThrowIfNull(accelerator);
            ArgumentNullException.ThrowIfNull(action);
            ObjectDisposedException.ThrowIf(accelerator.IsDisposed, accelerator);
            if (!action.Method.IsStatic || action.Target is not null)
            {
                throw new NotSupportedException(
                    $"Kernel '{action.Method.Name}' is not a static method; ILGPU kernels must be static methods without captured state.");
            }
            return accelerator as CPUAccelerator
                ?? throw new NotSupportedException("The ILGPU compatibility layer runs kernels on its CPU accelerator only.");
        }

        internal static void Launch<TIndex, TCall>(CPUAccelerator accelerator, TIndex extent, TCall call)
            where TIndex : struct, IIndex
            where TCall : struct, IKernelCall<TIndex>
        {
            ObjectDisposedException.ThrowIf(accelerator.IsDisposed, accelerator);
            long total = Size(extent);
            if (total <= 0)
                return;
            if (total > int.MaxValue)
                throw new ArgumentOutOfRangeException(nameof(extent), $"A launch extent of {extent} has more than {int.MaxValue} threads.");

            int threads = accelerator.NumThreads;
            int chunks = (int)Math.Min(total, (long)threads * ChunksPerThread);
            if (chunks <= 1 || threads == 1)
            {
                RunRange(extent, call, 0, (int)total);
                return;
            }

            long chunkSize = (total + chunks - 1) / chunks;
            chunks = (int)((total + chunkSize - 1) / chunkSize);
            Workers.Run(chunks, threads, chunk =>
            {
                long start = chunk * chunkSize;
                long end = Math.Min(total, start + chunkSize);
                RunRange(extent, call, (int)start, (int)end);
            });
        }

        /// <summary>The process's kernel worker threads (one per core besides the launching thread).</summary>
        private static readonly WorkerPool Workers = new(Environment.ProcessorCount - 1);

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
            throw new NotSupportedException($"The ILGPU compatibility layer launches Index1D, Index2D and Index3D extents, not {typeof(TIndex).Name}.");
        }

        /// <summary>Runs the linear indices [start, end) of the extent, X fastest.</summary>
        private static void RunRange<TIndex, TCall>(TIndex extent, TCall call, int start, int end)
            where TIndex : struct, IIndex
            where TCall : struct, IKernelCall<TIndex>
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
    }

    /// <summary>
    /// Dedicated background threads that run the chunks of a launch together with the launching thread. Unlike
    /// the .NET thread pool, they are always available at once: a launch never waits for a pool thread to be
    /// injected (with a busy pool, e.g. under a test runner, a short launch would otherwise run on one core).
    /// Launches are serialised; chunks are taken from a shared counter; the first exception of a kernel is
    /// rethrown on the launching thread with its own stack trace.
    /// </summary>
    internal sealed class WorkerPool
    {
        private readonly object _launchLock = new();
        private readonly SemaphoreSlim _start = new(0);
        private readonly int _workers;
        private Action<int>? _job;
        private int _chunks;
        private int _next;
        private CountdownEvent? _done;
        private ExceptionDispatchInfo? _error;

        public WorkerPool(int workers)
        {
            _workers = Math.Max(0, workers);
            for (int i = 0; i < _workers; i++)
            {
                var thread = new Thread(Work) { IsBackground = true, Name = $"ILGPU compat worker {i}" };
                thread.Start();
            }
        }

        /// <summary>Runs job(0 … chunks − 1) on at most <paramref name="threads"/> threads (this one included) and returns
        /// when every chunk is done.</summary>
        public void Run(int chunks, int threads, Action<int> job)
        {
            int helpers = Math.Min(_workers, Math.Min(threads, chunks) - 1);
            if (helpers <= 0)
            {
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
                _done = new CountdownEvent(helpers);
                _start.Release(helpers);
                Drain(job, chunks);
                _done.Wait();
                _done.Dispose();
                _done = null;
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
            int c;
            while ((c = Interlocked.Increment(ref _next) - 1) < chunks)
            {
                try
                {
                    job(c);
                }
                catch (Exception e)
                {
                    // Keep the first failure; stop handing out chunks.
                    Interlocked.CompareExchange(ref _error, ExceptionDispatchInfo.Capture(e), null);
                    Volatile.Write(ref _next, chunks);
                }
            }
        }
    }
}