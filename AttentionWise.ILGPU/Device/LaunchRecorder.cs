using System.Reflection;
using ILGPU;
using ILGPU.Runtime;

namespace AttentionWise;

/// <summary>
/// The geometry of a GPU as the layers see it when they choose launch shapes: multiprocessors, resident threads per
/// multiprocessor, the largest group and the warp. A recording device (<see cref="LaunchRecorder.Target"/>) reports
/// these instead of its own accelerator's, so that the launches recorded on the CPU simulator are the ones that GPU
/// would get.
/// </summary>
public sealed record GpuGeometry(string Name, int Multiprocessors, int ThreadsPerMultiprocessor, int MaxGroupThreads = 1024, int WarpSize = 32)
{
    /// <summary>Threads resident at once over the whole GPU (what grid-stride launches are sized by).</summary>
    public int MaxThreads => Multiprocessors * ThreadsPerMultiprocessor;
}

/// <summary>One kernel launch (or device-side copy) a recording device saw.</summary>
/// <param name="Kernel">"Type.Method_Arg" as scripts/ptxas names the kernel (for its registers and shared memory);
/// "memset" or "copy" for device-side fills and copies.</param>
/// <param name="Grouping">Implicitly grouped (the driver picks the group) or explicitly grouped.</param>
/// <param name="Threads">Threads launched: the extent's size, or groups × group size.</param>
/// <param name="GroupThreads">Threads per group of an explicitly grouped launch; 0 for an implicitly grouped one.</param>
/// <param name="Groups">Groups of an explicitly grouped launch; 0 for an implicitly grouped one.</param>
/// <param name="Bytes">The least DRAM traffic: as the launching layer stated it (<see cref="LaunchRecorder.Work"/>), else
/// the bytes of the distinct buffers (views) among its arguments, each read or written at least once.</param>
/// <param name="Flops">Floating-point operations, where the launching layer stated them (<see cref="LaunchRecorder.Work"/>); null otherwise.</param>
/// <param name="Buffers">The byte sizes of the distinct buffers among its arguments, in argument order.</param>
public sealed record RecordedLaunch(
    string Kernel, KernelGrouping Grouping, long Threads, int GroupThreads, long Groups, long Bytes, double? Flops, IReadOnlyList<long> Buffers);

/// <summary>
/// Records every launch a device makes, with its geometry and the sizes of its buffer arguments: the input of the
/// static performance model (AttentionWise.Bench `model`). An explicit object given to a device through
/// <see cref="DeviceOptions.Recorder"/>, never a static: one <see cref="ILaunchInterceptor"/> of the device's loader. With <see cref="Execute"/> false the device records and runs
/// nothing (kernels are not even compiled), so a whole training step at full batch is recorded in seconds on the CPU
/// simulator; its results are then meaningless, but the launches are the step's, since no launch shape depends on data.
/// </summary>
public sealed class LaunchRecorder : ILaunchInterceptor
{
    private readonly List<RecordedLaunch> _launches = new();
    private readonly object _gate = new();
    private double? _pendingFlops;
    private long? _pendingBytes;
    private bool _enabled = true;

    /// <param name="execute">Run the launches too (false: record only).</param>
    /// <param name="target">The GPU whose geometry the device reports to the layers; null: the accelerator's own.</param>
    public LaunchRecorder(bool execute = true, GpuGeometry? target = null)
    {
        Execute = execute;
        Target = target;
    }

    /// <summary>Whether launches are run as well as recorded.</summary>
    public bool Execute { get; }

    bool ILaunchInterceptor.Executes => Execute;

    private readonly System.Collections.Concurrent.ConcurrentDictionary<MethodInfo, string> _kernelNames = new();

    /// <summary>Records the launch (a kernel with its geometry and buffers, a fill or copy, an upload or download) and
    /// runs it.</summary>
    void ILaunchInterceptor.Intercept(LaunchEvent launch, Action run)
    {
        switch (launch.Kind)
        {
            case LaunchKind.Kernel when launch.Kernel is { } method:
                Add(_kernelNames.GetOrAdd(method, KernelName), launch.Grouping, launch.Threads, launch.GroupThreads, launch.Groups, launch.Arguments ?? []);
                break;
            case LaunchKind.Fill:
                Transfer("memset", launch.Bytes);
                break;
            case LaunchKind.Copy:
                Transfer("copy", launch.Bytes);
                break;
            case LaunchKind.Upload:
                Note("upload");
                break;
            case LaunchKind.Download:
                Note("download");
                break;
        }
        run();
    }

    /// <summary>The GPU geometry the recording device reports (null: its own).</summary>
    public GpuGeometry? Target { get; }

    /// <summary>Host reads of device memory (each one waits for the device).</summary>
    public int Downloads { get; private set; }

    /// <summary>Host writes to device memory.</summary>
    public int Uploads { get; private set; }

    /// <summary>Tensors allocated.</summary>
    public int Allocations { get; private set; }

