namespace AttentionWise.Host;

/// <summary>Whether a device runs its matrix-product layers (wide convolutions, linear layers) as host code with a BLAS
/// instead of as kernels: the cpu device does when a BLAS is loaded and its <see cref="DeviceOptions.HostPasses"/> is on
/// (tests turn it off to run the kernels on the cpu device too; AW_BLAS=off turns the BLAS off for a whole process).</summary>
public static class HostPasses
{
    /// <summary>True when <paramref name="device"/> runs the host passes.</summary>
    public static bool On(ComputeDevice device) => device.Kind == DeviceKind.Cpu && device.Options.HostPasses && Blas.Available;

    /// <summary>True when <paramref name="device"/> runs its vectorised host passes (attention heads, narrow
    /// convolutions), which need no BLAS: the cpu device with <see cref="DeviceOptions.HostPasses"/> on.</summary>
    public static bool VectorOn(ComputeDevice device) => device.Kind == DeviceKind.Cpu && device.Options.HostPasses;

    /// <summary>The vector width of <paramref name="device"/>'s vectorised host passes: its option, else AW_SIMD,
    /// else the widest this CPU accelerates.</summary>
    public static SimdWidth Width(ComputeDevice device) =>
        device.Options.Simd ?? Simd.Parse(Environment.GetEnvironmentVariable("AW_SIMD")) ?? Simd.Best;

    /// <summary>One line for logs: which BLAS the cpu device uses, or that it uses its plain kernels.</summary>
    public static string Describe(ComputeDevice device) =>
        device.Options.HostPasses ? $"{Blas.Description}; vector passes: {Simd.Describe(Width(device))}" : "host passes off: the cpu device uses its plain kernels";
}
