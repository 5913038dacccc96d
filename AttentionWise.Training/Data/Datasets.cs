namespace AttentionWise.Training.Data;

/// <summary>The datasets the command line knows, by name.</summary>
public static class Datasets
{
    public const string FashionMnistName = "fashion-mnist";
    public const string Cifar10Name = "cifar10";

    public static readonly IReadOnlyList<string> Names = [FashionMnistName, Cifar10Name];

    /// <summary>The paper's batch size: 4096 on Fashion-MNIST, 1024 on CIFAR-10 (SPEC §4).</summary>
    public static int DefaultBatchSize(string name) => Canonical(name) == Cifar10Name ? 1024 : 4096;

    /// <summary>The image shape C×H×W of the standard files.</summary>
    public static (int C, int H, int W) StandardInput(string name) =>
        Canonical(name) == Cifar10Name ? (3, 32, 32) : (1, 28, 28);

    /// <summary>The name as the registry spells it; throws on an unknown one.</summary>
    public static string Canonical(string name)
    {
        string n = name.Trim().ToLowerInvariant();
        return n switch
        {
            "fashion-mnist" or "fashionmnist" or "fmnist" => FashionMnistName,
            "cifar10" or "cifar-10" => Cifar10Name,
            _ => throw new ArgumentException($"Unknown dataset '{name}'. Valid datasets: {string.Join(", ", Names)}."),
        };
    }

    public static bool IsKnown(string name)
    {
        try
        {
            Canonical(name);
            return true;
        }
        catch (ArgumentException)
        {
            return false;
        }
    }

    /// <summary>Loads a dataset from <paramref name="directory"/> (null: its default place).</summary>
    public static DatasetSplit Load(string name, string? directory) =>
        Canonical(name) == Cifar10Name ? Cifar10.Load(directory) : FashionMnist.Load(directory);
}
