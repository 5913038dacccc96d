namespace AttentionWise.Host;

/// <summary>Whether the cpu device runs its matrix-product layers (wide convolutions, linear layers) as host code with a
/// BLAS instead of as kernels.</summary>
public static class HostPasses
{
    /// <summary>On by default; tests and benchmarks turn it off to run the kernels on the cpu device too.</summary>
    public static bool Enabled { get; set; } = true;

    /// <summary>True when <paramref name="device"/> runs the host passes: the cpu device, with a BLAS, while enabled.</summary>
    public static bool On(ComputeDevice device) => Enabled && device.Kind == DeviceKind.Cpu && Blas.Available;

    /// <summary>One line for logs: which BLAS the cpu device uses, or that it uses its plain kernels.</summary>
    public static string Description => Enabled ? Blas.Description : "host passes off: the cpu device uses its plain kernels";
}
