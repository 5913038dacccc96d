using System.Collections.Concurrent;
using System.Globalization;
using ILGPU;
using ILGPU.Runtime;

namespace AttentionWise;

/// <summary>The kinds of accelerator AttentionWise can run on.</summary>
public enum DeviceKind
{
    Cpu,
    Cuda,
    OpenCL,
}

/// <summary>One device of the machine, as listed by <see cref="ComputeDevice.List"/>.</summary>
/// <param name="Index">Position in ILGPU's device list; <c>--device N</c> picks it.</param>
public sealed record DeviceInfo(int Index, DeviceKind Kind, string Name, long MemoryBytes)
{
    /// <summary>The name used on the command line: cuda, opencl or cpu.</summary>
    public string KindName => ComputeDevice.KindName(Kind);

    public override string ToString() =>
        string.Create(CultureInfo.InvariantCulture, $"[{Index}] {KindName,-6} {Name} ({MemoryBytes / (1024.0 * 1024 * 1024):0.0} GiB)");
}

/// <summary>The requested device does not exist on this machine.</summary>
public sealed class DeviceNotFoundException : Exception
{
    public DeviceNotFoundException(string message) : base(message) { }
}

/// <summary>A set of kernels loaded once per accelerator and cached by <see cref="ComputeDevice.Kernels{T}"/>.</summary>
public interface IKernelSet<TSelf> where TSelf : class, IKernelSet<TSelf>
{
    /// <summary>Loads (compiles) every kernel of the set on the accelerator.</summary>
    static abstract TSelf Load(Accelerator accelerator);
}

/// <summary>
/// The only place where an accelerator is chosen. Owns the ILGPU context and accelerator, caches the
/// loaded kernels, counts the device memory that tensors hold, and chooses launch layouts.
/// </summary>
public sealed class ComputeDevice : IDisposable
{
    /// <summary>Threads per core for element-wise launches on CPUs: enough for load balance.</summary>
    private const int CpuThreadsPerCore = 8;

    private readonly ConcurrentDictionary<Type, object> _kernelSets = new();
    private readonly Context _context;
    private long _allocatedBytes;
    private long _peakBytes;
    private bool _disposed;

    private ComputeDevice(Context context, Accelerator accelerator, DeviceInfo info)
    {
        _context = context;
        Accelerator = accelerator;
        Info = info;
    }

    /// <summary>Which ILGPU this build runs on: "ILGPU 1.5.3" or "ILGPU compatibility layer (CPU only)".</summary>
    public static string IlgpuFlavor =>
        IsCompatibilityLayer ? "ILGPU compatibility layer (CPU only)" : $"ILGPU {typeof(Context).Assembly.GetName().Version?.ToString(3)}";

    /// <summary>True when built against the compatibility layer instead of the ILGPU package.</summary>
    public static bool IsCompatibilityLayer => typeof(Context).Assembly.GetName().Name == "ILGPU.Compat";

    public Accelerator Accelerator { get; }
    public DeviceInfo Info { get; }
    public DeviceKind Kind => Info.Kind;
    public string Name => Info.Name;

    /// <summary>Bytes currently held by tensors of this device.</summary>
    public long AllocatedBytes => Interlocked.Read(ref _allocatedBytes);

    /// <summary>The most bytes tensors held at once since creation or <see cref="ResetPeak"/>.</summary>
    public long PeakAllocatedBytes => Interlocked.Read(ref _peakBytes);

    public void ResetPeak() => Interlocked.Exchange(ref _peakBytes, AllocatedBytes);

    /// <summary>Creates the ILGPU context every device query uses.</summary>
    public static Context CreateContext() => Context.Create(builder => builder.Default().EnableAlgorithms());

    /// <summary>Every device of this machine, in ILGPU's order.</summary>
    public static IReadOnlyList<DeviceInfo> List()
    {
        using var context = CreateContext();
        return Describe(context);
    }

    /// <summary>
    /// Opens a device: <c>null</c> or "auto" takes CUDA, then OpenCL, then the CPU; "cuda", "opencl" or
    /// "cpu" takes the first device of that kind; a number takes that entry of <see cref="List"/>.
    /// </summary>
    /// <exception cref="DeviceNotFoundException">No such device; the message lists the devices that exist.</exception>
    public static ComputeDevice Open(string? choice = null)
    {
        var context = CreateContext();
        try
        {
            var devices = Describe(context);
            var info = Choose(devices, choice);
            var accelerator = context.Devices[info.Index].CreateAccelerator(context);
            return new ComputeDevice(context, accelerator, info);
        }
        catch
        {
            context.Dispose();
            throw;
        }
    }

