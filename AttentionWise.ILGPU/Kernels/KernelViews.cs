// How kernels index float memory. A kernel takes ILGPU ArrayViews as parameters (so that every device launches it
// with the same arguments) and turns each into a TView at its start: DeviceView on devices where ILGPU compiles or
// simulates the kernel, HostView on the cpu device, where the kernel runs as .NET code. Both index the same memory;
// the difference is the cost on the host: an ILGPU ArrayView finds its element through the view's buffer object on
// every access (a chain of dependent loads the JIT cannot hoist out of a loop), a HostView holds the address.
using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;
using ILGPU;

namespace AttentionWise.Kernels;

/// <summary>A float view as kernels index it (see the file header).</summary>
internal interface IKernelView<TSelf> where TSelf : struct, IKernelView<TSelf>
{
    /// <summary>The view of an ILGPU ArrayView's elements.</summary>
    static abstract TSelf Of(ArrayView<float> view);

    /// <summary>The element at <paramref name="index"/>.</summary>
    ref float this[int index] { get; }
}

/// <summary>A view for ILGPU's compilers and its CPU simulator: the ArrayView itself, indexed as ILGPU indexes it.</summary>
internal readonly struct DeviceView : IKernelView<DeviceView>
{
    private readonly ArrayView<float> _view;

    private DeviceView(ArrayView<float> view) => _view = view;

    public static DeviceView Of(ArrayView<float> view) => new(view);

    public ref float this[int index] => ref _view[index];
}

/// <summary>A view for kernels run as .NET code over a CPU accelerator's buffer: the address and the length. Each access
/// is checked against the length (an out-of-range index throws, naming both).</summary>
internal unsafe struct HostView : IKernelView<HostView>
{
    private readonly float* _data;
    private readonly int _length;

    private HostView(float* data, int length)
    {
        _data = data;
        _length = length;
    }

    /// <summary>The view of <paramref name="view"/>, whose memory must be a CPU accelerator's (the cpu device's).</summary>
    public static HostView Of(ArrayView<float> view)
    {
        if (view.Length == 0)
            return default;
        if (view.Length > int.MaxValue)
            throw new ArgumentOutOfRangeException(nameof(view), $"A view of {view.Length} elements is too long for a kernel's int index.");
        return new HostView((float*)Unsafe.AsPointer(ref view[0]), (int)view.Length);
    }

    public int Length => _length;

    public ref float this[int index]
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get
        {
            if ((uint)index >= (uint)_length)
                OutOfRange(index, _length);
            return ref _data[index];
        }
    }

    // No [NoInlining]: the JIT must see that this only throws, so that the call is known not to return. Otherwise the
    // call counts as one across which every float register is lost (all are caller-saved in the SysV ABI) and the
    // kernels' accumulators are spilled to the stack, which makes the register-tiled kernels about 3 times slower.
    [DoesNotReturn]
    private static void OutOfRange(int index, int length) =>
        throw new IndexOutOfRangeException($"A kernel read or wrote element {index} of a view of {length} elements.");
}
