using System.Collections.Concurrent;
using System.Globalization;
using ILGPU;
using ILGPU.Runtime;
using ILGPU.Runtime.CPU;

namespace AttentionWise;

/// <summary>The kinds of device AttentionWise can run on; each launches kernels its own way.</summary>
public enum DeviceKind
{
    /// <summary><c>cpu</c>: the kernels run as .NET code on AttentionWise's host launcher, over an ILGPU CPU
    /// accelerator's buffers (fast; implicitly grouped kernels only).</summary>
    Cpu,

    /// <summary><c>cuda</c>: ILGPU compiles the kernels to PTX.</summary>
    Cuda,

    /// <summary><c>opencl</c>: ILGPU compiles the kernels to OpenCL C.</summary>
    OpenCL,

    /// <summary><c>cpu-sim</c>: ILGPU's CPU accelerator with ILGPU's own launch, a GPU simulator (warps, groups,
    /// barriers and shared memory, on OS threads); slow, for tests and explicitly grouped kernels. Kernel sets treat
    /// it as a GPU.</summary>
    CpuSimulator,
}

/// <summary>One device of the machine, as listed by <see cref="ComputeDevice.List"/>.</summary>
/// <param name="Index">Position in <see cref="ComputeDevice.List"/>; <c>--device N</c> picks it.</param>
/// <param name="IlgpuIndex">Position of the ILGPU device behind it in ILGPU's device list (the <c>cpu</c> and
/// <c>cpu-sim</c> devices share ILGPU's CPU device).</param>
public sealed record DeviceInfo(int Index, DeviceKind Kind, string Name, long MemoryBytes, int IlgpuIndex = -1)
{
    /// <summary>The name used on the command line: cuda, opencl, cpu or cpu-sim.</summary>
    public string KindName => ComputeDevice.KindName(Kind);

    /// <summary>What the device is for, in a few words.</summary>
    public string Purpose => Kind switch
    {
        DeviceKind.Cpu => "kernels run as .NET code on all cores",
        DeviceKind.CpuSimulator => "ILGPU's GPU simulator: slow, for tests",
        DeviceKind.Cuda => "kernels compiled to PTX by ILGPU",
        _ => "kernels compiled to OpenCL C by ILGPU",
    };

    public override string ToString() =>
        string.Create(CultureInfo.InvariantCulture, $"[{Index}] {KindName,-7} {Name} ({MemoryBytes / (1024.0 * 1024 * 1024):0.0} GiB)");
}

/// <summary>Options of an opened device.</summary>
/// <param name="PoisonNewBuffers">Fill every new buffer with NaN (tests: GPU memory is not zeroed, so code that relies on
/// zeroed allocations must fail on every device).</param>
/// <param name="HostPasses">The cpu device runs its host passes (BLAS products where a BLAS is loaded, vectorised attention
/// heads, narrow convolutions and element-wise passes) instead of its plain kernels (off: the kernels, as on every other
/// device).</param>
/// <param name="Simd">The vector width of the cpu device's vectorised host passes; null: AW_SIMD (512, 256 or scalar)
/// when set, else the widest this CPU accelerates.</param>
/// <param name="Recorder">Records every launch, transfer and allocation (GPU-shaped devices only): the performance
/// model's input. With a target geometry the device reports that GPU's to the layers.</param>
/// <param name="Interceptor">Sees every launch, host pass and transfer (e.g. a <see cref="KernelTimer"/>); null: launches
/// cost nothing extra.</param>
public sealed record DeviceOptions(bool PoisonNewBuffers = false, bool HostPasses = true, AttentionWise.Host.SimdWidth? Simd = null, LaunchRecorder? Recorder = null,
    ILaunchInterceptor? Interceptor = null);

/// <summary>The requested device does not exist on this machine.</summary>
public sealed class DeviceNotFoundException : Exception
{
    public DeviceNotFoundException(string message) : base(message) { }
}

/// <summary>A set of kernels loaded once per accelerator and cached by <see cref="ComputeDevice.Kernels{T}"/>.</summary>
internal interface IKernelSet<TSelf> where TSelf : class, IKernelSet<TSelf>
{
    /// <summary>Loads every kernel of the set through the device's loader (which compiles them where the device
    /// compiles kernels).</summary>
    static abstract TSelf Load(KernelLoader loader);
}

