namespace AttentionWise.Host;

/// <summary>Whether a device runs its matrix-product layers (wide convolutions, linear layers) as host code with a BLAS
/// instead of as kernels: the cpu device does when a BLAS is loaded and its <see cref="DeviceOptions.HostPasses"/> is on
/// (tests turn it off to run the kernels on the cpu device too; AW_BLAS=off turns the BLAS off for a whole process).</summary>
public static class HostPasses
{
    /// <summary>True when <paramref name="device"/> runs the host passes.</summary>
    public static bool On(ComputeDevice device) => device.Kind == DeviceKind.Cpu && device.Options.HostPasses && Blas.Available;

    /// <summary>One line for logs: which BLAS the cpu device uses, or that it uses its plain kernels.</summary>
    public static string Describe(ComputeDevice device) =>
        device.Options.HostPasses ? Blas.Description : "host passes off: the cpu device uses its plain kernels";
}
