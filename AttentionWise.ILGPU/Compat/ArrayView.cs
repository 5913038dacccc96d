// ILGPU.ArrayView<T>, ILGPU.Runtime.ArrayView1D<T, TStride> and ILGPU.Stride1D.Dense.
// A view is a (array, offset, length) window on a buffer's storage. Element access is bounds-checked
// with one unsigned compare and otherwise compiles to a plain load or store.
using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using ILGPU.Runtime;

namespace ILGPU
{
    /// <summary>A view on memory of any layout (ILGPU.IArrayView).</summary>
    public interface IArrayView
    {
        /// <summary>The number of elements.</summary>
        long Length { get; }
    }

    /// <summary>A view on contiguous memory (ILGPU.IContiguousArrayView).</summary>
    public interface IContiguousArrayView : IArrayView
    {
        /// <summary>Sets every element of the view to zero (compat-internal).</summary>
        internal void ClearContents();

        /// <summary>Copies every element into a view of the same type and length (compat-internal).</summary>
        internal void CopyContentsTo(IContiguousArrayView target);
    }

    /// <summary>Strides of one-dimensional views (ILGPU.Stride1D).</summary>
    public static class Stride1D
    {
        /// <summary>The dense (unit) stride.</summary>
        public readonly struct Dense : IStride1D
        {
            public int XStride => 1;
            public Index1D StrideExtent => new(1);
            public int ComputeElementIndex(Index1D index) => index.X;
            public long ComputeElementIndex(LongIndex1D index) => index.X;
            public override string ToString() => "Dense";
        }
    }

    /// <summary>A one-dimensional stride (ILGPU.IStride1D).</summary>
    public interface IStride1D
    {
        /// <summary>The distance between two neighbouring elements.</summary>
        int XStride { get; }
    }

    /// <summary>A contiguous one-dimensional view on a memory buffer (ILGPU.ArrayView&lt;T&gt;).</summary>
    public readonly unsafe struct ArrayView<T> : IContiguousArrayView where T : unmanaged
    {
        private readonly T[]? _array;
        private readonly long _offset;
        private readonly long _length;

        // The address of element 0. Buffers live on the pinned object heap (see Accelerator.Allocate1D), so
        // the address is stable for the buffer's lifetime, and _array keeps the storage alive while any view
        // exists. Element access is one bounds check and one load or store.
        private readonly T* _pointer;

        internal ArrayView(T[] array, long offset, long length)
        {
            _array = array;
            _offset = offset;
            _length = length;
            _pointer = (T*)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(array)) + offset;
        }

        /// <summary>An empty, invalid view.</summary>
        public static ArrayView<T> Empty => default;

        /// <summary>The size of one element in bytes.</summary>
        public static int ElementSize => Unsafe.SizeOf<T>();

        public bool IsValid => _array is not null && _length > 0;
        public long Length => _length;
        public int IntLength => checked((int)_length);
        public long LengthInBytes => _length * ElementSize;
        public LongIndex1D Extent => new(_length);
        public Index1D IntExtent => new(IntLength);
        public Stride1D.Dense Stride => default;

        internal T[]? Array => _array;
        internal long Offset => _offset;

        public ref T this[int index]
        {
            [MethodImpl(MethodImplOptions.AggressiveInlining)]
            get
            {
                long i = index;
                if ((ulong)i >= (ulong)_length)
                    ThrowOutOfRange(i, _length);
                return ref _pointer[i];
            }
        }

        public ref T this[long index]
        {
            [MethodImpl(MethodImplOptions.AggressiveInlining)]
            get
            {
                if ((ulong)index >= (ulong)_length)
                    ThrowOutOfRange(index, _length);
                return ref _pointer[index];
            }
        }

        public ref T this[Index1D index]
        {
            [MethodImpl(MethodImplOptions.AggressiveInlining)]
            get => ref this[index.X];
        }

        public ref T this[LongIndex1D index]
        {
            [MethodImpl(MethodImplOptions.AggressiveInlining)]
            get => ref this[index.X];
        }

        /// <summary>The view from <paramref name="index"/> to the end.</summary>
        public ArrayView<T> SubView(long index) => SubView(index, _length - index);

        public ArrayView<T> SubView(int index, int subViewLength) => SubView((long)index, subViewLength);

