using AttentionWise.Backends;
using AttentionWise.Ops;

namespace AttentionWise.Layers;

/// <summary>
/// 2-D convolution over NCHW input, as PyTorch's nn.Conv2d (cross-correlation, zero padding, no dilation
/// or groups). Parameters: "weight" [Co, Ci, kH, kW] (normal init) and optional "bias" [Co] (zeros).
/// Keeps a reference to its input (not a copy) for the backward pass, so the input must not change
/// between Forward and Backward. The passes are its device's convolution op (<see cref="IConvolution"/>, made by the
/// device's backend): on the cpu device BLAS products, vectorised narrow passes or register-tiled kernels
/// (<see cref="HostConvolution"/>); on cuda, opencl and cpu-sim implicit GEMM in shared memory
/// (<see cref="GpuConvolution"/>). The bias gradient is a channel sum of the output gradient on every device.
/// </summary>
public sealed class Conv2d : Module
{
    /// <summary>Output channels from which the cpu device's BLAS path pays (measured: below, the products are too thin
    /// and the register-tiled kernels are faster).</summary>
    public const int HostMinOutChannels = HostConvolution.MinBlasOutChannels;

    private readonly ConvolutionGeometry _geometry;
    private readonly IConvolution _op;
    private DeviceTensor? _input;
    private DeviceTensor? _output;
    private DeviceTensor? _gradInput;
    private DeviceTensor? _workspace;
    private Shape? _inputShape;

    public Conv2d(ComputeDevice device, int inChannels, int outChannels, int kernelSize, int stride = 1, int padding = 0, bool bias = true)
        : this(device, inChannels, outChannels, (kernelSize, kernelSize), (stride, stride), (padding, padding), bias)
    {
    }

    public Conv2d(ComputeDevice device, int inChannels, int outChannels, (int H, int W) kernel, (int H, int W) stride, (int H, int W) padding, bool bias)
        : this(device, inChannels, outChannels, kernel, stride, padding, bias, ConvolutionOptions.Default)
    {
    }

    /// <summary>A convolution whose op uses the variants of <paramref name="options"/> where they fit (tests, experiments).</summary>
    internal Conv2d(ComputeDevice device, int inChannels, int outChannels, (int H, int W) kernel, (int H, int W) stride, (int H, int W) padding, bool bias,
        ConvolutionOptions options)
        : base(device)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(inChannels);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(outChannels);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(kernel.H, nameof(kernel));
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(kernel.W, nameof(kernel));
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(stride.H, nameof(stride));
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(stride.W, nameof(stride));
        ArgumentOutOfRangeException.ThrowIfNegative(padding.H, nameof(padding));
        ArgumentOutOfRangeException.ThrowIfNegative(padding.W, nameof(padding));
        ArgumentNullException.ThrowIfNull(options);
        InChannels = inChannels;
        OutChannels = outChannels;
        Kernel = kernel;
        Stride = stride;
        Padding = padding;
        Weight = AddParameter("weight", Shape.Of(outChannels, inChannels, kernel.H, kernel.W), ParameterInit.Normal);
        Bias = bias ? AddParameter("bias", Shape.Of(outChannels), ParameterInit.Zeros) : null;
        _geometry = new ConvolutionGeometry(inChannels, outChannels, kernel, stride, padding);
        _op = device.Backend.Convolution(_geometry, options);
    }

    public int InChannels { get; }
    public int OutChannels { get; }
    public (int H, int W) Kernel { get; }
    public (int H, int W) Stride { get; }
    public (int H, int W) Padding { get; }

    /// <summary>"weight" [Co, Ci, kH, kW].</summary>
    public Parameter Weight { get; }

    /// <summary>"bias" [Co], or null without bias.</summary>
    public Parameter? Bias { get; }

    public override Shape OutputShape(Shape input) => _geometry.OutputShape(input, "Conv2d input");

    /// <summary>True when this convolution runs as host code (im2col and BLAS) on this device.</summary>
    public bool RunsOnHost => _op.Path == ConvolutionPath.HostBlas;

    /// <summary>True when this convolution runs as vectorised direct host code on this device: the cpu device with host
    /// passes, fewer than <see cref="HostMinOutChannels"/> output channels, stride 1 and padding below the kernel size
    /// (the attention layers' K·C → C convolutions).</summary>
    public bool RunsNarrowOnHost => _op.Path == ConvolutionPath.HostNarrow;

    /// <summary>The op this layer runs (tests).</summary>
    internal IConvolution Op => _op;

    public override DeviceTensor Forward(DeviceTensor input)
    {
        ArgumentNullException.ThrowIfNull(input);
        var outShape = OutputShape(input.Shape);
        var y = Scratch(ref _output, outShape);
        _op.Forward(y, input, Weight.Value, Bias?.Value);
        _input = input;
        _inputShape = input.Shape;
        return y;
    }

    public override DeviceTensor? Backward(DeviceTensor gradOutput)
    {
        BackwardParameters(gradOutput);
        return ComputeInputGradient ? BackwardInput(gradOutput) : null;
    }

    /// <summary>Adds the weight and bias gradients of the latest Forward for <paramref name="gradOutput"/> (half of
    /// <see cref="Backward"/>).</summary>
    public void BackwardParameters(DeviceTensor gradOutput)
    {
        CheckBackward(gradOutput);
        _op.WeightGradient(Weight.Gradient, gradOutput, _input!);
        if (Bias is not null)
            ChannelReductions.Sum(gradOutput, Bias.Gradient, accumulate: true, Scratch(ref _workspace, Shape.Of(1)));
    }

    /// <summary>The input gradient (module-owned) of the latest Forward for <paramref name="gradOutput"/>, whatever
    /// <see cref="Module.ComputeInputGradient"/> says (the other half of <see cref="Backward"/>).</summary>
    public DeviceTensor BackwardInput(DeviceTensor gradOutput)
    {
        CheckBackward(gradOutput);
        var gx = Scratch(ref _gradInput, _inputShape!);
        if (_inputShape!.N == 0)
            return gx;
        _op.InputGradient(gx, gradOutput, Weight.Value);
        return gx;
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
            _op.Dispose();
    }

    private void CheckBackward(DeviceTensor gradOutput)
    {
        ArgumentNullException.ThrowIfNull(gradOutput);
        if (_output is null || _input is null)
            throw new InvalidOperationException("Conv2d.Backward called before Forward.");
        if (_input.IsDisposed || !_input.Shape.Equals(_inputShape))
            throw new InvalidOperationException($"Conv2d.Backward: the input of the latest Forward ({_inputShape}) was disposed or reshaped since.");
        Shape.Require(_output.Shape, gradOutput.Shape, "Conv2d.Backward gradient");
    }
}
