using ILGPU;
using ILGPU.Runtime;

namespace AttentionWise;

/// <summary>
/// The device memory behind <see cref="DeviceTensor"/> and <see cref="DeviceIntTensor"/>: a buffer that may be larger
/// than the tensor's shape (its capacity), counted in the device's allocated bytes, poisoned (all bits set: NaN for
/// floats, −1 for integers) when the device asks for it, and the uploads, downloads and fills that go through the
/// device's loader (so a launch interceptor sees them), named after the tensor type.
/// </summary>
internal sealed class DeviceStorage<T>
    where T : unmanaged
{
    private readonly ComputeDevice _device;
    private readonly string _upload, _download, _zero;
    private MemoryBuffer1D<T, Stride1D.Dense> _buffer;
    private long _trackedBytes;

    public DeviceStorage(ComputeDevice device, string owner, long length)
    {
        _device = device;
        (_upload, _download, _zero) = ($"{owner}.Upload", $"{owner}.Download", $"{owner}.Zero");
        _buffer = Allocate(length);
    }

    /// <summary>Elements the buffer holds.</summary>
    public long Capacity => _buffer.Length;

    /// <summary>The first <paramref name="length"/> elements.</summary>
    public ArrayView<T> View(int length) => _buffer.AsContiguous().SubView(0, length);

    /// <summary>Reallocates (contents undefined) when the buffer holds fewer than <paramref name="length"/> elements.</summary>
    public void EnsureCapacity(long length)
    {
        if (length <= _buffer.Length)
            return;
        Release();
        _buffer = Allocate(length);
    }

    /// <summary>Copies <paramref name="data"/> into <paramref name="view"/> (the same length, checked by the caller).</summary>
    public void Upload(ArrayView<T> view, T[] data) =>
        _device.Loader.Transfer(_upload, LaunchKind.Upload, view.LengthInBytes, (view, data), static s => s.view.CopyFromCPU(s.data));

    /// <summary>Copies <paramref name="view"/> to a new host array.</summary>
    public T[] Download(ArrayView<T> view)
    {
        var result = new T[view.Length];
        _device.Loader.Transfer(_download, LaunchKind.Download, view.LengthInBytes, (view, result), static s =>
        {
            if (s.view.Length > 0)
                s.view.CopyToCPU(s.result);
        });
        return result;
    }

    /// <summary>Sets every element of <paramref name="view"/> to zero.</summary>
    public void Zero(ArrayView<T> view) =>
        _device.Loader.Transfer(_zero, LaunchKind.Fill, view.LengthInBytes, view, static v =>
        {
            if (v.Length > 0)
                v.MemSetToZero();
        });

    public void Release()
    {
        _buffer.Dispose();
        _device.TrackAllocation(-_trackedBytes);
        _trackedBytes = 0;
    }

    private MemoryBuffer1D<T, Stride1D.Dense> Allocate(long length)
    {
        var buffer = _device.Accelerator.Allocate1D<T>(length);
        _device.Recorder?.Note("allocate");
        // All bits set: a NaN for floats, −1 for integers, so that memory nobody wrote fails its test on every device.
        if (_device.Options.PoisonNewBuffers)
            buffer.View.MemSet(0xFF);
        _trackedBytes = buffer.LengthInBytes;
        _device.TrackAllocation(_trackedBytes);
        return buffer;
    }
}
