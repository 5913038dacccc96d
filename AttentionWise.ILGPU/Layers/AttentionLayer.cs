namespace AttentionWise.Layers;

/// <summary>
/// One element-wise attention layer (SPEC §2): Z = concat of the K heads' X ⊙ R'_k (<see cref="AttentionHeads"/>),
/// Y = Conv2d(K·C → C, 3×3, padding 1, bias)(Z), Y += X unless the skip connection is off, an optional affine
/// BatchNorm2d(C) ("post-conv batchnorm"), then ReLU. Input and output are [N, C, H, W].
/// Children: "heads" (parameters "wx", "wy", optional "bx", "by"), "conv", and "bn" when enabled.
/// The tensors the forward computes stay readable until the next forward, for visualisation (paper Fig. 4–8):
/// <see cref="HeadOutputs"/>, <see cref="ConvOutput"/>, <see cref="PreNormOutput"/>, <see cref="NormOutput"/>,
/// <see cref="Output"/>, and on request each head's R = Ox ⊙ Oy (<see cref="Relevance"/>).
/// </summary>
public sealed class AttentionLayer : Module
{
    private DeviceTensor? _sum, _output, _gradSum;
    private DeviceTensor? _preNorm, _normOutput;

    public AttentionLayer(ComputeDevice device, int channels, int height, int width, int heads,
        bool postConvBatchNorm = false, bool skip = true, bool headBias = false)
        : base(device)
    {
        Channels = channels;
        Height = height;
        Width = width;
        Skip = skip;
        Heads = AddModule("heads", new AttentionHeads(device, channels, height, width, heads, headBias));
        Conv = AddModule("conv", new Conv2d(device, heads * channels, channels, 3, 1, 1, bias: true));
        if (postConvBatchNorm)
            Norm = AddModule("bn", new BatchNorm2d(device, channels));
    }

    public int Channels { get; }
    public int Height { get; }
    public int Width { get; }

    /// <summary>Whether the layer input is added to the convolution's output.</summary>
    public bool Skip { get; }

    public AttentionHeads Heads { get; }
    public Conv2d Conv { get; }

    /// <summary>The post-conv batchnorm, or null (configurations B, D, F, H).</summary>
    public BatchNorm2d? Norm { get; }

    /// <summary>"Before Conv": the heads' outputs [N, K·C, H, W] of the latest forward.</summary>
    public DeviceTensor? HeadOutputs => Heads.Output;

    /// <summary>"After Conv": the convolution's output [N, C, H, W].</summary>
    public DeviceTensor? ConvOutput { get; private set; }

    /// <summary>"Before Norm": the convolution's output plus the skip connection (the convolution's output when
    /// the skip is off).</summary>
    public DeviceTensor? PreNormOutput => _preNorm;

    /// <summary>"After Norm": the post-conv batchnorm's output, or null without that batchnorm.</summary>
    public DeviceTensor? NormOutput => _normOutput;

    /// <summary>"Final Output": after ReLU (= the tensor Forward returned).</summary>
    public DeviceTensor? Output => _output;

    /// <summary>Each head's relevance R = Ox ⊙ Oy of the latest forward, [N, K·C, H, W], computed on request.</summary>
    public DeviceTensor Relevance() => Heads.Relevance();

    public override Shape OutputShape(Shape input)
    {
        Shape.Require(Shape.Of(input.N, Channels, Height, Width), input, "AttentionLayer input");
        return input;
    }

    public override DeviceTensor Forward(DeviceTensor input)
    {
        OutputShape(input.Shape);
        var z = Heads.Forward(input);
        var y = Conv.Forward(z);
        ConvOutput = y;
        DeviceTensor s = y;
        if (Skip)
        {
            s = Scratch(ref _sum, input.Shape);
            Elementwise.Add(y, input, s);
        }
        _preNorm = s;
        DeviceTensor b = s;
        if (Norm is not null)
            b = Norm.Forward(s);
        _normOutput = Norm is null ? null : b;
        var output = Scratch(ref _output, input.Shape);
        Elementwise.Relu(b, output);
        return output;
    }

    public override DeviceTensor? Backward(DeviceTensor gradOutput)
    {
        if (_output is null)
            throw new InvalidOperationException("AttentionLayer.Backward called before Forward.");
        Shape.Require(_output.Shape, gradOutput.Shape, "AttentionLayer.Backward gradient");
        var gb = Scratch(ref _gradSum, gradOutput.Shape);
        Elementwise.ReluBackward(gradOutput, _output, gb);
        var gs = gb;
        if (Norm is not null)
            gs = Norm.Backward(gb)!;
        Conv.ComputeInputGradient = true;
        Conv.BackwardParameters(gs);
        var gz = Conv.BackwardInput(gs);
        Heads.ComputeInputGradient = ComputeInputGradient;
        // The skip connection's gradient (gs) is added inside the heads' backward pass.
        return Heads.Backward(gz, Skip && ComputeInputGradient ? gs : null);
    }
}
