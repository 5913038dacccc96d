using AttentionWise.Training.Data;
using AttentionWise.Training.Models;

namespace AttentionWise.Tool.Reproduction;

/// <summary>What the paper reports for one experiment (SPEC §5).</summary>
/// <param name="LossSum">The paper's loss: the sum over the last epoch's batches of each batch's mean NLL.</param>
/// <param name="Accuracy">Test accuracy in %, or null where the paper gives "NaN" without a figure.</param>
/// <param name="AccuracyText">The accuracy as the paper writes it (e.g. "NaN (collapsed, 9.99%)").</param>
/// <param name="LastGradientAverage">The paper's "last gradients average".</param>
/// <param name="Parameters">The paper's parameter count, where it gives one.</param>
/// <param name="Minutes">The paper's training time for 10 epochs on one Tesla T4, where it gives one.</param>
/// <param name="Collapsed">Whether the paper reports the model as collapsed.</param>
internal sealed record PaperResult(
    double LossSum, double? Accuracy, string AccuracyText, double LastGradientAverage, long? Parameters, double? Minutes, bool Collapsed = false);

/// <summary>One experiment of the paper's Table 1 (and of its CIFAR-10 section and appendix), as a training run.</summary>
/// <param name="Key">The --models key (also the run folder's name: table1-&lt;key&gt;).</param>
/// <param name="Label">How the paper names the experiment.</param>
/// <param name="Model">The registry model.</param>
/// <param name="Dataset">The dataset.</param>
/// <param name="Overrides">Changes to the registry model's attention options.</param>
/// <param name="AttentionLearningRate">The learning rate of the attention weights (segregated optimisation), or null.</param>
/// <param name="Paper">The paper's figures.</param>
internal sealed record Table1Row(
    string Key, string Label, string Model, string Dataset, AttentionOverrides Overrides, float? AttentionLearningRate, PaperResult Paper)
{
    public bool IsCifar => Dataset == Datasets.Cifar10Name;

    /// <summary>The model and its options in words, e.g. "attention-a, 1 head".</summary>
    public string Description
    {
        get
        {
            var parts = new List<string> { Model };
            if (Overrides.Heads is int h)
                parts.Add(h == 1 ? "1 head" : $"{h} heads");
            if (Overrides.Skip == false)
                parts.Add("no skip");
            if (AttentionLearningRate is float a)
                parts.Add(FormattableString.Invariant($"attention lr {a}"));
            return string.Join(", ", parts);
        }
    }
}

/// <summary>The rows `aw reproduce` trains: the paper's Table 1 on Fashion-MNIST (control, A–H), the appendix's
/// single-head model and configuration B without its skip connection (segregated optimisation), and the three
/// CIFAR-10 runs of §3 and the appendix.</summary>
internal static class Table1
{
    /// <summary>The paper's set-up: 10 epochs.</summary>
    public const int PaperEpochs = 10;

    /// <summary>The learning rate of the attention weights in the paper's segregated optimisation.</summary>
    public const float SegregatedAttentionLearningRate = 0.1f;

    private static readonly AttentionOverrides None = new();

    public static readonly IReadOnlyList<Table1Row> Rows =
    [
        Fmnist("control", "Control", "control", new(4.5083, 88.29, "88.29", 0.002, 929_510, null)),
        Fmnist("attention-a", "A", "attention-a", new(34.539, 9.99, "NaN (collapsed, 9.99%)", 0, 33_104, 35, Collapsed: true)),
        Fmnist("attention-b", "B", "attention-b", new(7.5913, 81.46, "81.46", 0.000029, 33_084, 35)),
        Fmnist("attention-c", "C", "attention-c", new(34.5388, null, "NaN (collapsed)", 0, 58_208, 70, Collapsed: true)),
        Fmnist("attention-d", "D", "attention-d", new(7.4856, 81.66, "81.66", 0.000001, 58_172, 70)),
        Fmnist("attention-e", "E", "attention-e", new(9.8522, 77.09, "77.09", 0.000032, 58_342, 90)),
        Fmnist("attention-f", "F", "attention-f", new(7.4806, 81.33, "81.33", 0.000004, 58_318, 90)),
        Fmnist("attention-g", "G", "attention-g", new(10.0345, 76.37, "76.37", 0.000055, 108_534, 180)),
        Fmnist("attention-h", "H", "attention-h", new(7.7475, 80.79, "80.79", -0.000006, 108_494, 180)),
        Fmnist("single-head", "single head, 2 layers, with BN", "attention-a", new(8.3712, 80.09, "80.09", 6.9391e-5, 11_132, null),
            new AttentionOverrides(Heads: 1)),
        Fmnist("b-no-skip-segregated", "B without skip connection, segregated (attention lr 0.1)", "attention-b",
            new(7.4980, 82.13, "82.13", 0.0002, null, null), new AttentionOverrides(Skip: false), SegregatedAttentionLearningRate),
        Cifar("cifar10-control", "CIFAR-10 control", "control", new(42.56, 67.12, "67.12", 0.0062, 961_310, null)),
        Cifar("cifar10-attention", "CIFAR-10 attention (8 heads, 4 layers, no BN)", "attention-cifar", new(80.89, 41.81, "41.81", 0.0001, 506_560, null)),
        Cifar("cifar10-attention-segregated", "CIFAR-10 attention, segregated (attention lr 0.1)", "attention-cifar",
            new(76.4777, 43.10, "43.10 (peak 44.63 at epoch 9)", -0.0002, 506_560, null), attentionLr: SegregatedAttentionLearningRate),
    ];

    public static IReadOnlyList<string> Keys => Rows.Select(r => r.Key).ToList();

    /// <summary>The row of a key (case-insensitive; a single letter a–h means attention-a…h).</summary>
    public static Table1Row? Find(string key)
    {
        string k = key.Trim().ToLowerInvariant();
        if (k.Length == 1 && k[0] is >= 'a' and <= 'h')
            k = "attention-" + k;
        return Rows.FirstOrDefault(r => r.Key == k);
    }

    /// <summary>Parses a comma list of keys (null or empty: every row) in table order; throws an
    /// <see cref="ArgumentException"/> that lists the valid keys.</summary>
    public static IReadOnlyList<Table1Row> Select(string? list)
    {
        if (string.IsNullOrWhiteSpace(list))
            return Rows;
        var chosen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var part in list.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var row = Find(part) ?? throw new ArgumentException($"Unknown Table 1 row '{part}'. Valid rows: {string.Join(", ", Keys)} (a–h also work).");
            chosen.Add(row.Key);
        }
        return Rows.Where(r => chosen.Contains(r.Key)).ToList();
    }

    private static Table1Row Fmnist(string key, string label, string model, PaperResult paper, AttentionOverrides? overrides = null, float? attentionLr = null) =>
        new(key, label, model, Datasets.FashionMnistName, overrides ?? None, attentionLr, paper);

    private static Table1Row Cifar(string key, string label, string model, PaperResult paper, float? attentionLr = null) =>
        new(key, label, model, Datasets.Cifar10Name, None, attentionLr, paper);
}
