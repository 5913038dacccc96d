using AttentionWise.Host;
using AttentionWise.Kernels;

namespace AttentionWise.Backends;

/// <summary>
/// The <c>cpu</c> device's ops. With <see cref="DeviceOptions.HostPasses"/> on (the default) the products run as BLAS
/// calls where a BLAS is loaded, and the attention heads, narrow convolutions and element-wise passes as vectorised .NET
/// code; with it off (tests), every op runs the register-tiled kernels on the host launcher. Either way every kernel
/// indexes memory through <see cref="HostView"/>.
/// </summary>
internal sealed partial class HostBackend : Backend
{
    public HostBackend(ComputeDevice device)
        : base(device)
    {
        Passes = device.Options.HostPasses;
        UsesBlas = Passes && Blas.Available;
        Width = device.Options.Simd ?? Simd.Parse(Environment.GetEnvironmentVariable("AW_SIMD")) ?? Simd.Best;
    }

    public override BackendFamily Family => BackendFamily.Host;

    /// <summary>The vectorised host passes run (<see cref="DeviceOptions.HostPasses"/>).</summary>
    public bool Passes { get; }

    /// <summary>The products run as BLAS calls: host passes on and a BLAS loaded.</summary>
    public bool UsesBlas { get; }

    /// <summary>The vector width of the vectorised passes: the device option, else AW_SIMD, else the widest this CPU accelerates.</summary>
    public SimdWidth Width { get; }

    public override string Describe() =>
        Passes ? $"{Blas.Description}; vector passes: {Simd.Describe(Width)}" : "host passes off: the cpu device uses its plain kernels";
}
