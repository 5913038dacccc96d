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
            var options = new ParallelOptions { MaxDegreeOfParallelism = threads };
            try
            {
                Parallel.For(0, chunks, options, chunk =>
                {
                    long start = chunk * chunkSize;
                    long end = Math.Min(total, start + chunkSize);
                    RunRange(extent, call, (int)start, (int)end);
                });
            }
            catch (AggregateException e) when (e.InnerExceptions.Count > 0)
            {
                // Surface the kernel's own exception (e.g. an out-of-range view access), not the wrapper.
                ExceptionDispatchInfo.Capture(e.InnerExceptions[0]).Throw();
                throw;
            }
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
}
