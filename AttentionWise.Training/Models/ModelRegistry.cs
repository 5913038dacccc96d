using AttentionWise.Training.Data;

namespace AttentionWise.Training.Models;

/// <summary>The kinds of network the registry builds.</summary>
public enum ModelFamily
{
    Control,
    Attention,
    DiaControl,
}

/// <summary>One named model of the registry.</summary>
/// <param name="Name">The --model name.</param>
/// <param name="Description">One line for --help and `aw params`.</param>
/// <param name="Attention">The preset of an attention model (SPEC §2 table).</param>
/// <param name="PaperCountFashionMnist">The paper's parameter count on Fashion-MNIST, where it gives one.</param>
/// <param name="PaperCountCifar10">The paper's parameter count on CIFAR-10, where it gives one.</param>
/// <param name="DefaultDataset">The dataset used when --dataset is not given.</param>
public sealed record ModelEntry(
    string Name,
    string Description,
    ModelFamily Family,
    AttentionOptions? Attention,
    long? PaperCountFashionMnist,
    long? PaperCountCifar10,
    string DefaultDataset = Datasets.FashionMnistName)
{
    public long? PaperCount(string dataset) =>
        Datasets.Canonical(dataset) == Datasets.Cifar10Name ? PaperCountCifar10 : PaperCountFashionMnist;
}

/// <summary>Every model the command line can train, by name, and the factory that builds them.</summary>
public static class ModelRegistry
{
    public const string Default = "attention-b";

    public static readonly IReadOnlyList<ModelEntry> Entries =
    [
        new("control", "VGG-like control CNN", ModelFamily.Control, null, 929_510, 961_310),
        Attention('a', 8, 2, true, 33_104),
        Attention('b', 8, 2, false, 33_084),
        Attention('c', 16, 2, true, 58_208),
        Attention('d', 16, 2, false, 58_172),
        Attention('e', 8, 4, true, 58_342),
        Attention('f', 8, 4, false, 58_318),
        Attention('g', 16, 4, true, 108_534),
        Attention('h', 16, 4, false, 108_494),
        new("attention-cifar", "paper's CIFAR-10 attention model: 8 heads, 4 layers, no post-conv BN", ModelFamily.Attention,
            new AttentionOptions(8, 4, false), null, 506_560, Datasets.Cifar10Name),
        new("dia-control", "control CNN + one DIA shared-attention unit per stage", ModelFamily.DiaControl, null, null, null),
    ];

    public static IReadOnlyList<string> Names => Entries.Select(e => e.Name).ToList();

    public static bool IsKnown(string name) => Entries.Any(e => e.Name == Normalize(name));

    /// <summary>The entry of a name (case-insensitive); throws an <see cref="ArgumentException"/> naming the valid ones.</summary>
    public static ModelEntry Find(string name) =>
        Entries.FirstOrDefault(e => e.Name == Normalize(name))
        ?? throw new ArgumentException($"Unknown model '{name}'. Valid models: {string.Join(", ", Names)}.");

    /// <summary>The configuration of a named model for an input shape, with command-line overrides.</summary>
    public static ModelConfig Configure(string name, int channels, int height, int width, int classes = 10, AttentionOverrides? overrides = null)
    {
        var entry = Find(name);
        if (overrides is { Any: true } && entry.Attention is null)
            throw new ArgumentException($"Model '{entry.Name}' has no attention options (heads, layers, post-conv batchnorm, skip and head bias apply to attention models only).");
        var attention = entry.Attention is null ? null : (overrides ?? new()).Apply(entry.Attention);
        if (attention is not null && (attention.Heads < 1 || attention.Layers < 1))
            throw new ArgumentException($"An attention model needs at least one head and one layer, not {attention.Heads} heads and {attention.Layers} layers.");
        return new ModelConfig { Name = entry.Name, Channels = channels, Height = height, Width = width, Classes = classes, Attention = attention };
    }

    /// <summary>Whether the named model has no batch statistics (see <see cref="ITrainableModel.BatchIndependent"/>): the
    /// control models; attention models normalise over the batch.</summary>
    public static bool BatchIndependent(string name) => Find(name).Family != ModelFamily.Attention;

    /// <summary>What is wrong with a configuration read from a file (empty when the registry can build it): an unknown
    /// name, a size that is not positive, attention options on a model without attention or missing on one with it.</summary>
    public static IReadOnlyList<string> Problems(ModelConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        var p = new List<string>();
        var entry = Entries.FirstOrDefault(e => e.Name == config.Name);
        if (entry is null)
        {
            p.Add($"model '{config.Name}' is not one of {string.Join(", ", Names)}");
            return p;
        }
        if (config.Channels < 1 || config.Height < 1 || config.Width < 1)
            p.Add($"input {config.InputDescription} is not a positive image size");
        if (config.Classes < 1)
            p.Add(FormattableString.Invariant($"{config.Classes} classes (at least 1 is needed)"));
        if (entry.Family != ModelFamily.Attention && (config.Height < 4 || config.Width < 4))
            p.Add($"{entry.Name} needs images of at least 4×4 pixels, not {config.Height}×{config.Width}");
        if (entry.Family == ModelFamily.Attention)
        {
            if (config.Attention is not { } a)
                p.Add($"{entry.Name} is an attention model but the configuration has no attention options");
            else if (a.Heads < 1 || a.Layers < 1)
                p.Add(FormattableString.Invariant($"an attention model needs at least one head and one layer, not {a.Heads} heads and {a.Layers} layers"));
        }
        else if (config.Attention is not null)
        {
            p.Add($"{entry.Name} has no attention options but the configuration gives some");
        }
        return p;
    }

    /// <summary>Builds the model a configuration describes (parameters uninitialised: call Init.Apply). A model whose
    /// parameters alone would not fit on the device is refused before anything is allocated.</summary>
    /// <exception cref="Training.ModelTooLargeException">The parameters do not fit.</exception>
    public static TrainableModel Create(ComputeDevice device, ModelConfig config)
    {
        ArgumentNullException.ThrowIfNull(device);
        ArgumentNullException.ThrowIfNull(config);
        var entry = Find(config.Name);
        ModelFootprint.Of(config, imagesPerPass: 0, training: false).Require(device);
        switch (entry.Family)
        {
            case ModelFamily.Control:
            {
                var model = new ControlModel(device, config.Channels, config.Height, config.Width, config.Classes);
                return new TrainableModel(config, model, model.Conv1.Weight, batchIndependent: true);
            }
            case ModelFamily.Attention:
            {
                var a = config.Attention ?? entry.Attention!;
                var model = new AttentionModel(device, AttentionModelOptions.Of(config, a));
                return new TrainableModel(config, model, model.FirstLayerWx, 0, model.HeadLength);
            }
            case ModelFamily.DiaControl:
            {
                var model = new DiaControlModel(device, config.Channels, config.Height, config.Width, config.Classes);
                return new TrainableModel(config, model, model.Conv1.Weight, batchIndependent: true);
            }
            default:
                throw new NotSupportedException($"Model family {entry.Family} has no factory.");
        }
    }

    private static ModelEntry Attention(char letter, int heads, int layers, bool bn, long paper) =>
        new($"attention-{letter}",
            $"attention config {char.ToUpperInvariant(letter)}: {heads} heads, {layers} layers, {(bn ? "post-conv BN" : "no post-conv BN")}",
            ModelFamily.Attention, new AttentionOptions(heads, layers, bn), paper, null);

    private static string Normalize(string name) => name.Trim().ToLowerInvariant();
}
