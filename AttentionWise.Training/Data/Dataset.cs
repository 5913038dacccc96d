namespace AttentionWise.Training.Data;

/// <summary>
/// An image classification set in host memory: pixels as floats in [0, 1] (byte / 255, SPEC §4), laid
/// out NCHW, and one class index per image. Loaders build it; the training loop uploads it to a device.
/// </summary>
public sealed class Dataset
{
    public Dataset(string name, float[] images, int[] labels, int channels, int height, int width, IReadOnlyList<string> classNames)
    {
        ArgumentNullException.ThrowIfNull(images);
        ArgumentNullException.ThrowIfNull(labels);
        ArgumentNullException.ThrowIfNull(classNames);
        if (channels <= 0 || height <= 0 || width <= 0)
            throw new ArgumentOutOfRangeException(nameof(channels), $"Dataset '{name}': image shape {channels}×{height}×{width} is not positive.");
        long item = (long)channels * height * width;
        if (images.LongLength != item * labels.Length)
        {
            throw new ArgumentException(
                $"Dataset '{name}': {labels.Length} labels need {item * labels.Length} pixel values but {images.Length} were given.", nameof(images));
        }
        Name = name;
        Images = images;
        Labels = labels;
        Channels = channels;
        Height = height;
        Width = width;
        ClassNames = classNames;
    }

    /// <summary>e.g. "fashion-mnist train".</summary>
    public string Name { get; }

    /// <summary>Pixels in [0, 1], NCHW: image n, channel c, row i, column j at ((n·C + c)·H + i)·W + j.</summary>
    public float[] Images { get; }

    /// <summary>Class index of each image, in [0, <see cref="Classes"/>).</summary>
    public int[] Labels { get; }

    public int Count => Labels.Length;
    public int Channels { get; }
    public int Height { get; }
    public int Width { get; }
    public IReadOnlyList<string> ClassNames { get; }
    public int Classes => ClassNames.Count;

    /// <summary>Values per image: C·H·W.</summary>
    public int ItemLength => Channels * Height * Width;

    /// <summary>The NCHW shape of the whole set.</summary>
    public Shape Shape => Shape.Of(Count, Channels, Height, Width);

    /// <summary>The first <paramref name="count"/> images (the set itself when it has no more).</summary>
    public Dataset Take(int count)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        if (count >= Count)
            return this;
        return new Dataset(Name, Images[..(count * ItemLength)], Labels[..count], Channels, Height, Width, ClassNames);
    }

    /// <summary>How many images each class has.</summary>
    public int[] ClassCounts()
    {
        var counts = new int[Classes];
        foreach (int label in Labels)
            counts[label]++;
        return counts;
    }

    public override string ToString() => $"{Name}: {Count} images of {Channels}×{Height}×{Width}, {Classes} classes";
}

/// <summary>A training set and its test set.</summary>
public sealed record DatasetSplit(Dataset Train, Dataset Test);

/// <summary>Dataset files are missing, unreadable or not what they claim to be. The message names the
/// file, what was expected and what was found.</summary>
public class DatasetException : Exception
{
    public DatasetException(string message) : base(message) { }
    public DatasetException(string message, Exception inner) : base(message, inner) { }
}

/// <summary>The dataset is not where it was looked for; the message says how to install it or where to
/// put the files.</summary>
public sealed class DatasetNotFoundException : DatasetException
{
    public DatasetNotFoundException(string message) : base(message) { }
}
