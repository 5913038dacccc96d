using AttentionWise.Ops;

namespace AttentionWise.Backends;

internal abstract partial class Backend
{
    /// <summary>The deterministic whole-tensor and per-channel reductions.</summary>
    public abstract IReductions Reductions { get; }
}

internal sealed partial class HostBackend
{
    private HostReductions? _reductions;

    public override IReductions Reductions => _reductions ??= new HostReductions(Device);
}

internal sealed partial class GpuBackend
{
    private GpuReductions? _reductions;

    public override IReductions Reductions => _reductions ??= new GpuReductions(Device);
}
