using AttentionWise.Kernels;
using AttentionWise.Ops;

namespace AttentionWise.Backends;

internal abstract partial class Backend
{
    /// <summary>The DIA unit's passes around its dense layers.</summary>
    public abstract IDiaCell DiaCell { get; }
}

internal sealed partial class HostBackend
{
    private DiaCell<HostView>? _diaCell;

    public override IDiaCell DiaCell => _diaCell ??= new DiaCell<HostView>(Device);
}

internal sealed partial class GpuBackend
{
    private DiaCell<DeviceView>? _diaCell;

    public override IDiaCell DiaCell => _diaCell ??= new DiaCell<DeviceView>(Device);
}
