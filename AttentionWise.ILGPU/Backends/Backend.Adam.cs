using AttentionWise.Kernels;

using AttentionWise.Ops;

namespace AttentionWise.Backends;

internal abstract partial class Backend
{
    /// <summary>Adam's element-wise update.</summary>
    public abstract IAdamUpdate AdamUpdate { get; }
}

internal sealed partial class HostBackend
{
    private AdamUpdate<HostView>? _adam;

    public override IAdamUpdate AdamUpdate => _adam ??= new AdamUpdate<HostView>(Device);
}

internal sealed partial class GpuBackend
{
    private GpuAdamUpdate? _adam;

    public override IAdamUpdate AdamUpdate => _adam ??= new GpuAdamUpdate(Device);
}
