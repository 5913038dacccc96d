using AttentionWise.Ops;

namespace AttentionWise.Backends;

internal abstract partial class Backend
{
    /// <summary>The dense (fully connected) op: Linear and the DIA unit's branches.</summary>
    public abstract IDense Dense { get; }
}

internal sealed partial class HostBackend
{
    private HostDense? _dense;

    public override IDense Dense => _dense ??= new HostDense(Device, UsesBlas);
}

internal sealed partial class GpuBackend
{
    private GpuDense? _dense;

    public override IDense Dense => _dense ??= new GpuDense(Device);
}
