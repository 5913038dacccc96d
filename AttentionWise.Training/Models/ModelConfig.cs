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
    };

    public string ToJson() => JsonSerializer.Serialize(this, Json);

    public static ModelConfig FromJson(string json) =>
        JsonSerializer.Deserialize<ModelConfig>(json, Json) ?? throw new JsonException("A model configuration is empty.");

    [JsonIgnore]
    public string InputDescription => $"{Channels}×{Height}×{Width}";

    public override string ToString() => Attention is null ? $"{Name} on {InputDescription}" : $"{Name} on {InputDescription} ({Attention})";
}

/// <summary>The model contract of the training loop: a network that maps [N, C, H, W] images to
/// [N, classes] logits, the parameter the paper's gradient metric reads, and what rebuilds it.</summary>
public interface ITrainableModel : IDisposable
{
    /// <summary>The registry name and options (config.json, checkpoints).</summary>
    ModelConfig Config { get; }

    /// <summary>The network: Forward gives logits, Backward accumulates parameter gradients.</summary>
    Module Network { get; }

    /// <summary>The first layer's weight, whose gradient mean is the paper's "last gradients average"
    /// (control: conv 1 weight; attention: Wx of head 0 of layer 0).</summary>
    Parameter FirstLayerWeight { get; }
}

/// <summary>A built model: a network plus what the loop needs to know about it.</summary>
public sealed class TrainableModel : ITrainableModel
{
    public TrainableModel(ModelConfig config, Module network, Parameter firstLayerWeight)
    {
        Config = config;
        Network = network;
        FirstLayerWeight = firstLayerWeight;
    }

    public ModelConfig Config { get; }
    public Module Network { get; }
    public Parameter FirstLayerWeight { get; }
    public long ParameterCount => Network.ParameterCount;

    public void Dispose() => Network.Dispose();
}
