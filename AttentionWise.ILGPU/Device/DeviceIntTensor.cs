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
    private readonly DeviceStorage<int> _storage;

    /// <summary>Allocates an uninitialised tensor (every element −1 with <see cref="DeviceOptions.PoisonNewBuffers"/>).</summary>
    public DeviceIntTensor(ComputeDevice device, Shape shape)
    {
        ArgumentNullException.ThrowIfNull(device);
        ArgumentNullException.ThrowIfNull(shape);
        Device = device;
        Shape = shape;
        _storage = new DeviceStorage<int>(device, "DeviceIntTensor", Math.Max(1, shape.Length));
        View = _storage.View(shape.Length);
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

    /// <summary>The device whose memory holds the tensor.</summary>
    public ComputeDevice Device { get; }
    /// <summary>The tensor's shape (the first dimension is the batch).</summary>
    public Shape Shape { get; private set; }
    /// <summary>Elements in <see cref="Shape"/>.</summary>
    public int Length => Shape.Length;

    /// <summary>Elements the buffer can hold without reallocating.</summary>
    public long Capacity => _storage.Capacity;

    /// <summary>The device view of exactly <see cref="Length"/> elements, to pass to kernels.</summary>
    public ArrayView<int> View { get; private set; }

    /// <summary>True once <see cref="Dispose"/> has released the memory.</summary>
    public bool IsDisposed { get; private set; }

    /// <summary>Copies <paramref name="data"/> (exactly <see cref="Length"/> values) to the device.</summary>
    public void Upload(int[] data)
    {
        ArgumentNullException.ThrowIfNull(data);
        ThrowIfDisposed();
        if (data.Length != Length)
            throw new ArgumentException($"Upload: the tensor has shape {Shape} ({Length} elements) but {data.Length} values were given.", nameof(data));
        _storage.Upload(View, data);
    }

    /// <summary>Copies the tensor to a new host array.</summary>
    public int[] Download()
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

    /// <summary>Gives the tensor a new shape of any size. Keeps the buffer when it is large enough, otherwise reallocates;
    /// the contents are undefined afterwards either way.</summary>
    public void Resize(Shape shape)
    {
        ArgumentNullException.ThrowIfNull(shape);
        ThrowIfDisposed();
        _storage.EnsureCapacity(shape.Length);
        Shape = shape;
        View = _storage.View(shape.Length);
    }

    public void Dispose()
    {
        if (IsDisposed)
            return;
        IsDisposed = true;
        _storage.Release();
    }

    public override string ToString() => $"DeviceIntTensor{Shape} on {Device.Name}";

    private void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(IsDisposed, this);
}
