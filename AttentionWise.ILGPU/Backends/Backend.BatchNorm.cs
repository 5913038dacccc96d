using AttentionWise.Kernels;
using AttentionWise.Ops;

namespace AttentionWise.Backends;

internal abstract partial class Backend
{
    /// <summary>BatchNorm2d's coefficient and element passes.</summary>
    public abstract IBatchNorm BatchNorm { get; }
}

internal sealed partial class HostBackend
{
    private BatchNorm2dOp<HostView>? _batchNorm;

    public override IBatchNorm BatchNorm => _batchNorm ??= new BatchNorm2dOp<HostView>(Device);
}

internal sealed partial class GpuBackend
{
    private BatchNorm2dOp<DeviceView>? _batchNorm;

    public override IBatchNorm BatchNorm => _batchNorm ??= new BatchNorm2dOp<DeviceView>(Device);
}
