using System.Collections.Concurrent;

namespace AttentionWise.Tests.Infrastructure;

/// <summary>One shared device per kind for the whole test run, opened on first use.</summary>
public static class TestDevices
{
    private static readonly ConcurrentDictionary<DeviceKind, Lazy<ComputeDevice?>> Devices = new();

    /// <summary>The device of this kind, or null when the machine has none.</summary>
    public static ComputeDevice? TryGet(DeviceKind kind) =>
        Devices.GetOrAdd(kind, k => new Lazy<ComputeDevice?>(() => Open(k))).Value;

    /// <summary>The CPU device, which always exists.</summary>
    public static ComputeDevice Cpu => TryGet(DeviceKind.Cpu) ?? throw new InvalidOperationException("ILGPU reports no CPU device.");

    private static ComputeDevice? Open(DeviceKind kind)
    {
        var list = ComputeDevice.List();
        var info = list.FirstOrDefault(d => d.Kind == kind);
        return info is null ? null : ComputeDevice.Open(info.Index.ToString(System.Globalization.CultureInfo.InvariantCulture));
    }
}

/// <summary>
/// Base of every per-accelerator suite: an abstract suite derives from it, and one-line subclasses pick
/// the kind. Tests of a kind the machine lacks are skipped, not failed (use [SkippableFact]).
/// </summary>
public abstract class DeviceTest
{
    protected abstract DeviceKind Kind { get; }

    protected ComputeDevice Device
    {
        get
        {
            var device = TestDevices.TryGet(Kind);
            Skip.If(device is null, $"No {Kind} device on this machine.");
            return device!;
        }
    }
}
