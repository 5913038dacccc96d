using AttentionWise.Layers;

namespace AttentionWise.Training.Models;

/// <summary>The shape and options of an element-wise attention model (SPEC §2).</summary>
/// <param name="Channels">Input channels C (1 for Fashion-MNIST, 3 for CIFAR-10).</param>
/// <param name="Height">Input rows H.</param>
/// <param name="Width">Input columns W.</param>
/// <param name="Heads">Heads per attention layer.</param>
/// <param name="Layers">Attention layers.</param>
/// <param name="PostConvBatchNorm">An affine BatchNorm2d after each layer's conv (configurations A, C, E, G).</param>
/// <param name="Skip">The skip connection Y = conv(Z) + X.</param>
/// <param name="HeadBias">A learnable bias inside each head (Px = X ⊙ Wx + Bx, Py = X ⊙ Wy + By).</param>
/// <param name="Classes">Output classes.</param>
public sealed record AttentionModelOptions(
    int Channels, int Height, int Width, int Heads, int Layers, bool PostConvBatchNorm,
    bool Skip = true, bool HeadBias = false, int Classes = 10)
{
    /// <summary>The formula of SPEC §2: per layer 2·K·C·H·W (+ 2·K·C·H·W with head biases) + K·C·C·9 + C
    /// (+ 2C with the post-conv batchnorm); the classifier 10·C·H·W + 10.</summary>
    public long FormulaParameterCount()
    {
        long chw = (long)Channels * Height * Width;
        long layer = 2L * Heads * chw * (HeadBias ? 2 : 1) + (long)Heads * Channels * Channels * 9 + Channels
            + (PostConvBatchNorm ? 2L * Channels : 0);
        return Layers * layer + Classes * chw + Classes;
    }
}

/// <summary>
/// The element-wise attention model (SPEC §2): <see cref="AttentionModelOptions.Layers"/> attention layers of
/// the input's shape, then Linear(C·H·W → classes). Forward gives logits; the loss (LogSoftmax + NLL) is applied
/// by the caller. Parameter names: "layers.{i}.heads.wx"/"wy" [K, C, H, W] (and "bx"/"by"),
/// "layers.{i}.conv.weight"/"bias", "layers.{i}.bn.weight"/"bias", "classifier.weight"/"bias".
/// The paper's "last gradients average" reads head 0 of layer 0's Wx: <see cref="FirstHeadWxGradientMean"/>.
/// </summary>
public sealed class AttentionModel : Module
{
    /// <summary>The name of the parameter holding layer 0's x weights (all heads; head 0 is the first C·H·W values).</summary>
    public const string FirstWxName = "layers.0.heads.wx";

    private readonly Sequential _layers;

    public AttentionModel(ComputeDevice device, AttentionModelOptions options) : base(device)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (options.Heads < 1 || options.Layers < 1)
            throw new ArgumentOutOfRangeException(nameof(options), $"An attention model needs at least one head and one layer, not {options.Heads} heads and {options.Layers} layers.");
        Options = options;
        _layers = AddModule("layers", new Sequential(device));
        for (int i = 0; i < options.Layers; i++)
        {
            _layers.Add(new AttentionLayer(device, options.Channels, options.Height, options.Width, options.Heads,
                options.PostConvBatchNorm, options.Skip, options.HeadBias));
        }
        Classifier = AddModule("classifier", new Linear(device, options.Channels * options.Height * options.Width, options.Classes));
        // The model's input (the images) never needs a gradient.
        ComputeInputGradient = false;
    }

    public AttentionModelOptions Options { get; }

    public IReadOnlyList<AttentionLayer> Layers => _layers.Modules.Cast<AttentionLayer>().ToList();

    public Linear Classifier { get; }

    /// <summary>Layer 0's x weights, [K, C, H, W] (head 0 first): the paper's first-layer weight.</summary>
    public Parameter FirstLayerWx => ((AttentionLayer)_layers.Modules[0]).Heads.Wx;

    /// <summary>Elements of one head's weight array, C·H·W (head 0 of <see cref="FirstLayerWx"/> is elements 0 to this − 1).</summary>
    public int HeadLength => Options.Channels * Options.Height * Options.Width;

    /// <summary>The paper's "last gradients average": the mean of the gradient of Wx of head 0 of layer 0 (summed on
    /// the host in a fixed order; downloads K·C·H·W floats).</summary>
    public float FirstHeadWxGradientMean()
    {
        var g = FirstLayerWx.Gradient.Download();
        double sum = 0;
        for (int i = 0; i < HeadLength; i++)
            sum += g[i];
        return (float)(sum / HeadLength);
    }

    public override Shape OutputShape(Shape input) => Classifier.OutputShape(_layers.OutputShape(input));

    public override DeviceTensor Forward(DeviceTensor input) => Classifier.Forward(_layers.Forward(input));

    public override DeviceTensor? Backward(DeviceTensor gradOutput)
    {
        var g = Classifier.Backward(gradOutput) ?? throw new InvalidOperationException("The classifier returned no input gradient.");
        _layers.ComputeInputGradient = ComputeInputGradient;
        return _layers.Backward(g);
    }
}
