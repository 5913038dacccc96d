using System.Collections.Concurrent;
using System.Globalization;
using AttentionWise.Host;

namespace AttentionWise.Tests.Infrastructure;

/// <summary>One shared device per kind for the whole test run, opened on first use. Every new buffer of these devices
/// is filled with NaN, so that code that relies on zeroed allocations fails on the CPU too.</summary>
public static class TestDevices
{
    private static readonly ConcurrentDictionary<(DeviceKind, bool, SimdWidth?), Lazy<ComputeDevice?>> Devices = new();

    /// <summary>The device of this kind, or null when the machine has none; <paramref name="hostPasses"/> off gives a cpu
    /// device that runs its kernels where it would use its host passes; <paramref name="simd"/> forces the vector width
    /// of the cpu device's vectorised host passes (null: the widest this CPU has).</summary>
    public static ComputeDevice? TryGet(DeviceKind kind, bool hostPasses = true, SimdWidth? simd = null) =>
        Devices.GetOrAdd((kind, hostPasses, simd), k => new Lazy<ComputeDevice?>(() => Open(k.Item1, k.Item2, k.Item3))).Value;

    /// <summary>The CPU device (AttentionWise's host launcher), which always exists.</summary>
    public static ComputeDevice Cpu => TryGet(DeviceKind.Cpu) ?? throw new InvalidOperationException("ILGPU reports no CPU device.");

    private static ComputeDevice? Open(DeviceKind kind, bool hostPasses, SimdWidth? simd)
    {
        var info = ComputeDevice.List().FirstOrDefault(d => d.Kind == kind);
        return info is null
            ? null
            : ComputeDevice.Open(info.Index.ToString(CultureInfo.InvariantCulture), new DeviceOptions(PoisonNewBuffers: true, HostPasses: hostPasses, Simd: simd));
    }
}

/// <summary>
/// Base of every per-device suite: an abstract suite derives from it, and one-line subclasses pick the kind (cpu,
/// cpu-sim, cuda, opencl). Tests of a kind the machine lacks are skipped, not failed (the Device getter skips them with Assert.SkipWhen).
/// </summary>
[Collection(SharedDevices.Name)]
public abstract class DeviceTest
{
    protected abstract DeviceKind Kind { get; }

    /// <summary>Whether the cpu device runs its BLAS host passes (a suite's subclass can turn them off).</summary>
    protected virtual bool HostPasses => true;

    /// <summary>The vector width of the cpu device's vectorised host passes (null: the widest this CPU has; a suite's
    /// subclass can force one).</summary>
    protected virtual SimdWidth? Simd => null;

    protected ComputeDevice Device
    {
        get
        {
            var device = TestDevices.TryGet(Kind, HostPasses, Simd);
            Assert.SkipWhen(device is null, $"No {ComputeDevice.KindName(Kind)} device on this machine.");
            return device!;
        }
    }
}
