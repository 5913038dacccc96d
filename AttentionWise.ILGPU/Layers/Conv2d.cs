using AttentionWise.Kernels;
using ILGPU;

namespace AttentionWise.Layers;

/// <summary>
/// 2-D convolution over NCHW input, as PyTorch's nn.Conv2d (cross-correlation, zero padding, no dilation
/// or groups). Parameters: "weight" [Co, Ci, kH, kW] (normal init) and optional "bias" [Co] (zeros).
/// Keeps its (padded) input for the backward pass.
/// </summary>
public sealed class Conv2d : Module
{
    private readonly ConvPlan _plan;
    private DeviceTensor? _padded;
    private DeviceTensor? _input;
    private DeviceTensor? _blocked;
    private DeviceTensor? _output;
    private DeviceTensor? _gradPadded;
    private DeviceTensor? _gradInput;
    private DeviceTensor? _workspace;
    private ConvPlan.Pass? _pass;
    private Shape? _inputShape;

    public Conv2d(ComputeDevice device, int inChannels, int outChannels, int kernelSize, int stride = 1, int padding = 0, bool bias = true)
        : this(device, inChannels, outChannels, (kernelSize, kernelSize), (stride, stride), (padding, padding), bias)
    {
    }

    public Conv2d(ComputeDevice device, int inChannels, int outChannels, (int H, int W) kernel, (int H, int W) stride, (int H, int W) padding, bool bias)
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
        InChannels = inChannels;
        OutChannels = outChannels;
        Kernel = kernel;
        Stride = stride;
        Padding = padding;
        Weight = AddParameter("weight", Shape.Of(outChannels, inChannels, kernel.H, kernel.W), ParameterInit.Normal);
        Bias = bias ? AddParameter("bias", Shape.Of(outChannels), ParameterInit.Zeros) : null;
        _plan = new ConvPlan(inChannels, outChannels, kernel, stride, padding);
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

    public override Shape OutputShape(Shape input) => _plan.OutputShape(input, "Conv2d input");

    public override DeviceTensor Forward(DeviceTensor input)
    {
        ArgumentNullException.ThrowIfNull(input);
        var outShape = OutputShape(input.Shape);
        var y = Scratch(ref _output, outShape);
        var k = Device.Kernels<Conv2dKernelSet>();
        var fwd = _plan.Forward(input.Shape);

        // Zero-bordered copy of the input, unless the input already has the layout the kernel reads.
        DeviceTensor xp;
        if (fwd.NeedsPad)
        {
            xp = Scratch(ref _padded, fwd.PaddedShape);
            ConvPlan.LaunchPad(k, xp, input, fwd.Pad);
            _input = null;
        }
        else
        {
            xp = input;
            _input = input;
        }

        var wb = Scratch(ref _blocked, Shape.Of(fwd.Geometry.Blocks * InChannels * _plan.Taps * ConvPlan.Block));
        k.BlockWeights(new Index2D(InChannels, fwd.Geometry.Blocks), wb.View, Weight.Value.View, OutChannels, InChannels, _plan.Taps, ConvPlan.Block, 0);
        var bias = Bias?.Value ?? Weight.Value;
        ConvPlan.LaunchForward(k, y, xp, wb, bias, fwd.Geometry, Bias is not null);
        _pass = fwd;
        _inputShape = input.Shape;
        return y;
    }

    public override DeviceTensor? Backward(DeviceTensor gradOutput)
    {
        ArgumentNullException.ThrowIfNull(gradOutput);
        if (_output is null)
            throw new InvalidOperationException("Conv2d.Backward called before Forward.");
        Shape.Require(_output.Shape, gradOutput.Shape, "Conv2d.Backward gradient");
        var k = Device.Kernels<Conv2dKernelSet>();
        var fwd = _pass!;
        var xShape = _inputShape!;
        var xp = _input ?? _padded!;

        // Weight gradient (accumulates).
        k.BackwardWeightSimple(Weight.Length, Weight.Gradient.View, gradOutput.View, xp.View, fwd.Geometry);
        if (Bias is not null)
            ChannelReductions.Sum(gradOutput, Bias.Gradient, accumulate: true, Scratch(ref _workspace, Shape.Of(1)));

        if (!ComputeInputGradient)
            return null;
        var gx = Scratch(ref _gradInput, xShape);
        if (Stride == (1, 1))
        {
            var bwd = _plan.BackwardInput(xShape, gradOutput.Shape);
            var gp = Scratch(ref _gradPadded, bwd.PaddedShape);
            ConvPlan.LaunchPad(k, gp, gradOutput, bwd.Pad);
            var wb = Scratch(ref _blocked, Shape.Of(bwd.Geometry.Blocks * OutChannels * _plan.Taps * ConvPlan.Block));
            k.BlockWeights(new Index2D(OutChannels, bwd.Geometry.Blocks), wb.View, Weight.Value.View, InChannels, OutChannels, _plan.Taps, ConvPlan.Block, 1);
            ConvPlan.LaunchForward(k, gx, gp, wb, wb, bwd.Geometry, hasBias: false);
        }
        else
        {
            var g = new ConvGeometry(xShape.N, InChannels, OutChannels, xShape.H, xShape.W, gradOutput.Shape.H, gradOutput.Shape.W,
                Kernel.H, Kernel.W, Stride.H, Stride.W, 0, 0);
            k.BackwardInputStrided(xShape.N * InChannels * xShape.H, gx.View, gradOutput.View, Weight.Value.View, g, Padding.H, Padding.W);
        }
        return gx;
    }
}