    /// <summary>Picks a device from a list (see <see cref="Open"/>); public for the command line and tests.</summary>
    public static DeviceInfo Choose(IReadOnlyList<DeviceInfo> devices, string? choice)
    {
        string wanted = (choice ?? "auto").Trim().ToLowerInvariant();
        if (wanted is "" or "auto")
        {
            foreach (var kind in new[] { DeviceKind.Cuda, DeviceKind.OpenCL, DeviceKind.Cpu })
            {
                var found = devices.FirstOrDefault(d => d.Kind == kind);
                if (found is not null)
                    return found;
            }
            throw new DeviceNotFoundException("ILGPU reports no device at all on this machine.");
        }

        if (int.TryParse(wanted, NumberStyles.None, CultureInfo.InvariantCulture, out int index))
        {
            if (index >= 0 && index < devices.Count)
                return devices[index];
            throw new DeviceNotFoundException($"There is no device {index}. {Available(devices)}");
        }

        DeviceKind? kindWanted = wanted switch
        {
            "cuda" => DeviceKind.Cuda,
            "opencl" or "cl" => DeviceKind.OpenCL,
            "cpu" => DeviceKind.Cpu,
            _ => null,
        };
        if (kindWanted is null)
        {
            throw new DeviceNotFoundException(
                $"Unknown device '{choice}': use auto, cuda, opencl, cpu or a device number. {Available(devices)}");
        }
        return devices.FirstOrDefault(d => d.Kind == kindWanted)
            ?? throw new DeviceNotFoundException($"No {KindName(kindWanted.Value)} device is available. {Available(devices)}");
    }

    internal static string KindName(DeviceKind kind) => kind switch
    {
        DeviceKind.Cuda => "cuda",
        DeviceKind.OpenCL => "opencl",
        _ => "cpu",
    };

    /// <summary>The kernels of set <typeparamref name="T"/>, loaded on first use and then reused.</summary>
    public T Kernels<T>() where T : class, IKernelSet<T>
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        return (T)_kernelSets.GetOrAdd(typeof(T), static (_, accelerator) => T.Load(accelerator), Accelerator);
    }

    /// <summary>The launch layout for an element-wise pass over <paramref name="length"/> elements.</summary>
    public LaunchLayout Layout(int length) =>
        Kind == DeviceKind.Cpu
            ? LaunchLayout.Contiguous(length, Math.Max(1, Accelerator.NumMultiprocessors) * CpuThreadsPerCore)
            : LaunchLayout.GridStride(length, Math.Max(1, Accelerator.MaxNumThreads));

    /// <summary>Allocates an uninitialised tensor.</summary>
    public DeviceTensor Allocate(Shape shape) => new(this, shape);

    /// <summary>Allocates a tensor and uploads <paramref name="data"/> into it.</summary>
    public DeviceTensor Upload(Shape shape, float[] data)
    {
        var tensor = new DeviceTensor(this, shape);
        tensor.Upload(data);
        return tensor;
    }

    /// <summary>Allocates a zero-filled tensor.</summary>
    public DeviceTensor Zeros(Shape shape)
    {
        var tensor = new DeviceTensor(this, shape);
        tensor.Zero();
        return tensor;
    }

    /// <summary>Waits until all launched work is done.</summary>
    public void Synchronize() => Accelerator.Synchronize();

    internal void TrackAllocation(long bytes)
    {
        long now = Interlocked.Add(ref _allocatedBytes, bytes);
        long peak;
        while (now > (peak = Interlocked.Read(ref _peakBytes)) && Interlocked.CompareExchange(ref _peakBytes, now, peak) != peak)
        {
        }
    }

    public void Dispose()
    {
        if (_disposed)
            return;
        _disposed = true;
        Accelerator.Dispose();
        _context.Dispose();
    }

    public override string ToString() => $"{KindName(Kind)}: {Name}";

    private static List<DeviceInfo> Describe(Context context)
    {
        var list = new List<DeviceInfo>();
        int index = 0;
        foreach (var device in context.Devices)
        {
            var kind = device.AcceleratorType switch
            {
                AcceleratorType.Cuda => DeviceKind.Cuda,
                AcceleratorType.OpenCL => DeviceKind.OpenCL,
                _ => DeviceKind.Cpu,
            };
            list.Add(new DeviceInfo(index++, kind, device.Name, device.MemorySize));
        }
        return list;
    }

    private static string Available(IReadOnlyList<DeviceInfo> devices) =>
        devices.Count == 0
            ? "ILGPU reports no devices."
            : "Devices on this machine:" + string.Concat(devices.Select(d => Environment.NewLine + "  " + d));
}
