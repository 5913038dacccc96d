// ILGPU.Runtime: AcceleratorType, Device, Accelerator, AcceleratorObject and the memory buffers.
using System.Runtime.CompilerServices;

namespace ILGPU.Runtime
{
    /// <summary>The kind of an accelerator.</summary>
    public enum AcceleratorType
    {
        CPU = 0,
        Cuda = 1,
        OpenCL = 2,
    }

    /// <summary>A device that accelerators can be created on.</summary>
    public abstract class Device
    {
        public abstract AcceleratorType AcceleratorType { get; }
        public abstract string Name { get; }
        public abstract long MemorySize { get; }
        public abstract int NumMultiprocessors { get; }
        public abstract int MaxNumThreadsPerGroup { get; }
        public int MaxNumThreads => NumMultiprocessors * MaxNumThreadsPerGroup;
        public int WarpSize => 1;

        public abstract Accelerator CreateAccelerator(Context context);

        public void PrintInformation(TextWriter writer)
        {
            ArgumentNullException.ThrowIfNull(writer);
            writer.WriteLine($"Device: {Name}");
            writer.WriteLine($"  Accelerator type: {AcceleratorType}");
            writer.WriteLine($"  Memory: {MemorySize} bytes");
            writer.WriteLine($"  Multiprocessors: {NumMultiprocessors}");
        }

        public override string ToString() => $"{Name} [{AcceleratorType}]";
    }

    /// <summary>Something that belongs to an accelerator and must be disposed.</summary>
    public abstract class AcceleratorObject : IDisposable
    {
        protected AcceleratorObject(Accelerator accelerator) => Accelerator = accelerator;

        public Accelerator Accelerator { get; }
        public bool IsDisposed { get; private set; }

        public void Dispose()
        {
            if (IsDisposed)
                return;
            IsDisposed = true;
            DisposeAcceleratorObject(true);
            GC.SuppressFinalize(this);
        }

        protected virtual void DisposeAcceleratorObject(bool disposing) { }
    }

    /// <summary>An accelerator: the handle through which memory is allocated and kernels are loaded.</summary>
    public abstract class Accelerator : IDisposable
    {
        private bool _disposed;

        protected Accelerator(Context context, Device device)
        {
            Context = context;
            Device = device;
        }

        public Context Context { get; }
        public Device Device { get; }
        public AcceleratorType AcceleratorType => Device.AcceleratorType;
        public string Name => Device.Name;
        public long MemorySize => Device.MemorySize;
        public int NumMultiprocessors => Device.NumMultiprocessors;
        public int MaxNumThreadsPerGroup => Device.MaxNumThreadsPerGroup;
        public int MaxNumThreads => Device.MaxNumThreads;
        public int WarpSize => Device.WarpSize;
        public bool IsDisposed => _disposed;

        /// <summary>Allocates a dense one-dimensional buffer of <paramref name="length"/> elements. As on a GPU,
        /// the contents are undefined: float and double buffers start out as NaN here, so that code which
        /// relies on zeroed memory fails on the CPU too.</summary>
        public MemoryBuffer1D<T, Stride1D.Dense> Allocate1D<T>(long length) where T : unmanaged
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            ArgumentOutOfRangeException.ThrowIfNegative(length);
            if (length > Array.MaxLength)
            {
                throw new ArgumentOutOfRangeException(
                    nameof(length),
                    $"The ILGPU compatibility layer allocates at most {Array.MaxLength} elements per buffer; {length} were requested.");
            }
            return new MemoryBuffer1D<T, Stride1D.Dense>(this, length);
        }

        /// <summary>Waits for all work on the accelerator. Launches of the compatibility layer are synchronous.</summary>
        public void Synchronize() => ObjectDisposedException.ThrowIf(_disposed, this);

        public void Dispose()
        {
            _disposed = true;
            GC.SuppressFinalize(this);
        }

        public override string ToString() => Name;
    }

    /// <summary>A buffer of raw device memory (ILGPU.Runtime.MemoryBuffer).</summary>
    public abstract class MemoryBuffer : AcceleratorObject
    {
        protected MemoryBuffer(Accelerator accelerator, long length, int elementSize)
            : base(accelerator)
        {
            Length = length;
            ElementSize = elementSize;
        }

        public long Length { get; }
        public int ElementSize { get; }
        public long LengthInBytes => Length * ElementSize;
    }

    /// <summary>A memory buffer with a typed view (ILGPU.Runtime.MemoryBuffer&lt;TView&gt;).</summary>
    public abstract class MemoryBuffer<TView> : MemoryBuffer, IContiguousArrayView
        where TView : struct, IArrayView
    {
        protected MemoryBuffer(Accelerator accelerator, long length, int elementSize)
            : base(accelerator, length, elementSize) { }

        public abstract TView View { get; }
        public bool IsValid => !IsDisposed;
        public TView ToArrayView() => View;

        void IContiguousArrayView.ClearContents() => ((IContiguousArrayView)View).ClearContents();

        void IContiguousArrayView.CopyContentsTo(IContiguousArrayView target) =>
            ((IContiguousArrayView)View).CopyContentsTo(target);

        public static implicit operator TView(MemoryBuffer<TView> buffer) => buffer.View;
    }

    /// <summary>A dense one-dimensional buffer (ILGPU.Runtime.MemoryBuffer1D). Storage is a pinned managed
    /// array, so a view that outlives its disposed buffer stays memory-safe.</summary>
    public sealed class MemoryBuffer1D<T, TStride> : MemoryBuffer<ArrayView1D<T, TStride>>
        where T : unmanaged
        where TStride : struct, IStride1D
    {
        private readonly ArrayView1D<T, TStride> _view;

        internal MemoryBuffer1D(Accelerator accelerator, long length)
            : base(accelerator, length, Unsafe.SizeOf<T>())
        {
            var storage = GC.AllocateUninitializedArray<T>(checked((int)length), pinned: true);
            if (typeof(T) == typeof(float))
                Unsafe.As<float[]>(storage).AsSpan().Fill(float.NaN);
            else if (typeof(T) == typeof(double))
                Unsafe.As<double[]>(storage).AsSpan().Fill(double.NaN);
            else
                storage.AsSpan().Clear();
            _view = new ArrayView1D<T, TStride>(new ArrayView<T>(storage, 0, length));
        }

        public override ArrayView1D<T, TStride> View
        {
            get
            {
                ObjectDisposedException.ThrowIf(IsDisposed, this);
                return _view;
            }
        }

        public LongIndex1D Extent => View.Extent;
        public Index1D IntExtent => View.IntExtent;
        public ArrayView<T> AsContiguous() => View.BaseView;

        public static explicit operator ArrayView<T>(MemoryBuffer1D<T, TStride> buffer) => buffer.View.BaseView;

        public override string ToString() => $"MemoryBuffer1D<{typeof(T).Name}>[{Length}]";
    }
}