    /// <summary>Every launch recorded since creation or <see cref="Clear"/>, in launch order.</summary>
    public IReadOnlyList<RecordedLaunch> Launches
    {
        get
        {
            lock (_gate)
                return _launches.ToArray();
        }
    }

    /// <summary>Forgets what was recorded (e.g. after a warm-up step).</summary>
    public void Clear()
    {
        lock (_gate)
        {
            _launches.Clear();
            Downloads = Uploads = Allocations = 0;
            _pendingFlops = null;
            _pendingBytes = null;
        }
    }

    /// <summary>Turns recording off or on (launches still run or are skipped as <see cref="Execute"/> says).</summary>
    public bool Enabled
    {
        get => _enabled;
        set => _enabled = value;
    }

    /// <summary>States the floating-point operations (and, where the launch touches only part of its buffers, the least
    /// bytes it moves) of the next launch this recorder sees; a layer calls it through <see cref="ComputeDevice.Work"/>
    /// just before a launch whose arithmetic matters or whose buffers it reads only in part.</summary>
    public void Work(double? flops, long? bytes = null)
    {
        lock (_gate)
        {
            _pendingFlops = flops;
            _pendingBytes = bytes;
        }
    }

    internal void Note(string what)
    {
        if (!_enabled)
            return;
        lock (_gate)
        {
            switch (what)
            {
                case "download": Downloads++; break;
                case "upload": Uploads++; break;
                case "allocate": Allocations++; break;
            }
        }
    }

    /// <summary>A device-side fill or copy of <paramref name="bytes"/> (read and written for a copy).</summary>
    internal void Transfer(string kind, long bytes)
    {
        if (!_enabled || bytes == 0)
            return;
        lock (_gate)
            _launches.Add(new RecordedLaunch(kind, KernelGrouping.Implicit, (bytes + 3) / 4, 0, 0, kind == "copy" ? 2 * bytes : bytes, null, [bytes]));
    }

    /// <summary>An implicitly grouped launch over <paramref name="extent"/> elements.</summary>
    public void Implicit(string kernel, long extent, params object?[] arguments) =>
        Add(kernel, KernelGrouping.Implicit, extent, 0, 0, arguments);

    /// <summary>An explicitly grouped launch.</summary>
    public void Explicit(string kernel, KernelConfig config, params object?[] arguments) =>
        Add(kernel, KernelGrouping.Explicit, config.Size, config.GroupDim.Size, config.GridDim.Size, arguments);

    private void Add(string kernel, KernelGrouping grouping, long threads, int groupThreads, long groups, object?[] arguments)
    {
        if (!_enabled || threads == 0)
            return;
        var buffers = new List<long>();
        var seen = new HashSet<(object, long, long)>();
        foreach (var argument in arguments)
            CollectViews(argument, buffers, seen, 0);
        lock (_gate)
        {
            _launches.Add(new RecordedLaunch(kernel, grouping, threads, groupThreads, groups, _pendingBytes ?? buffers.Sum(), _pendingFlops, buffers));
            _pendingFlops = null;
            _pendingBytes = null;
        }
    }

    private static readonly Dictionary<Type, FieldInfo[]> FieldCache = new();

    /// <summary>Adds the byte size of every ArrayView in <paramref name="value"/> (itself or a field of a struct, to a
    /// small depth), each distinct view (buffer, offset, length) once.</summary>
    private static void CollectViews(object? value, List<long> buffers, HashSet<(object, long, long)> seen, int depth)
    {
        if (value is null || depth > 4)
            return;
        var type = value.GetType();
        if (value is IArrayView view)
        {
            var buffer = (object?)type.GetProperty("Buffer")?.GetValue(value) ?? value;
            long index = type.GetProperty("Index")?.GetValue(value) is long i ? i : 0;
            if (view.LengthInBytes > 0 && seen.Add((buffer, index, view.LengthInBytes)))
                buffers.Add(view.LengthInBytes);
            return;
        }
        if (!type.IsValueType || type.IsPrimitive || type.IsEnum)
            return;
        FieldInfo[] fields;
        lock (FieldCache)
        {
            if (!FieldCache.TryGetValue(type, out fields!))
                FieldCache[type] = fields = type.GetFields(BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic)
                    .Where(f => !f.FieldType.IsPrimitive && !f.FieldType.IsEnum && !f.FieldType.IsPointer).ToArray();
        }
        foreach (var field in fields)
            CollectViews(field.GetValue(value), buffers, seen, depth + 1);
    }

    /// <summary>The name scripts/ptxas gives a kernel ("Type.Method" or "Type.Method_Arg1_Arg2").</summary>
    public static string KernelName(MethodInfo method)
    {
        string name = method.IsGenericMethod
            ? $"{method.DeclaringType?.Name}.{method.Name}_{string.Join("_", method.GetGenericArguments().Select(t => t.Name))}"
            : $"{method.DeclaringType?.Name}.{method.Name}";
        return new string(name.Select(c => char.IsAsciiLetterOrDigit(c) || c is '.' or '_' ? c : '_').ToArray());
    }
}
