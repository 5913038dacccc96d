using AttentionWise.Kernels;
using AttentionWise.Ops;

namespace AttentionWise.Backends;

internal abstract partial class Backend
{
    /// <summary>The element-wise ops (<see cref="AttentionWise.Elementwise"/> dispatches to them).</summary>
    public abstract IElementwise Elementwise { get; }
}

internal sealed partial class HostBackend
{
    private HostElementwiseOps? _elementwise;

    public override IElementwise Elementwise => _elementwise ??= new HostElementwiseOps(Device, Passes, Width);
}

internal sealed partial class GpuBackend
{
    private KernelElementwise<DeviceView>? _elementwise;

    public override IElementwise Elementwise => _elementwise ??= new KernelElementwise<DeviceView>(Device);
}
