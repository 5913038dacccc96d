using AttentionWise.Ops;

namespace AttentionWise.Backends;

internal abstract partial class Backend
{
    /// <summary>A convolution op for one layer of this geometry (it owns its scratch memory: dispose it with the layer).
    /// <paramref name="options"/> forces variants (tests); null or <see cref="ConvolutionOptions.Default"/>: chosen per shape.</summary>
    public abstract IConvolution Convolution(ConvolutionGeometry geometry, ConvolutionOptions? options = null);
}

internal sealed partial class HostBackend
{
    public override IConvolution Convolution(ConvolutionGeometry geometry, ConvolutionOptions? options = null) =>
        new HostConvolution(this, geometry, options ?? ConvolutionOptions.Default);
}

internal sealed partial class GpuBackend
{
    public override IConvolution Convolution(ConvolutionGeometry geometry, ConvolutionOptions? options = null) =>
        new GpuConvolution(Device, geometry, options ?? ConvolutionOptions.Default);
}
