namespace AttentionWise.Training.Data;

/// <summary>
/// Fashion-MNIST from its four gzip IDX files (SPEC §6), as the Debian package dataset-fashion-mnist
/// installs them. Uncompressed files of the same names without ".gz" are accepted too.
/// </summary>
public static class FashionMnist
{
    /// <summary>Where the Debian package dataset-fashion-mnist puts the files.</summary>
    public const string DefaultDirectory = "/usr/share/datasets/fashion-mnist/";

    public const string TrainImages = "train-images-idx3-ubyte.gz";
    public const string TrainLabels = "train-labels-idx1-ubyte.gz";
    public const string TestImages = "t10k-images-idx3-ubyte.gz";
    public const string TestLabels = "t10k-labels-idx1-ubyte.gz";

    public static readonly IReadOnlyList<string> ClassNames =
    [
        "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
    ];

    /// <summary>Loads the training and test sets from <paramref name="directory"/> (default: <see cref="DefaultDirectory"/>).</summary>
    /// <exception cref="DatasetNotFoundException">A file is missing; the message says how to install the set.</exception>
    /// <exception cref="DatasetException">A file is corrupt or inconsistent.</exception>
    public static DatasetSplit Load(string? directory = null)
    {
        string dir = directory ?? DefaultDirectory;
        var missing = new List<string>();
        var paths = new[] { TrainImages, TrainLabels, TestImages, TestLabels }.Select(f => Find(dir, f, missing)).ToArray();
        if (missing.Count > 0)
        {
            string how = directory is null
                ? "Install it with 'sudo apt-get install dataset-fashion-mnist' (or run scripts/setup), or pass --data DIR with the four files."
                : $"Put the four Fashion-MNIST files ({TrainImages}, {TrainLabels}, {TestImages}, {TestLabels}) in {dir}, or leave out --data to use the Debian package dataset-fashion-mnist ('sudo apt-get install dataset-fashion-mnist').";
            throw new DatasetNotFoundException(
                $"Fashion-MNIST not found: {(Directory.Exists(dir) ? "" : $"the directory {dir} does not exist; ")}missing {string.Join(", ", missing.Select(m => Path.Combine(dir, m)))}. {how}");
        }
        var train = Read("fashion-mnist train", paths[0]!, paths[1]!);
        var test = Read("fashion-mnist test", paths[2]!, paths[3]!);
        if (train.Height != test.Height || train.Width != test.Width)
        {
            throw new DatasetException(
                $"{paths[2]}: the test images are {test.Height}×{test.Width} pixels but the training images in {paths[0]} are {train.Height}×{train.Width}.");
        }
        return new DatasetSplit(train, test);
    }

    /// <summary>Reads one image file and its label file into a 1-channel dataset.</summary>
    public static Dataset Read(string name, string imagesPath, string labelsPath)
    {
        var images = Idx.ReadImages(imagesPath);
        var labels = Idx.ReadLabels(labelsPath);
        if (images.Count != labels.Length)
            throw new DatasetException($"{imagesPath} holds {images.Count} images but {labelsPath} holds {labels.Length} labels: they must match.");
        var classes = new int[labels.Length];
        for (int i = 0; i < labels.Length; i++)
        {
            if (labels[i] >= ClassNames.Count)
                throw new DatasetException($"{labelsPath}: label {i} is {labels[i]}, expected a class index from 0 to {ClassNames.Count - 1}.");
            classes[i] = labels[i];
        }
        return new Dataset(name, Pixels.ToUnit(images.Pixels), classes, 1, images.Rows, images.Cols, ClassNames);
    }

    private static string? Find(string dir, string gzName, List<string> missing)
    {
        // A directory of that name is "found" too, so that reading it says what it is.
        string gz = Path.Combine(dir, gzName);
        if (File.Exists(gz) || Directory.Exists(gz))
            return gz;
        string plain = Path.Combine(dir, gzName[..^3]);
        if (File.Exists(plain) || Directory.Exists(plain))
            return plain;
        missing.Add(gzName);
        return null;
    }
}

/// <summary>Pixel conversion shared by the loaders.</summary>
internal static class Pixels
{
    /// <summary>byte / 255 (SPEC §4).</summary>
    public static float[] ToUnit(ReadOnlySpan<byte> bytes)
    {
        var result = new float[bytes.Length];
        for (int i = 0; i < bytes.Length; i++)
            result[i] = bytes[i] / 255f;
        return result;
    }
}