        public ArrayView<T> SubView(long index, long subViewLength)
        {
            if (index < 0 || subViewLength < 0 || index + subViewLength > _length)
            {
                throw new ArgumentOutOfRangeException(
                    nameof(index),
                    $"SubView({index}, {subViewLength}) does not fit in an ArrayView<{typeof(T).Name}> of length {_length}.");
            }
            return new ArrayView<T>(_array!, _offset + index, subViewLength);
        }

        void IContiguousArrayView.ClearContents()
        {
            if (_length > 0)
                AsSpan().Clear();
        }

        void IContiguousArrayView.CopyContentsTo(IContiguousArrayView target)
        {
            var destination = target switch
            {
                ArrayView<T> view => view,
                ArrayView1D<T, Stride1D.Dense> view => view.BaseView,
                MemoryBuffer<ArrayView1D<T, Stride1D.Dense>> buffer => buffer.View.BaseView,
                _ => throw new NotSupportedException($"Cannot copy an ArrayView<{typeof(T).Name}> into a {target.GetType().Name}."),
            };
            if (destination.Length != _length)
            {
                throw new ArgumentOutOfRangeException(
                    nameof(target),
                    $"CopyTo: the source view has {_length} elements but the target has {destination.Length}; the lengths must be equal.");
            }
            AsSpan().CopyTo(destination.AsSpan());
        }

        internal Span<T> AsSpan() =>
            _length == 0 ? Span<T>.Empty : new Span<T>(_array!, checked((int)_offset), checked((int)_length));

        public override string ToString() => $"ArrayView<{typeof(T).Name}>[{_length}]";

        public static implicit operator ArrayView1D<T, Stride1D.Dense>(ArrayView<T> view) => new(view);
        public static implicit operator ArrayView<T>(ArrayView1D<T, Stride1D.Dense> view) => view.BaseView;

        [DoesNotReturn]
        private static void ThrowOutOfRange(long index, long length) =>
            throw new IndexOutOfRangeException(
                $"Index {index} is out of range of an ArrayView<{typeof(T).Name}> of length {length} (valid: 0 to {length - 1}).");
    }
}

namespace ILGPU.Runtime
{
    /// <summary>A one-dimensional view with an explicit stride (ILGPU.Runtime.ArrayView1D). Only the dense
    /// stride is supported by the compatibility layer.</summary>
    public readonly struct ArrayView1D<T, TStride> : IContiguousArrayView
        where T : unmanaged
        where TStride : struct, IStride1D
    {
        private readonly ArrayView<T> _baseView;

        internal ArrayView1D(ArrayView<T> baseView)
        {
            if (typeof(TStride) != typeof(Stride1D.Dense))
                throw new NotSupportedException("The ILGPU compatibility layer supports dense 1D views only.");
            _baseView = baseView;
        }

        public ArrayView<T> BaseView => _baseView;
        public bool IsValid => _baseView.IsValid;
        public long Length => _baseView.Length;
        public int IntLength => _baseView.IntLength;
        public long LengthInBytes => _baseView.LengthInBytes;
        public LongIndex1D Extent => _baseView.Extent;
        public Index1D IntExtent => _baseView.IntExtent;
        public TStride Stride => default;

        public ref T this[Index1D index]
        {
            [MethodImpl(MethodImplOptions.AggressiveInlining)]
            get => ref _baseView[index.X];
        }

        public ref T this[LongIndex1D index]
        {
            [MethodImpl(MethodImplOptions.AggressiveInlining)]
            get => ref _baseView[index.X];
        }

        public ArrayView1D<T, TStride> SubView(Index1D index, Index1D extent) =>
            new(_baseView.SubView(index.X, extent.X));

        public ArrayView1D<T, TStride> SubView(LongIndex1D index, LongIndex1D extent) =>
            new(_baseView.SubView(index.X, extent.X));

        public ArrayView<T> AsContiguous() => _baseView;

        public ArrayView1D<T, Stride1D.Dense> AsDense() => new(_baseView);

        void IContiguousArrayView.ClearContents() => ((IContiguousArrayView)_baseView).ClearContents();

        void IContiguousArrayView.CopyContentsTo(IContiguousArrayView target) =>
            ((IContiguousArrayView)_baseView).CopyContentsTo(target);

        public override string ToString() => _baseView.ToString();
    }
}