/// <summary>Host-side geometry of one convolution: padded buffers, tiles and launches.</summary>
internal sealed class ConvPlan
{
    /// <summary>Output channels per register tile.</summary>
    public const int Block = 4;

    /// <summary>Output columns per register tile.</summary>
    public const int Columns = 2;

    public ConvPlan(int inChannels, int outChannels, (int H, int W) kernel, (int H, int W) stride, (int H, int W) padding)
    {
        InChannels = inChannels;
        OutChannels = outChannels;
        Kernel = kernel;
        Stride = stride;
        Padding = padding;
    }

    public int InChannels { get; }
    public int OutChannels { get; }
    public (int H, int W) Kernel { get; }
    public (int H, int W) Stride { get; }
    public (int H, int W) Padding { get; }
    public int Taps => Kernel.H * Kernel.W;

    /// <summary>A valid-convolution pass: its geometry, the padded input shape and how to pad.</summary>
    public sealed record Pass(ConvGeometry Geometry, Shape PaddedShape, PadGeometry Pad, bool NeedsPad);

    public Shape OutputShape(Shape input, string where)
    {
        ArgumentNullException.ThrowIfNull(input);
        if (input.Rank != 4 || input.C != InChannels)
            throw new ShapeMismatchException(where, Shape.Of(input.Rank >= 1 ? input[0] : 0, InChannels, input.Rank == 4 ? input.H : 0, input.Rank == 4 ? input.W : 0), input);
        int ho = (input.H + 2 * Padding.H - Kernel.H) / Stride.H + 1;
        int wo = (input.W + 2 * Padding.W - Kernel.W) / Stride.W + 1;
        if (input.H + 2 * Padding.H < Kernel.H || input.W + 2 * Padding.W < Kernel.W)
            throw new ArgumentException($"{where}: {input} is smaller than the {Kernel.H}×{Kernel.W} kernel with padding {Padding.H}×{Padding.W}.");
        return Shape.Of(input.N, OutChannels, ho, wo);
    }

    public Pass Forward(Shape input)
    {
        var output = OutputShape(input, "Conv2d input");
        int tilesX = (output.W + Columns - 1) / Columns;
        int hp = input.H + 2 * Padding.H;
        int wp = Math.Max(input.W + 2 * Padding.W, (tilesX * Columns - 1) * Stride.W + Kernel.W);
        var g = new ConvGeometry(input.N, InChannels, OutChannels, hp, wp, output.H, output.W, Kernel.H, Kernel.W, Stride.H, Stride.W,
            tilesX, (OutChannels + Block - 1) / Block);
        var pad = new PadGeometry(input.N * InChannels, input.H, input.W, hp, wp, Padding.H, Padding.W);
        bool needsPad = Padding != (0, 0) || wp != input.W;
        return new Pass(g, Shape.Of(input.N, InChannels, hp, wp), pad, needsPad);
    }

    /// <summary>The stride-1 input gradient as a forward pass over the gradient padded by K − 1 − P.</summary>
    public Pass BackwardInput(Shape input, Shape output)
    {
        int tilesX = (input.W + Columns - 1) / Columns;
        int hd = input.H + Kernel.H - 1;
        int wd = Math.Max(input.W + Kernel.W - 1, (tilesX * Columns - 1) + Kernel.W);
        var g = new ConvGeometry(input.N, OutChannels, InChannels, hd, wd, input.H, input.W, Kernel.H, Kernel.W, 1, 1,
            tilesX, (InChannels + Block - 1) / Block);
        var pad = new PadGeometry(input.N * OutChannels, output.H, output.W, hd, wd, Kernel.H - 1 - Padding.H, Kernel.W - 1 - Padding.W);
        return new Pass(g, Shape.Of(input.N, OutChannels, hd, wd), pad, true);
    }

    public static void LaunchPad(Conv2dKernelSet k, DeviceTensor dst, DeviceTensor src, PadGeometry pad)
    {
        int rows = pad.Planes * pad.DstH;
        if (rows > 0)
            k.Pad(rows, dst.View, src.View, pad);
    }

    public static void LaunchForward(Conv2dKernelSet k, DeviceTensor y, DeviceTensor xp, DeviceTensor wb, DeviceTensor bias, ConvGeometry g, bool hasBias)
    {
        if (g.Batch == 0)
            return;
        k.ForwardB4P2(new Index3D(g.OutH * g.TilesX, g.Blocks, g.Batch), y.View, xp.View, wb.View, bias.View, g, hasBias ? 1 : 0);
    }
}
