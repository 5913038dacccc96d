namespace AttentionWise.Training.Models;

/// <summary>
/// The one description of a model's layers: its per-image input shape and its top-level layers in order (the last is the
/// classifier). The built model (<see cref="LayerStackModel"/>), its parameter count and its footprint
/// (<see cref="ModelFootprint"/>) are all derived from it. The paper's models come from <see cref="Control"/>,
/// <see cref="DiaControl"/> and <see cref="Attention(AttentionModelOptions)"/>, or <see cref="Of"/> for a configuration.
/// </summary>
public sealed record ModelSpec(FeatureShape Input, IReadOnlyList<LayerSpec> Layers)
{
    /// <summary>Equal descriptions: the same input and equal layers in the same order.</summary>
    public bool Equals(ModelSpec? other) =>
        other is not null && Input == other.Input && Layers.SequenceEqual(other.Layers);

    public override int GetHashCode() => HashCode.Combine(Input, Layers.Count);

    /// <summary>Each top-level layer with its input and output shapes.</summary>
    public IEnumerable<(LayerSpec Layer, FeatureShape Input, FeatureShape Output)> Steps()
    {
        var s = Input;
        foreach (var layer in Layers)
        {
            var output = layer.OutputShape(s);
            yield return (layer, s, output);
            s = output;
        }
    }

    /// <summary>The per-image shape of the output (classes×1×1 for the paper's models).</summary>
    public FeatureShape OutputShape => Steps().Last().Output;

    /// <summary>The parameter count of the built model.</summary>
    public long ParameterCount => Steps().Sum(x => x.Layer.ParameterCount(x.Input));

    /// <summary>The activations that certainly exist after a forward pass over <paramref name="images"/> images.</summary>
    public IEnumerable<HeldTensor> Activations(double images) =>
        Steps().SelectMany(x => x.Layer.Activations(x.Input, images, x.Layer.Name));

    /// <summary>Every layer's weight tensors.</summary>
    public IEnumerable<HeldTensor> Weights() => Steps().SelectMany(x => x.Layer.Weights(x.Input, x.Layer.Name));

    /// <summary>The paper's control stack (SPEC §1) in its two stages of C = 100 and C = 200:
    /// conv1 (→100, 3×3, pad 1), conv2 (100→100, 3×3, pad 1), conv3 (100→100, 2×2, stride 2, no bias);
    /// conv4 (100→200, 3×3, pad 1), conv5 (200→200, 3×3, pad 1), conv6 (200→200, 2×2, stride 2, no bias).
    /// The control model follows each convolution with a ReLU; DIA-control gives each stage a DIA unit.</summary>
    public static IReadOnlyList<IReadOnlyList<ConvSpec>> ControlStages { get; } =
    [
        [new("conv1", 100, 3, 1, 1), new("conv2", 100, 3, 1, 1), new("conv3", 100, 2, 2, 0, Bias: false)],
        [new("conv4", 200, 3, 1, 1), new("conv5", 200, 3, 1, 1), new("conv6", 200, 2, 2, 0, Bias: false)],
    ];

    /// <summary>The control model (SPEC §1): "features" (the control stack, each conv followed by "reluN") and
    /// "classifier", Linear(200·⌊H/4⌋·⌊W/4⌋ → classes). 929,510 parameters on 1×28×28, 961,310 on 3×32×32.</summary>
    public static ModelSpec Control(int channels, int height, int width, int classes = 10)
    {
        var features = ControlStages.SelectMany(stage => stage)
            .SelectMany(conv => new LayerSpec[] { conv, new ReluSpec(conv.Name.Replace("conv", "relu", StringComparison.Ordinal)) })
            .ToList();
        return new ModelSpec(new(channels, height, width), [new SequenceSpec("features", features), new LinearSpec("classifier", classes)]);
    }

    /// <summary>DIA-control (SPEC §3): the control stack's stages as "stage1" and "stage2", each with a DIA unit of
    /// reduction <paramref name="reduction"/>, then "classifier". 1,057,060 parameters on 1×28×28.</summary>
    public static ModelSpec DiaControl(int channels, int height, int width, int classes = 10, int reduction = 4)
    {
        var stages = ControlStages.Select((convs, i) => (LayerSpec)new DiaStageSpec($"stage{i + 1}", convs, reduction));
        return new ModelSpec(new(channels, height, width), [.. stages, new LinearSpec("classifier", classes)]);
    }

    /// <summary>The element-wise attention model (SPEC §2): "layers" ("0", "1", … attention layers of the input's
    /// shape), then "classifier", Linear(C·H·W → classes).</summary>
    public static ModelSpec Attention(AttentionModelOptions o)
    {
        ArgumentNullException.ThrowIfNull(o);
        var layers = Enumerable.Range(0, Math.Max(0, o.Layers))
            .Select(i => (LayerSpec)new AttentionLayerSpec(i.ToString(System.Globalization.CultureInfo.InvariantCulture), o.Heads, o.PostConvBatchNorm, o.Skip, o.HeadBias))
            .ToList();
        return new ModelSpec(new(o.Channels, o.Height, o.Width), [new SequenceSpec("layers", layers), new LinearSpec("classifier", o.Classes)]);
    }

    /// <summary>The description of the model a configuration names.</summary>
    public static ModelSpec Of(ModelConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        var entry = ModelRegistry.Find(config.Name);
        return entry.Family switch
        {
            ModelFamily.Control => Control(config.Channels, config.Height, config.Width, config.Classes),
            ModelFamily.DiaControl => DiaControl(config.Channels, config.Height, config.Width, config.Classes),
            ModelFamily.Attention => Attention(AttentionModelOptions.Of(config, config.Attention ?? entry.Attention!)),
            _ => throw new NotSupportedException($"Model family {entry.Family} has no description."),
        };
    }
}