/// <summary>
/// The only place where an accelerator is chosen. Owns the ILGPU context and accelerator, decides how kernels are
/// launched (its <see cref="Loader"/>), caches the loaded kernel sets, counts the device memory that tensors hold,
/// and chooses launch layouts.
/// </summary>
public sealed class ComputeDevice : IDisposable
{
    /// <summary>Threads per core for element-wise launches on the host launcher: enough for load balance.</summary>
    private const int CpuThreadsPerCore = 8;

    private readonly ConcurrentDictionary<Type, object> _kernelSets = new();
    private readonly Context _context;
    private long _allocatedBytes;
    private long _peakBytes;
    private bool _disposed;

    private ComputeDevice(Context context, Accelerator accelerator, DeviceInfo info, DeviceOptions options)
    {
        _context = context;
        Accelerator = accelerator;
        Info = info;
        Options = options;
        if (info.Kind == DeviceKind.Cpu && options.Recorder is not null)
            throw new ArgumentException("Launch recording needs a GPU-shaped device (cpu-sim, cuda or opencl), not the cpu device.", nameof(options));
        Loader = info.Kind == DeviceKind.Cpu
            ? KernelLoader.ForHost(HostLauncher.Shared, accelerator, options.Interceptor)
            : KernelLoader.ForIlgpu(info.Kind, accelerator, InterceptorPair.Of(options.Interceptor, options.Recorder));
        var target = options.Recorder?.Target;
        Multiprocessors = target?.Multiprocessors ?? accelerator.NumMultiprocessors;
        MaxThreads = target?.MaxThreads ?? accelerator.MaxNumThreads;
        MaxGroupThreads = target?.MaxGroupThreads ?? accelerator.MaxNumThreadsPerGroup;
        WarpSize = target?.WarpSize ?? accelerator.WarpSize;
        Backend = Backends.Backend.For(this);
    }

    /// <summary>The implementation of every op on this device, chosen once here: layers call their ops through it.</summary>
    internal Backends.Backend Backend { get; }

    /// <summary>The family of op implementations this device runs (host for <c>cpu</c>, GPU for the other kinds).</summary>
    public Backends.BackendFamily Family => Backend.Family;

    /// <summary>Multiprocessors, as layers choose launch shapes by (a recorder's target GPU's, else the accelerator's).</summary>
    public int Multiprocessors { get; }

    /// <summary>Threads resident at once over the device (a recorder's target GPU's, else the accelerator's).</summary>
    public int MaxThreads { get; }

    /// <summary>The largest group (a recorder's target GPU's, else the accelerator's).</summary>
    public int MaxGroupThreads { get; }

    /// <summary>Threads per warp (a recorder's target GPU's, else the accelerator's).</summary>
    public int WarpSize { get; }

    /// <summary>The launch recorder given in the options, or null.</summary>
    public LaunchRecorder? Recorder => Options.Recorder;

    /// <summary>States the floating-point operations (and optionally the least bytes moved, for a launch that touches its
    /// buffers only in part) of the next launch, for a recorder (nothing without one).</summary>
    public void Work(double? flops, long? bytes = null) => Options.Recorder?.Work(flops, bytes);

    /// <summary>The ILGPU this build runs on, e.g. "ILGPU 1.5.3".</summary>
    public static string IlgpuFlavor => $"ILGPU {typeof(Context).Assembly.GetName().Version?.ToString(3)}";

    public Accelerator Accelerator { get; }
    public DeviceInfo Info { get; }
    public DeviceOptions Options { get; }
    public DeviceKind Kind => Info.Kind;
    public string Name => Info.Name;

    /// <summary>Loads kernels for this device; every kernel set goes through it.</summary>
    public KernelLoader Loader { get; }

    /// <summary>True when kernels and launch layouts are shaped for a GPU: every kind but <c>cpu</c>.</summary>
    public bool GpuShaped => Loader.GpuShaped;

    /// <summary>Bytes currently held by tensors of this device.</summary>
    public long AllocatedBytes => Interlocked.Read(ref _allocatedBytes);

    /// <summary>The most bytes tensors held at once since creation or <see cref="ResetPeak"/>.</summary>
    public long PeakAllocatedBytes => Interlocked.Read(ref _peakBytes);

    public void ResetPeak() => Interlocked.Exchange(ref _peakBytes, AllocatedBytes);

    /// <summary>Creates the ILGPU context every device query uses.</summary>
    public static Context CreateContext() => Context.Create(builder => builder.Default().EnableAlgorithms());

