using AttentionWise.Backends;
using AttentionWise.Host;

namespace AttentionWise.Ops;

/// <summary>The fixed geometry of one 2-D convolution (NCHW, cross-correlation as PyTorch's nn.Conv2d, zero padding,
/// no dilation or groups): the weight is [OutChannels, InChannels, Kernel.H, Kernel.W].</summary>
internal sealed record ConvolutionGeometry(int InChannels, int OutChannels, (int H, int W) Kernel, (int H, int W) Stride, (int H, int W) Padding)
{
    /// <summary>Taps per channel pair (KH·KW).</summary>
    public int Taps => Kernel.H * Kernel.W;

    /// <summary>The output shape for <paramref name="input"/>; <paramref name="where"/> names the caller in errors.</summary>
    public Shape OutputShape(Shape input, string where)
    {
        ArgumentNullException.ThrowIfNull(input);
        if (input.Rank != 4 || input.C != InChannels)
            throw new ShapeMismatchException(where, Shape.Of(input.Rank >= 1 ? input[0] : 0, InChannels, input.Rank == 4 ? input.H : 0, input.Rank == 4 ? input.W : 0), input);
        if (input.H + 2 * Padding.H < Kernel.H || input.W + 2 * Padding.W < Kernel.W)
            throw new ArgumentException($"{where}: {input} is smaller than the {Kernel.H}×{Kernel.W} kernel with padding {Padding.H}×{Padding.W}.");
        int ho = (input.H + 2 * Padding.H - Kernel.H) / Stride.H + 1;
        int wo = (input.W + 2 * Padding.W - Kernel.W) / Stride.W + 1;
        return Shape.Of(input.N, OutChannels, ho, wo);
    }
}

/// <summary>
/// Variants a convolution op is asked to use instead of the ones its backend chooses per shape (tests and experiments
/// pass them explicitly; the product passes <see cref="Default"/>). Each backend reads only its own fields, and applies a
/// variant only where it fits the shape (otherwise it chooses as usual).
/// </summary>
/// <param name="ForwardTile">Host family, register-tiled kernels: the forward tile (also the stride-1 input gradient's).</param>
/// <param name="WeightTile">Host family, register-tiled kernels: the weight-gradient tile.</param>
/// <param name="Gemm">GPU family: the forward-family product's tile (Narrow only for M ≤ 8, Wide thread counts within the device's).</param>
/// <param name="Wgrad">GPU family: the weight-gradient tile shape; its Slices, when positive, forces the split of the reduction.</param>
internal sealed record ConvolutionOptions(HostForwardTile? ForwardTile = null, HostWeightTile? WeightTile = null, GemmTile? Gemm = null, WgradTile? Wgrad = null)
{
    /// <summary>Every variant chosen per shape by the backend.</summary>
    public static ConvolutionOptions Default { get; } = new();
}

/// <summary>How a convolution op runs on its device.</summary>
internal enum ConvolutionPath
{
    /// <summary>Host family: im2col and BLAS products.</summary>
    HostBlas,

    /// <summary>Host family: vectorised direct passes for few output channels (<see cref="HostNarrowConv"/>).</summary>
    HostNarrow,

    /// <summary>Host family: the register-tiled kernels over zero-bordered copies.</summary>
    HostKernels,

    /// <summary>GPU family: implicit GEMM in shared memory.</summary>
    GpuGemm,
}

/// <summary>
/// One convolution layer's passes on its device, created by the device's backend for a fixed geometry
/// (<see cref="Backend.Convolution"/>). Backend-blind: tensors in, tensors out; scratch memory is the op's own.
/// The weight is read as it is at each call (no pass keeps a copy of it between calls).
/// </summary>
internal interface IConvolution : IDisposable
{
    ConvolutionGeometry Geometry { get; }

    /// <summary>Which implementation runs.</summary>
    ConvolutionPath Path { get; }

    /// <summary>y = conv(x, weight) (+ bias). <paramref name="y"/> has the output shape of x's.</summary>
    void Forward(DeviceTensor y, DeviceTensor x, DeviceTensor weight, DeviceTensor? bias);

    /// <summary>gw += the weight gradient for the output gradient gy and the forward's input x.</summary>
    void WeightGradient(DeviceTensor gw, DeviceTensor gy, DeviceTensor x);

    /// <summary>gx = the input gradient for the output gradient gy (gx has the input's shape, at least one image).</summary>
    void InputGradient(DeviceTensor gx, DeviceTensor gy, DeviceTensor weight);
}
