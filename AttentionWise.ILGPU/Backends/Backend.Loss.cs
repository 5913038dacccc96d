using AttentionWise.Kernels;
using AttentionWise.Ops;

namespace AttentionWise.Backends;

internal abstract partial class Backend
{
    /// <summary>Log-softmax and the negative log-likelihood.</summary>
    public abstract INllLoss NllLoss { get; }
}

internal sealed partial class HostBackend
{
    private NllLoss<HostView>? _loss;

    public override INllLoss NllLoss => _loss ??= new NllLoss<HostView>(Device);
}

internal sealed partial class GpuBackend
{
    private GpuNllLoss? _loss;

    public override INllLoss NllLoss => _loss ??= new GpuNllLoss(Device);
}
