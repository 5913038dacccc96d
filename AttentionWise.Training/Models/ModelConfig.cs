using System.Text.Json;
using System.Text.Json.Serialization;
using AttentionWise.Layers;

namespace AttentionWise.Training.Models;

/// <summary>The options of an element-wise attention model (SPEC §2).</summary>
/// <param name="Heads">Heads per attention layer.</param>
/// <param name="Layers">Attention layers.</param>
/// <param name="PostConvBatchNorm">An affine BatchNorm2d after each layer's conv (configurations A, C, E, G).</param>
/// <param name="Skip">The skip connection Y = conv(Z) + X (on in every paper configuration).</param>
/// <param name="HeadBias">A learnable bias inside each head (Px = X ⊙ Wx + Bx; the paper's future work).</param>
public sealed record AttentionOptions(int Heads, int Layers, bool PostConvBatchNorm, bool Skip = true, bool HeadBias = false)
{
    public override string ToString() =>
        $"{Heads} heads, {Layers} layers, {(PostConvBatchNorm ? "post-conv BN" : "no post-conv BN")}{(Skip ? "" : ", no skip")}{(HeadBias ? ", head bias" : "")}";
}

/// <summary>Command-line changes to a model's attention options; null keeps the registry's value.</summary>
public sealed record AttentionOverrides(int? Heads = null, int? Layers = null, bool? PostConvBatchNorm = null, bool? Skip = null, bool? HeadBias = null)
{
    public bool Any => Heads is not null || Layers is not null || PostConvBatchNorm is not null || Skip is not null || HeadBias is not null;

    public AttentionOptions Apply(AttentionOptions o) => new(
        Heads ?? o.Heads, Layers ?? o.Layers, PostConvBatchNorm ?? o.PostConvBatchNorm, Skip ?? o.Skip, HeadBias ?? o.HeadBias);
}

/// <summary>Everything needed to build a model again: its registry name, the input it was built for and
/// its options. Saved in config.json and in checkpoints.</summary>
public sealed record ModelConfig
{
    public required string Name { get; init; }
    public required int Channels { get; init; }
    public required int Height { get; init; }
    public required int Width { get; init; }
    public int Classes { get; init; } = 10;

    /// <summary>Attention options (attention models only).</summary>
    public AttentionOptions? Attention { get; init; }

    public static readonly JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        // Files written by hand or damaged: a null where a value must be, or a missing constructor value, is an error.
        RespectNullableAnnotations = true,
        RespectRequiredConstructorParameters = true,
    };

    public string ToJson() => JsonSerializer.Serialize(this, Json);

    public static ModelConfig FromJson(string json) =>
        JsonSerializer.Deserialize<ModelConfig>(json, Json) ?? throw new JsonException("A model configuration is empty.");

    [JsonIgnore]
    public string InputDescription => $"{Channels}×{Height}×{Width}";

    public override string ToString() => Attention is null ? $"{Name} on {InputDescription}" : $"{Name} on {InputDescription} ({Attention})";
}

/// <summary>The model contract of the training loop: a network that maps [N, C, H, W] images to
/// [N, classes] logits, the first-layer weight the paper's gradient metric reads, and what rebuilds it.</summary>
public interface ITrainableModel : IDisposable
{
    /// <summary>The registry name and options (config.json, checkpoints).</summary>
    ModelConfig Config { get; }

    /// <summary>The network: Forward gives logits, Backward accumulates parameter gradients.</summary>
    Module Network { get; }

    /// <summary>The parameter that holds the first layer's weights (control: conv 1 weight; attention: the
    /// Wx tensor of layer 0, all heads).</summary>
    Parameter FirstLayerWeight { get; }

    /// <summary>The paper's "last gradients average" read now: the mean of the gradient of the first layer's
    /// weight (control: conv 1 weight; attention: Wx of head 0 of layer 0).</summary>
    float FirstLayerGradientMean();

    /// <summary>Whether every image's output and gradient depend on that image alone in training mode (no batch
    /// statistics): then a batch can be trained in parts with the same result (micro-batching).</summary>
    bool BatchIndependent { get; }
}

/// <summary>A built model: a network plus what the loop needs to know about it.</summary>
public sealed class TrainableModel : ITrainableModel
{
    private readonly int _offset;
    private readonly int _length;

    /// <param name="config">What rebuilds the model.</param>
    /// <param name="network">The network.</param>
    /// <param name="firstLayerWeight">The first layer's weight parameter.</param>
    /// <param name="offset">Start of the part of <paramref name="firstLayerWeight"/> the gradient metric averages (e.g. head 0).</param>
    /// <param name="length">Length of that part; null: to the end.</param>
    /// <param name="batchIndependent">No batch statistics in training mode (see <see cref="ITrainableModel.BatchIndependent"/>).</param>
    public TrainableModel(ModelConfig config, Module network, Parameter firstLayerWeight, int offset = 0, int? length = null, bool batchIndependent = false)
    {
        BatchIndependent = batchIndependent;
        Config = config;
        Network = network;
        FirstLayerWeight = firstLayerWeight;
        _offset = offset;
        _length = length ?? firstLayerWeight.Length - offset;
        if (offset < 0 || _length <= 0 || offset + _length > firstLayerWeight.Length)
            throw new ArgumentOutOfRangeException(nameof(offset), $"Elements {offset}..{offset + _length - 1} are not within {firstLayerWeight}.");
    }

    public ModelConfig Config { get; }
    public Module Network { get; }
    public Parameter FirstLayerWeight { get; }
    public long ParameterCount => Network.ParameterCount;
    public bool BatchIndependent { get; }

    public float FirstLayerGradientMean()
    {
        if (_offset == 0 && _length == FirstLayerWeight.Length)
            return Reductions.Mean(FirstLayerWeight.Gradient);
        // A part of the tensor (one head): small, so averaged on the host, in a fixed order.
        var g = FirstLayerWeight.Gradient.Download();
        double sum = 0;
        for (int i = _offset; i < _offset + _length; i++)
            sum += g[i];
        return (float)(sum / _length);
    }

    public void Dispose() => Network.Dispose();
}
