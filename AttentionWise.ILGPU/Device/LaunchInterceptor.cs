using System.Reflection;

namespace AttentionWise;

/// <summary>What a device did, as a <see cref="ILaunchInterceptor"/> sees it.</summary>
public enum LaunchKind
{
    /// <summary>A kernel loaded through the device's <see cref="KernelLoader"/>.</summary>
    Kernel,

    /// <summary>A host pass of the cpu device that is not a loaded kernel (a BLAS call, a vectorised pass).</summary>
    HostPass,

    /// <summary>A device-side fill of a tensor (zeroing).</summary>
    Fill,

    /// <summary>A device-side copy between tensors.</summary>
    Copy,

    /// <summary>A host-to-device copy.</summary>
    Upload,

    /// <summary>A device-to-host copy (it waits for the device).</summary>
    Download,
}

/// <summary>
/// One launch (or host pass, fill, copy or transfer) that is about to run on a device.
/// </summary>
/// <param name="Name">"Type.Method" of the kernel or pass (generic arguments dropped, e.g. "GatherKernels.Rows"); for
/// transfers "DeviceTensor.Zero", "DeviceTensor.CopyFrom", "DeviceTensor.Upload" or "DeviceTensor.Download".</param>
/// <param name="Kind">What it is.</param>
/// <param name="Loader">The loader of the device it runs on (<see cref="KernelLoader.Synchronize"/> waits for that device).</param>
/// <param name="Kernel">The kernel method, closed over its generic arguments (null for anything but a kernel).</param>
/// <param name="Grouping">Implicitly or explicitly grouped (kernels).</param>
/// <param name="Threads">Threads launched: the extent's size, or groups × group size; 0 for passes and transfers.</param>
/// <param name="GroupThreads">Threads per group of an explicitly grouped launch; 0 otherwise.</param>
/// <param name="Groups">Groups of an explicitly grouped launch; 0 otherwise.</param>
/// <param name="Bytes">Bytes a transfer moves; 0 for kernels and passes.</param>
/// <param name="Arguments">The kernel's arguments after its index or configuration (boxed); empty for the rest.</param>
public sealed record LaunchEvent(
    string Name, LaunchKind Kind, KernelLoader Loader, MethodInfo? Kernel = null, KernelGrouping Grouping = KernelGrouping.Implicit,
    long Threads = 0, int GroupThreads = 0, long Groups = 0, long Bytes = 0, object?[]? Arguments = null);

/// <summary>
/// Sees every launch of a device: each kernel its loader loaded, each host pass (<see cref="KernelLoader.Pass"/>) and each
/// fill, copy and transfer of its tensors. Given to a device through <see cref="DeviceOptions.Interceptor"/> (never a
/// static); with none, a launch costs nothing extra (the loader returns the plain launch). A timing interceptor is
/// <see cref="KernelTimer"/>; the performance model's <see cref="LaunchRecorder"/> is another.
/// </summary>
public interface ILaunchInterceptor
{
    /// <summary>False: the device runs nothing, and its loader does not even compile kernels (the interceptor only
    /// sees the launches; <c>run</c> does nothing).</summary>
    bool Executes => true;

    /// <summary>Called for every launch with what it is and the launch itself; must call <paramref name="run"/> exactly
    /// once (on the calling thread).</summary>
    void Intercept(LaunchEvent launch, Action run);
}

/// <summary>Two interceptors, one around the other (both see every launch; the launch runs once).</summary>
internal sealed class InterceptorPair(ILaunchInterceptor outer, ILaunchInterceptor inner) : ILaunchInterceptor
{
    public bool Executes => outer.Executes && inner.Executes;

    public void Intercept(LaunchEvent launch, Action run) => outer.Intercept(launch, () => inner.Intercept(launch, run));

    /// <summary>The interceptors given, null when none, the one when one.</summary>
    public static ILaunchInterceptor? Of(ILaunchInterceptor? outer, ILaunchInterceptor? inner) =>
        outer is null ? inner : inner is null ? outer : new InterceptorPair(outer, inner);
}
