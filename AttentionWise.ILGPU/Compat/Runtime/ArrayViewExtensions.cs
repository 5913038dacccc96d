// ILGPU.Runtime.ArrayViewExtensions: host-side copies, fills and allocation helpers.
namespace ILGPU.Runtime
{
    /// <summary>Host-side operations on views and buffers.</summary>
    public static class ArrayViewExtensions
    {
        // ---- allocation -------------------------------------------------------------------------

        /// <summary>Allocates a buffer and copies <paramref name="data"/> into it.</summary>
        public static MemoryBuffer1D<T, Stride1D.Dense> Allocate1D<T>(this Accelerator accelerator, T[] data)
            where T : unmanaged
        {
            ArgumentNullException.ThrowIfNull(accelerator);
            ArgumentNullException.ThrowIfNull(data);
            var buffer = accelerator.Allocate1D<T>(data.Length);
            buffer.View.CopyFromCPU(data);
            return buffer;
        }

        // ---- host -> device ---------------------------------------------------------------------

        public static void CopyFromCPU<T>(this ArrayView1D<T, Stride1D.Dense> view, T[] data) where T : unmanaged
        {
            ArgumentNullException.ThrowIfNull(data);
            CheckSameLength(view.Length, data.Length, "CopyFromCPU");
            if (data.Length > 0)
                data.AsSpan().CopyTo(view.BaseView.AsSpan());
        }

        public static void CopyFromCPU<T>(this ArrayView<T> view, T[] data) where T : unmanaged =>
            ((ArrayView1D<T, Stride1D.Dense>)view).CopyFromCPU(data);

        public static void CopyFromCPU<T>(this MemoryBuffer<ArrayView1D<T, Stride1D.Dense>> buffer, T[] data)
            where T : unmanaged =>
            buffer.View.CopyFromCPU(data);

        // ---- device -> host ---------------------------------------------------------------------

        public static void CopyToCPU<T>(this ArrayView1D<T, Stride1D.Dense> view, T[] data) where T : unmanaged
        {
            ArgumentNullException.ThrowIfNull(data);
            CheckSameLength(view.Length, data.Length, "CopyToCPU");
            if (data.Length > 0)
                view.BaseView.AsSpan().CopyTo(data);
        }

        public static void CopyToCPU<T>(this ArrayView<T> view, T[] data) where T : unmanaged =>
            ((ArrayView1D<T, Stride1D.Dense>)view).CopyToCPU(data);

        public static void CopyToCPU<T>(this MemoryBuffer<ArrayView1D<T, Stride1D.Dense>> buffer, T[] data)
            where T : unmanaged =>
            buffer.View.CopyToCPU(data);

        public static T[] GetAsArray1D<T>(this ArrayView1D<T, Stride1D.Dense> view) where T : unmanaged
        {
            var result = new T[view.Length];
            view.CopyToCPU(result);
            return result;
        }

        public static T[] GetAsArray1D<T>(this MemoryBuffer<ArrayView1D<T, Stride1D.Dense>> buffer) where T : unmanaged =>
            buffer.View.GetAsArray1D();

        public static T[] GetAsArray<T>(this ArrayView<T> view) where T : unmanaged =>
            ((ArrayView1D<T, Stride1D.Dense>)view).GetAsArray1D();

        // ---- device -> device -------------------------------------------------------------------

        /// <summary>Copies a view or buffer into another of the same type and length.</summary>
        public static void CopyTo<TView>(this TView source, in TView target) where TView : IContiguousArrayView
        {
            ArgumentNullException.ThrowIfNull(source);
            ArgumentNullException.ThrowIfNull(target);
            source.CopyContentsTo(target);
        }

        public static void CopyTo<T>(this ArrayView1D<T, Stride1D.Dense> source, ArrayView1D<T, Stride1D.Dense> target)
            where T : unmanaged
        {
            CheckSameLength(target.Length, source.Length, "CopyTo");
            source.BaseView.AsSpan().CopyTo(target.BaseView.AsSpan());
        }

        public static void CopyFrom<T>(this ArrayView1D<T, Stride1D.Dense> target, in ArrayView1D<T, Stride1D.Dense> source)
            where T : unmanaged =>
            source.CopyTo(target);

        // ---- fills ------------------------------------------------------------------------------

        /// <summary>Sets every element of a view or buffer to zero.</summary>
        public static void MemSetToZero<TView>(this TView view) where TView : IContiguousArrayView
        {
            ArgumentNullException.ThrowIfNull(view);
            view.ClearContents();
        }

        public static void MemSetToZero<T>(this ArrayView1D<T, Stride1D.Dense> view) where T : unmanaged =>
            ((IContiguousArrayView)view).ClearContents();

        private static void CheckSameLength(long viewLength, long dataLength, string operation)
        {
            if (viewLength != dataLength)
            {
                throw new ArgumentOutOfRangeException(
                    nameof(dataLength),
                    $"{operation}: the view has {viewLength} elements but the other side has {dataLength}; the lengths must be equal.");
            }
        }
    }
}
