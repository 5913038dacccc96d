using System.Collections.Concurrent;
using System.Reflection;
using ILGPU.Backends.EntryPoints;
using ILGPU.Runtime;

namespace AttentionWise;

/// <summary>How a device launches the kernels it loads.</summary>
internal enum KernelLaunchMode
{
    /// <summary>ILGPU compiles the kernel and launches it (CUDA, OpenCL, and the CPU simulator).</summary>
    Ilgpu,

    /// <summary>The kernel method runs as plain .NET code on <see cref="HostLauncher"/>'s worker threads, over the CPU
    /// accelerator's own buffers (the <c>cpu</c> device).</summary>
    Host,

    /// <summary>Nothing is launched: the loader only records which kernels a kernel set loads, so that a test can compile
    /// each of them for a backend with no device present.</summary>
    Record,
}

/// <summary>How a kernel's threads are grouped, as ILGPU distinguishes them.</summary>
public enum KernelGrouping
{
    /// <summary>An index per thread; the launcher picks the groups (no shared memory or barriers).</summary>
    Implicit,

    /// <summary>Launched with an explicit group size; may use shared memory, barriers and warp operations.</summary>
    Explicit,
}

/// <summary>A kernel method a kernel set loaded, as ILGPU would compile it.</summary>
/// <param name="Method">The kernel method (closed over its generic arguments).</param>
/// <param name="KernelSet">The kernel set that loaded it.</param>
/// <param name="Grouping">Implicitly or explicitly grouped.</param>
internal sealed record LoadedKernel(MethodInfo Method, Type? KernelSet, KernelGrouping Grouping = KernelGrouping.Implicit)
{
    /// <summary>"Type.Method&lt;Args&gt;", for messages.</summary>
    public string Name
    {
        get
        {
            string name = $"{Method.DeclaringType?.Name}.{Method.Name}";
            return Method.IsGenericMethod ? $"{name}<{string.Join(", ", Method.GetGenericArguments().Select(t => t.Name))}>" : name;
        }
    }

    public override string ToString() => Name;
}

/// <summary>
/// Turns kernel methods into launch delegates for one device: the only way kernel sets load kernels, so that
/// the device decides how they run (see <see cref="KernelLaunchMode"/>). Every kernel loaded is listed in
/// <see cref="Loaded"/>. The <c>Load</c> overloads are generated (KernelLoader.Generated.cs).
/// </summary>
public sealed partial class KernelLoader
{
    private readonly List<LoadedKernel> _loaded = new();
    private readonly object _gate = new();
    [ThreadStatic] private static Type? _loadingSet;

    private KernelLoader(DeviceKind kind, KernelLaunchMode mode, Accelerator? accelerator, HostLauncher? host, ILaunchInterceptor? interceptor = null)
    {
        Interceptor = interceptor;
        Kind = kind;
        Mode = mode;
        Accelerator = accelerator;
        Host = host;
    }

    /// <summary>The kind of device the kernels are loaded for: kernel sets pick their variants by it.</summary>
    public DeviceKind Kind { get; }

    internal KernelLaunchMode Mode { get; }

    /// <summary>True when kernels are shaped for a GPU (grid-stride loops, GPU variants): every kind but <c>cpu</c>.</summary>
    public bool GpuShaped => Kind != DeviceKind.Cpu;

    /// <summary>True when kernels index memory through <see cref="Kernels.HostView"/> (they run as .NET code: the <c>cpu</c>
    /// kind), false for <see cref="Kernels.DeviceView"/> (ILGPU compiles or simulates them).</summary>
    public bool HostViews => Kind == DeviceKind.Cpu;

    /// <summary>Every kernel loaded so far, in load order.</summary>
    internal IReadOnlyList<LoadedKernel> Loaded
    {
        get
        {
            lock (_gate)
                return _loaded.ToArray();
        }
    }

    /// <summary>Sees every launch, host pass and transfer of this device (a timer, a recorder); null in normal use, when
    /// the delegates the loader returns are the plain launches.</summary>
    public ILaunchInterceptor? Interceptor { get; }

    private Accelerator? Accelerator { get; }
    private HostLauncher? Host { get; }

    /// <summary>A loader whose kernels ILGPU compiles and launches on <paramref name="accelerator"/>.</summary>
    internal static KernelLoader ForIlgpu(DeviceKind kind, Accelerator accelerator, ILaunchInterceptor? interceptor = null) =>
        new(kind, KernelLaunchMode.Ilgpu, accelerator, null, interceptor);

    /// <summary>A loader whose implicitly grouped kernels run as .NET code on the host launcher (explicitly grouped ones on
    /// <paramref name="accelerator"/>, ILGPU's CPU accelerator).</summary>
    internal static KernelLoader ForHost(HostLauncher host, Accelerator accelerator, ILaunchInterceptor? interceptor = null) =>
        new(DeviceKind.Cpu, KernelLaunchMode.Host, accelerator, host, interceptor);

    /// <summary>A loader that records the kernels a kernel set loads for a device of <paramref name="kind"/> and launches
    /// nothing (calling a delegate it returns throws).</summary>
    internal static KernelLoader ForRecording(DeviceKind kind) => new(kind, KernelLaunchMode.Record, null, null);