    /// <summary>Every device of this machine: ILGPU's devices in ILGPU's order, its CPU device listed twice, as
    /// <c>cpu</c> and as <c>cpu-sim</c>.</summary>
    public static IReadOnlyList<DeviceInfo> List()
    {
        using var context = CreateContext();
        return Describe(context);
    }

    /// <summary>
    /// Opens a device: <c>null</c> or "auto" takes CUDA, then OpenCL, then the CPU; "cuda", "opencl", "cpu" or
    /// "cpu-sim" takes the first device of that kind; a number takes that entry of <see cref="List"/>.
    /// </summary>
    /// <exception cref="DeviceNotFoundException">No such device; the message lists the devices that exist.</exception>
    public static ComputeDevice Open(string? choice = null, DeviceOptions? options = null)
    {
        var context = CreateContext();
        try
        {
            var devices = Describe(context);
            var info = Choose(devices, choice);
            var device = context.Devices[info.IlgpuIndex];
            var accelerator = info.Kind == DeviceKind.CpuSimulator && device is CPUDevice cpu
                ? cpu.CreateCPUAccelerator(context, CPUAcceleratorMode.Parallel)
                : device.CreateAccelerator(context);
            return new ComputeDevice(context, accelerator, info, options ?? new DeviceOptions());
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
            "cpu-sim" or "sim" => DeviceKind.CpuSimulator,
            _ => null,
        };
        if (kindWanted is null)
        {
            throw new DeviceNotFoundException(
                $"Unknown device '{choice}': use auto, cuda, opencl, cpu, cpu-sim or a device number. {Available(devices)}");
        }
        return devices.FirstOrDefault(d => d.Kind == kindWanted)
            ?? throw new DeviceNotFoundException($"No {KindName(kindWanted.Value)} device is available. {Available(devices)}");
    }

    internal static string KindName(DeviceKind kind) => kind switch
    {
        DeviceKind.Cuda => "cuda",
        DeviceKind.OpenCL => "opencl",
        DeviceKind.CpuSimulator => "cpu-sim",
        _ => "cpu",
    };

    /// <summary>The kernels of set <typeparamref name="T"/>, loaded on first use and then reused.</summary>
    internal T Kernels<T>() where T : class, IKernelSet<T>
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        return (T)_kernelSets.GetOrAdd(typeof(T), static (_, loader) => loader.LoadSet<T>(), Loader);
    }

    /// <summary>The launch layout for an element-wise pass over <paramref name="length"/> elements.</summary>
    internal LaunchLayout Layout(int length) =>
        GpuShaped
            ? LaunchLayout.GridStride(length, Math.Max(1, MaxThreads))
            : LaunchLayout.Contiguous(length, HostLauncher.Shared.Threads * CpuThreadsPerCore);

    /// <summary>Allocates an uninitialised tensor (NaN-filled with <see cref="DeviceOptions.PoisonNewBuffers"/>).</summary>
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
        for (int i = 0; i < context.Devices.Length; i++)
        {
            var device = context.Devices[i];
            switch (device.AcceleratorType)
            {
                case AcceleratorType.Cuda:
                    list.Add(new DeviceInfo(list.Count, DeviceKind.Cuda, device.Name, device.MemorySize, i));
                    break;
                case AcceleratorType.OpenCL:
                    list.Add(new DeviceInfo(list.Count, DeviceKind.OpenCL, device.Name, device.MemorySize, i));
                    break;
                default:
                    // ILGPU's CPU device reports no real memory size; the host's memory is what tensors can use.
                    long memory = GC.GetGCMemoryInfo().TotalAvailableMemoryBytes;
                    list.Add(new DeviceInfo(list.Count, DeviceKind.Cpu,
                        string.Create(CultureInfo.InvariantCulture, $"CPU ({HostLauncher.Shared.Threads} threads, AttentionWise host launcher)"), memory, i));
                    list.Add(new DeviceInfo(list.Count, DeviceKind.CpuSimulator,
                        string.Create(CultureInfo.InvariantCulture,
                            $"ILGPU CPU simulator ({device.NumMultiprocessors} multiprocessor, {device.MaxNumThreads} threads, warp size {device.WarpSize})"),
                        memory, i));
                    break;
            }
        }
        return list;
    }

    private static string Available(IReadOnlyList<DeviceInfo> devices) =>
        devices.Count == 0
            ? "ILGPU reports no devices."
            : "Devices on this machine:" + string.Concat(devices.Select(d => Environment.NewLine + "  " + d));
}
