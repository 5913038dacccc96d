using ILGPU;
using ILGPU.Runtime;

namespace AttentionWise;

/// <summary>
/// A float32 tensor in device memory: a shape and a buffer. The buffer can be larger than the shape
/// (its capacity), so that a tensor resized to a smaller batch keeps its memory and a later resize back
/// does not reallocate. <see cref="View"/> always covers exactly <see cref="Length"/> elements.
/// </summary>
public sealed class DeviceTensor : IDisposable
{
    private readonly DeviceStorage<float> _storage;

    internal DeviceTensor(ComputeDevice device, Shape shape)
    {
        ArgumentNullException.ThrowIfNull(device);
        ArgumentNullException.ThrowIfNull(shape);
        Device = device;
        Shape = shape;
        _storage = new DeviceStorage<float>(device, "DeviceTensor", Math.Max(1, shape.Length));
        View = _storage.View(shape.Length);
    }

    /// <summary>The device whose memory holds the tensor.</summary>
    public ComputeDevice Device { get; }
    /// <summary>The tensor's shape (the first dimension is the batch).</summary>
    public Shape Shape { get; private set; }
    /// <summary>Elements in <see cref="Shape"/>.</summary>
    public int Length => Shape.Length;

    /// <summary>Elements the buffer can hold without reallocating.</summary>
    public long Capacity => _storage.Capacity;

    /// <summary>The device view of exactly <see cref="Length"/> elements, to pass to kernels.</summary>
    public ArrayView<float> View { get; private set; }

    /// <summary>True once <see cref="Dispose"/> has released the memory.</summary>
    public bool IsDisposed { get; private set; }

    /// <summary>The address of the first element, for host code of the cpu device (whose buffers are host memory); null
    /// for an empty tensor. Valid until the tensor is resized or disposed.</summary>
    /// <exception cref="InvalidOperationException">The tensor is not on the cpu device.</exception>
    internal unsafe float* HostPointer
    {
        get
        {
            ThrowIfDisposed();
            if (Device.Kind != DeviceKind.Cpu)
                throw new InvalidOperationException($"DeviceTensor{Shape} is on {Device}: only tensors of the cpu device have a host address.");
            return Length == 0 ? null : (float*)System.Runtime.CompilerServices.Unsafe.AsPointer(ref View[0]);
        }
    }

    /// <summary>Copies <paramref name="data"/> (exactly <see cref="Length"/> values) to the device.</summary>
    public void Upload(float[] data)
    {
        ArgumentNullException.ThrowIfNull(data);
        ThrowIfDisposed();
        if (data.Length != Length)
            throw new ArgumentException($"Upload: the tensor has shape {Shape} ({Length} elements) but {data.Length} values were given.", nameof(data));
        _storage.Upload(View, data);
    }

    /// <summary>Copies the tensor to a new host array.</summary>
    public float[] Download()
    {
        ThrowIfDisposed();
        return _storage.Download(View);
    }

    /// <summary>Sets every element to zero.</summary>
    public void Zero()
    {
        ThrowIfDisposed();
        _storage.Zero(View);
    }

    /// <summary>Gives the tensor a new shape with the same number of elements (a view change, no copy).</summary>
    public void Reshape(Shape shape)
    {
        ArgumentNullException.ThrowIfNull(shape);
        if (shape.Length != Length)
            throw new ShapeMismatchException($"Reshape to {shape} ({shape.Length} elements)", Shape, shape);
        Shape = shape;
    }

    /// <summary>
    /// Gives the tensor a new shape of any size. Keeps the buffer when it is large enough, otherwise
    /// reallocates; the contents are undefined afterwards either way.
    /// </summary>
    public void Resize(Shape shape)
    {
        ArgumentNullException.ThrowIfNull(shape);
        ThrowIfDisposed();
        _storage.EnsureCapacity(shape.Length);
        Shape = shape;
        View = _storage.View(shape.Length);
    }

    /// <summary>Copies another tensor of the same shape into this one.</summary>
    public void CopyFrom(DeviceTensor source)
    {
        ArgumentNullException.ThrowIfNull(source);
        ThrowIfDisposed();
        Shape.Require(Shape, source.Shape, "DeviceTensor.CopyFrom");
        Device.Loader.Transfer("DeviceTensor.CopyFrom", LaunchKind.Copy, Length * 4L, (From: source.View, To: View), static s =>
        {
            if (s.To.Length > 0)
                s.From.CopyTo(s.To);
        });
    }

    public void Dispose()
    {
        if (IsDisposed)
            return;
        IsDisposed = true;
        _storage.Release();
    }

    public override string ToString() => $"DeviceTensor{Shape} on {Device.Name}";

    private void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(IsDisposed, this);
}