    /// <summary>Loads kernel set <typeparamref name="T"/>, noting the set as the owner of the kernels it loads.</summary>
    internal T LoadSet<T>() where T : class, IKernelSet<T> => (T)LoadSet(typeof(T), () => T.Load(this));

    /// <summary>Loads a kernel set given by its type (for tests that find every kernel set by reflection).</summary>
    internal object LoadSet(Type kernelSet)
    {
        var load = kernelSet.GetMethod("Load", BindingFlags.Public | BindingFlags.Static, [typeof(KernelLoader)])
            ?? throw new ArgumentException($"{kernelSet.Name} has no static Load(KernelLoader) method.", nameof(kernelSet));
        return LoadSet(kernelSet, () => load.Invoke(null, [this])!);
    }

    private object LoadSet(Type kernelSet, Func<object> load)
    {
        var outer = _loadingSet;
        _loadingSet = kernelSet;
        try
        {
            return load();
        }
        finally
        {
            _loadingSet = outer;
        }
    }

    private void Register(Delegate kernel, KernelGrouping grouping = KernelGrouping.Implicit)
    {
        if (!kernel.Method.IsStatic || kernel.Target is not null)
        {
            throw new ArgumentException(
                $"Kernel '{kernel.Method.Name}' is not a static method: ILGPU kernels are static methods without captured state.", nameof(kernel));
        }
        lock (_gate)
            _loaded.Add(new LoadedKernel(kernel.Method, _loadingSet, grouping));
    }

    private readonly ConcurrentDictionary<MethodInfo, string> _openCLSources = new();

    /// <summary>The OpenCL C source each kernel was loaded with (an OpenCL device only; empty elsewhere): what the
    /// driver compiled, barriers fenced (<see cref="OpenCLBarriers"/>).</summary>
    internal IReadOnlyDictionary<MethodInfo, string> OpenCLSources => _openCLSources;

    /// <summary>Compiles and loads a kernel with ILGPU, returning its launcher (the first argument is the stream). On
    /// OpenCL the kernel is compiled first and loaded with its barriers fencing local memory (ILGPU 1.5.3 fences global
    /// memory only); the kernel object belongs to the accelerator and goes with it.</summary>
    private TDelegate LoadIlgpu<TDelegate>(MethodInfo method, KernelGrouping grouping)
        where TDelegate : Delegate
    {
        var accelerator = Accelerator!;
        if (Kind != DeviceKind.OpenCL)
        {
            return grouping == KernelGrouping.Explicit
                ? accelerator.LoadKernel<TDelegate>(method)
                : accelerator.LoadAutoGroupedKernel<TDelegate>(method);
        }
        var entry = grouping == KernelGrouping.Explicit
            ? EntryPointDescription.FromExplicitlyGroupedKernel(method)
            : EntryPointDescription.FromImplicitlyGroupedKernel(method);
        var compiled = OpenCLBarriers.Compile(accelerator, entry);
        _openCLSources[method] = compiled.Source;
        var loaded = grouping == KernelGrouping.Explicit
            ? accelerator.LoadKernel(compiled)
            : accelerator.LoadAutoGroupedKernel(compiled);
        return loaded.CreateLauncherDelegate<TDelegate>();
    }

    /// <summary>Runs one host pass of the host backend (a BLAS call, a vectorised pass): every piece of work a device
    /// does that is not a loaded kernel goes through here, named "Type.Method" as kernels are, so that the device's
    /// <see cref="Interceptor"/> sees it too.</summary>
    internal void Pass(string name, Action pass)
    {
        ArgumentNullException.ThrowIfNull(pass);
        if (Interceptor is not { } watch)
            pass();
        else
            watch.Intercept(new LaunchEvent(name, LaunchKind.HostPass, this), watch.Executes ? pass : Nothing);
    }

    /// <summary>Runs a fill, copy or transfer of <paramref name="bytes"/> of a tensor through the <see cref="Interceptor"/>
    /// (an interceptor that does not execute gets a launch that does nothing).</summary>
    internal void Transfer<TState>(string name, LaunchKind kind, long bytes, TState state, Action<TState> transfer)
    {
        if (Interceptor is not { } watch)
            transfer(state);
        else
            watch.Intercept(new LaunchEvent(name, kind, this, Bytes: bytes), watch.Executes ? () => transfer(state) : Nothing);
    }

    /// <summary>Waits until everything launched on this device has finished (ILGPU launches are asynchronous; the host
    /// launcher's are not, but the explicitly grouped kernels of the cpu device run on ILGPU's CPU accelerator).</summary>
    public void Synchronize() => Accelerator?.Synchronize();

    /// <summary>"Type.Method" of a kernel method, its generic arguments and its type's arity dropped: how interceptors
    /// name a kernel (e.g. "GatherKernels.Rows").</summary>
    public static string LaunchName(MethodInfo method)
    {
        string type = method.DeclaringType?.Name ?? "";
        int tick = type.IndexOf('`');
        return $"{(tick < 0 ? type : type[..tick])}.{method.Name}";
    }

    private static readonly Action Nothing = () => { };

    private static InvalidOperationException NotLaunchable(Delegate kernel) =>
        new($"Kernel '{kernel.Method.Name}' was loaded by a recording loader, which launches nothing.");
}
