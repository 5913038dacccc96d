namespace AttentionWise.Training.Data;

/// <summary>The datasets the command line knows, by name.</summary>
public static class Datasets
{
    public const string FashionMnistName = "fashion-mnist";
    public const string Cifar10Name = "cifar10";

    /// <summary>The user's own images in class folders (<see cref="ImageFolder"/>); needs --data DIR.</summary>
    public const string ImageFolderName = "image-folder";

    /// <summary>The standard data sets (files of a known layout and shape).</summary>
    public static readonly IReadOnlyList<string> Names = [FashionMnistName, Cifar10Name];

    /// <summary>Every name --dataset takes: the standard sets and image folders.</summary>
    public static readonly IReadOnlyList<string> AllNames = [FashionMnistName, Cifar10Name, ImageFolderName];

    /// <summary>The paper's batch size: 4096 on Fashion-MNIST, 1024 on CIFAR-10 (SPEC §4).</summary>
    public static int DefaultBatchSize(string name) => Canonical(name) switch
    {
        Cifar10Name => 1024,
        ImageFolderName => ImageFolderBatchSize,
        _ => 4096,
    };

    /// <summary>The default batch of an image folder: own data sets are often small, and a batch of 4096 would make
    /// one step an epoch.</summary>
    public const int ImageFolderBatchSize = 64;

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
            "image-folder" or "imagefolder" or "folder" => ImageFolderName,
            _ => throw new ArgumentException($"Unknown dataset '{name}'. Valid datasets: {string.Join(", ", AllNames)}."),
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
    public static DatasetSplit Load(string name, string? directory) => Canonical(name) switch
    {
        Cifar10Name => Cifar10.Load(directory),
        ImageFolderName => ImageFolder.Load(directory ?? throw NoFolder(), new ImageFolderOptions()),
        _ => FashionMnist.Load(directory),
    };

    /// <summary>Loads a run's data set with its settings (an image folder's channels, resize, validation split and
    /// class names); <paramref name="testOnly"/>: an image folder decodes its test set alone; <paramref name="loaded"/>
    /// receives an image folder's load report.</summary>
    /// <exception cref="DatasetException">The data is missing, damaged, or its classes are not the run's.</exception>
    public static DatasetSplit Load(RunSettings settings, bool testOnly = false, Action<ImageLoadReport>? loaded = null)
    {
        ArgumentNullException.ThrowIfNull(settings);
        if (Canonical(settings.Dataset) != ImageFolderName)
            return Load(settings.Dataset, settings.DataDirectory);
        string dir = settings.DataDirectory ?? throw NoFolder();
        var split = ImageFolder.Load(dir, new ImageFolderOptions(settings.Channels, ImageSize.Parse(settings.Resize), settings.ValSplit), testOnly, loaded);
        if (settings.ClassNames is { } names && !names.SequenceEqual(split.Test.ClassNames, StringComparer.Ordinal))
        {
            throw new DatasetException(
                $"{dir}: its classes ({string.Join(", ", split.Test.ClassNames)}) are not the run's ({string.Join(", ", names)}); the class folders must be the same as in training.");
        }
        return split;
    }

    /// <summary>The class names of a run: its own (image folders) or those of its standard data set.</summary>
    public static IReadOnlyList<string> ClassNames(RunSettings settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        return Canonical(settings.Dataset) switch
        {
            Cifar10Name => Cifar10.ClassNames,
            FashionMnistName => FashionMnist.ClassNames,
            _ => settings.ClassNames ?? throw new DatasetException("The run's settings name no classes (an image-folder run records its class names)."),
        };
    }

    private static DatasetNotFoundException NoFolder() =>
        new("--dataset image-folder needs --data DIR: a folder with train/<class>/*.png|*.jpg (and test/<class>/…, or --val-split F).");
}
