using AttentionWise.Kernels;
using AttentionWise.Ops;

namespace AttentionWise.Backends;

internal abstract partial class Backend
{
    /// <summary>Row gather (mini-batches out of a dataset on the device).</summary>
    public abstract IGather Gather { get; }
}

internal sealed partial class HostBackend
{
    private RowGather<HostView>? _gather;

    /// <summary>One thread copies a whole row, contiguously.</summary>
    public override IGather Gather => _gather ??= new RowGather<HostView>(Device, itemLength => LaunchLayout.Contiguous(itemLength, 1));
}

internal sealed partial class GpuBackend
{
    private RowGather<DeviceView>? _gather;

    /// <summary>Up to 256 threads per row, grid-strided across it (neighbouring threads, neighbouring addresses).</summary>
    public override IGather Gather => _gather ??= new RowGather<DeviceView>(Device, itemLength => LaunchLayout.GridStride(itemLength, Math.Min(itemLength, 256)));
}
