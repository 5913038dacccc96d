using AttentionWise.Kernels;
using AttentionWise.Ops;

namespace AttentionWise.Backends;

internal abstract partial class Backend
{
    /// <summary>The attention heads of one layer of <paramref name="geometry"/>, in <paramref name="variant"/> (see
    /// <see cref="HeadsVariant"/>; <see cref="HeadsVariant.Chosen"/> leaves every choice to the backend).</summary>
    public abstract IAttentionHeads AttentionHeads(HeadsGeometry geometry, HeadsVariant variant);
}

internal sealed partial class HostBackend
{
    /// <summary>Images per block of the per-row kernels' fixed-order batch reductions on the cpu device: a constant (not a
    /// function of the core count), so that results are bit-identical on every CPU; also the statistics' blocks.</summary>
    public const int HeadBlockImages = 64;

    public override IAttentionHeads AttentionHeads(HeadsGeometry geometry, HeadsVariant variant) =>
        Passes
            ? new HostVectorAttentionHeads(Device, geometry, Width)
            : new KernelAttentionHeads<HostView>(Device, geometry, HeadBlockImages, HeadBlockImages);
}

internal sealed partial class GpuBackend
{
    public override IAttentionHeads AttentionHeads(HeadsGeometry geometry, HeadsVariant variant) =>
        new GpuAttentionHeads(Device, geometry, variant);
}
