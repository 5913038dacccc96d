using AttentionWise.Kernels;

namespace AttentionWise.Backends;

/// <summary>The two families of op implementations a device can have.</summary>
public enum BackendFamily
{
    /// <summary>The <c>cpu</c> device: BLAS and vectorised host passes where they exist, else register-tiled kernels run as
    /// .NET code on the host launcher (<see cref="HostView"/>).</summary>
    Host,

    /// <summary>cuda, opencl and the ILGPU simulator (cpu-sim): kernels shaped for a GPU, compiled or simulated by ILGPU
    /// (<see cref="DeviceView"/>).</summary>
    Gpu,
}

/// <summary>
/// Every op's implementation for one family of devices, chosen once when the device opens
/// (<see cref="ComputeDevice.Backend"/>). Layers reach their ops only through it and never ask which device they run on;
/// only this folder and the device files know the device kind. Each op adds its factory in a partial file of its own
/// (Backend.&lt;Op&gt;.cs: an abstract method here, its overrides in HostBackend.&lt;Op&gt;.cs and GpuBackend.&lt;Op&gt;.cs),
/// with its interface under Ops/ and its implementations under Backends/Host, Backends/Gpu, or Backends/Shared when one
/// implementation generic over the kernel view serves both families.
/// </summary>
internal abstract partial class Backend
{
    protected Backend(ComputeDevice device)
    {
        Device = device;
    }

    /// <summary>The device whose ops these are.</summary>
    public ComputeDevice Device { get; }

    /// <summary>Which family of implementations this is.</summary>
    public abstract BackendFamily Family { get; }

    /// <summary>One line for logs: what this backend runs its ops with.</summary>
    public abstract string Describe();

    /// <summary>The backend of a device's kind: the host family for <c>cpu</c>, the GPU family for every other kind.</summary>
    internal static Backend For(ComputeDevice device) =>
        device.Kind == DeviceKind.Cpu ? new HostBackend(device) : new GpuBackend(device);

    /// <summary>The family of a device kind.</summary>
    public static BackendFamily FamilyOf(DeviceKind kind) => kind == DeviceKind.Cpu ? BackendFamily.Host : BackendFamily.Gpu;
}

/// <summary>The kernel set serves only one backend family (a set generic over its kernel view serves both, closed with
/// each family's view, and needs no attribute).</summary>
[AttributeUsage(AttributeTargets.Class, Inherited = false)]
internal sealed class KernelFamilyAttribute(BackendFamily family) : Attribute
{
    public BackendFamily Family { get; } = family;
}
