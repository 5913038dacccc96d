using System.Diagnostics;
using System.Reflection;

namespace AttentionWise;

/// <summary>One timed launch: what ran, where it was launched from, and how long it took.</summary>
/// <param name="Name">"Type.Method" of the kernel or host pass, or "DeviceTensor.Zero" and the like for a transfer.</param>
/// <param name="Kind">What it was.</param>
/// <param name="Layer">The innermost public layer method on the launching thread's stack, "Type.Method" (e.g.
/// "Conv2d.BackwardInput"), or "" when <see cref="KernelTimer.AttributeLayers"/> is off or no layer launched it.</param>
/// <param name="Milliseconds">Wall time from the device being idle before the launch to its being idle after it.</param>
public readonly record struct TimedLaunch(string Name, LaunchKind Kind, string Layer, double Milliseconds);

/// <summary>
/// A <see cref="ILaunchInterceptor"/> that times every launch of a device: it waits for the device before and after
/// each launch (ILGPU launches are asynchronous; the cpu device's host launches are synchronous) and records the wall
/// time between, under the kernel's or pass's name and, optionally, the layer that launched it. A launch made while
/// another is being timed (a host pass that launches a kernel, from any thread) is part of the outer one and is not
/// timed again, so the recorded times never overlap and add up to the time spent in launches. Given to a device through
/// <see cref="DeviceOptions.Interceptor"/>; <see cref="Enabled"/> switches timing off without reopening the device.
/// </summary>
public sealed class KernelTimer : ILaunchInterceptor
{
    private readonly List<TimedLaunch> _launches = new();
    private readonly object _gate = new();
    private int _depth;

    /// <param name="attributeLayers">Find the launching layer on the stack for each launch (a stack walk per launch, outside
    /// the timed interval).</param>
    public KernelTimer(bool attributeLayers = true) => AttributeLayers = attributeLayers;

    /// <summary>Whether each launch is attributed to the innermost layer method on the stack.</summary>
    public bool AttributeLayers { get; }

    /// <summary>When false, launches just run (no synchronisation, nothing recorded).</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>Every launch timed since creation or <see cref="Clear"/>, in launch order.</summary>
    public IReadOnlyList<TimedLaunch> Launches
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
            _launches.Clear();
    }

    /// <summary>Times the launch (see the class).</summary>
    public void Intercept(LaunchEvent launch, Action run)
    {
        if (!Enabled)
        {
            run();
            return;
        }
        try
        {
            if (Interlocked.Increment(ref _depth) != 1)
            {
                run();
                return;
            }
            string layer = AttributeLayers ? LaunchingLayer() : "";
            launch.Loader.Synchronize();
            long start = Stopwatch.GetTimestamp();
            run();
            launch.Loader.Synchronize();
            double ms = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
            lock (_gate)
                _launches.Add(new TimedLaunch(launch.Name, launch.Kind, layer, ms));
        }
        finally
        {
            Interlocked.Decrement(ref _depth);
        }
    }

    /// <summary>The innermost public method on this thread's stack that belongs to a layer (a <see cref="Layers.Module"/>,
    /// or a public type of the Layers namespace such as the loss or the optimiser), as "Type.Method"; "" when none. A
    /// lambda counts as the method it was written in; a private helper counts as the public method that called it.</summary>
    private static string LaunchingLayer()
    {
        var frames = new StackTrace(2, false).GetFrames();
        foreach (var frame in frames)
        {
            if (frame.GetMethod() is not { } method || method.DeclaringType is not { } type)
                continue;
            string name = method.Name;
            while (type.IsNested && type.Name.StartsWith('<'))
                type = type.DeclaringType!;
            if (!IsLayer(type))
                continue;
            if (name.StartsWith('<') && name.IndexOf('>') is > 1 and var close)
                name = name[1..close];
            else if (!method.IsPublic)
                continue;
            return $"{Strip(type.Name)}.{name}";
        }
        return "";
    }

    private static bool IsLayer(Type type) =>
        typeof(Layers.Module).IsAssignableFrom(type) || type.Namespace == typeof(Layers.Module).Namespace && type.IsPublic;

    private static string Strip(string name) => name.IndexOf('`') is >= 0 and var tick ? name[..tick] : name;
}
