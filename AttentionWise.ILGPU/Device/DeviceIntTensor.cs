using ILGPU;
using ILGPU.Runtime;

namespace AttentionWise;

/// <summary>
/// A tensor of 32-bit integers in device memory: class labels (for <see cref="Layers.LogSoftmaxNllLoss"/>) and row numbers
/// (for <see cref="Gather"/>), which a float tensor would hold exactly only below 2²⁴. Like <see cref="DeviceTensor"/>, a
/// shape and a buffer that may be larger than the shape (its capacity); <see cref="View"/> covers exactly
/// <see cref="Length"/> elements.
/// </summary>
public sealed class DeviceIntTensor : IDisposable
{
    private MemoryBuffer1D<int, Stride1D.Dense> _buffer;
    private long _trackedBytes;

    /// <summary>Allocates an uninitialised tensor (every element −1 with <see cref="DeviceOptions.PoisonNewBuffers"/>).</summary>
    public DeviceIntTensor(ComputeDevice device, Shape shape)
    {
        ArgumentNullException.ThrowIfNull(device);
        ArgumentNullException.ThrowIfNull(shape);
        Device = device;
        Shape = shape;
        _buffer = AllocateBuffer(Math.Max(1, shape.Length));
        View = _buffer.AsContiguous().SubView(0, shape.Length);
    }

    /// <summary>A one-dimensional tensor holding <paramref name="values"/>.</summary>
    public static DeviceIntTensor Upload(ComputeDevice device, int[] values)
    {
        ArgumentNullException.ThrowIfNull(values);
        var tensor = new DeviceIntTensor(device, Shape.Of(values.Length));
        try
        {
            tensor.Upload(values);
            return tensor;
        }
        catch
        {
            tensor.Dispose();
            throw;
        }
    }

    public ComputeDevice Device { get; }
    public Shape Shape { get; private set; }
    public int Length => Shape.Length;

    /// <summary>Elements the buffer can hold without reallocating.</summary>
    public long Capacity => _buffer.Length;

    /// <summary>The device view of exactly <see cref="Length"/> elements, to pass to kernels.</summary>
    public ArrayView<int> View { get; private set; }

    public bool IsDisposed { get; private set; }

    /// <summary>Copies <paramref name="data"/> (exactly <see cref="Length"/> values) to the device.</summary>
    public void Upload(int[] data)
    {
        ArgumentNullException.ThrowIfNull(data);
        ThrowIfDisposed();
        if (data.Length != Length)
            throw new ArgumentException($"Upload: the tensor has shape {Shape} ({Length} elements) but {data.Length} values were given.", nameof(data));
        Device.Loader.Transfer("DeviceIntTensor.Upload", LaunchKind.Upload, Length * 4L, (View, data), static s => s.View.CopyFromCPU(s.data));
    }

    /// <summary>Copies the tensor to a new host array.</summary>
    public int[] Download()
    {
        ThrowIfDisposed();
        var result = new int[Length];
        Device.Loader.Transfer("DeviceIntTensor.Download", LaunchKind.Download, Length * 4L, (View, result), static s =>
        {
            if (s.View.Length > 0)
                s.View.CopyToCPU(s.result);
        });
        return result;
    }

    /// <summary>Sets every element to zero.</summary>
    public void Zero()
    {
        ThrowIfDisposed();
        Device.Loader.Transfer("DeviceIntTensor.Zero", LaunchKind.Fill, Length * 4L, View, static view =>
        {
            if (view.Length > 0)
                view.MemSetToZero();
        });
    }

    /// <summary>Gives the tensor a new shape of any size. Keeps the buffer when it is large enough, otherwise reallocates;
    /// the contents are undefined afterwards either way.</summary>
    public void Resize(Shape shape)
    {
        ArgumentNullException.ThrowIfNull(shape);
        ThrowIfDisposed();
        if (shape.Length > _buffer.Length)
        {
            ReleaseBuffer();
            _buffer = AllocateBuffer(shape.Length);
        }
        Shape = shape;
        View = _buffer.AsContiguous().SubView(0, shape.Length);
    }

    public void Dispose()
    {
        if (IsDisposed)
            return;
        IsDisposed = true;
        ReleaseBuffer();
    }

    public override string ToString() => $"DeviceIntTensor{Shape} on {Device.Name}";

    private MemoryBuffer1D<int, Stride1D.Dense> AllocateBuffer(long length)
    {
        var buffer = Device.Accelerator.Allocate1D<int>(length);
        Device.Recorder?.Note("allocate");
        // All bits set is −1: a label or row number nobody wrote is out of range on every device.
        if (Device.Options.PoisonNewBuffers)
            buffer.View.MemSet(0xFF);
        _trackedBytes = buffer.LengthInBytes;
        Device.TrackAllocation(_trackedBytes);
        return buffer;
    }

    private void ReleaseBuffer()
    {
        _buffer.Dispose();
        Device.TrackAllocation(-_trackedBytes);
        _trackedBytes = 0;
    }

    private void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(IsDisposed, this);
}
