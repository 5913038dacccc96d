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
    /// <summary>The count of SPEC §2, derived from the model's description (<see cref="ModelSpec.Attention(AttentionModelOptions)"/>):
    /// per layer 2·K·C·H·W (+ 2·K·C·H·W with head biases) + K·C·C·9 + C (+ 2C with the post-conv batchnorm); the
    /// classifier 10·C·H·W + 10.</summary>
    public long FormulaParameterCount() => ModelSpec.Attention(this).ParameterCount;

    /// <summary>The options of <paramref name="attention"/> on the input and classes of <paramref name="config"/>.</summary>
    public static AttentionModelOptions Of(ModelConfig config, AttentionOptions attention)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(attention);
        return new(config.Channels, config.Height, config.Width, attention.Heads, attention.Layers, attention.PostConvBatchNorm,
            attention.Skip, attention.HeadBias, config.Classes);
    }
}

/// <summary>
/// The element-wise attention model (SPEC §2): <see cref="AttentionModelOptions.Layers"/> attention layers of
/// the input's shape, then Linear(C·H·W → classes). Forward gives logits; the loss (LogSoftmax + NLL) is applied
/// by the caller. Parameter names: "layers.{i}.heads.wx"/"wy" [K, C, H, W] (and "bx"/"by"),
/// "layers.{i}.conv.weight"/"bias", "layers.{i}.bn.weight"/"bias", "classifier.weight"/"bias".
/// The paper's "last gradients average" reads head 0 of layer 0's Wx: <see cref="FirstHeadWxGradientMean"/>.
/// </summary>
public sealed class AttentionModel : LayerStackModel
{
    /// <summary>The name of the parameter holding layer 0's x weights (all heads; head 0 is the first C·H·W values).</summary>
    public const string FirstWxName = "layers.0.heads.wx";

    private readonly Sequential _layers;

    public AttentionModel(ComputeDevice device, AttentionModelOptions options) : base(device, Describe(options))
    {
        Options = options;
        _layers = Layer<Sequential>(0);
        Classifier = Layer<Linear>(1);
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

    private static ModelSpec Describe(AttentionModelOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (options.Heads < 1 || options.Layers < 1)
            throw new ArgumentOutOfRangeException(nameof(options), $"An attention model needs at least one head and one layer, not {options.Heads} heads and {options.Layers} layers.");
        return ModelSpec.Attention(options);
    }
}
