using AttentionWise.Training.IO;

namespace AttentionWise.Training.Data;

/// <summary>
/// CIFAR-10, "binary version" (SPEC §6): data_batch_1.bin … data_batch_5.bin and test_batch.bin, each a
/// sequence of 3073-byte records (1 label byte, then 1024 red, 1024 green and 1024 blue bytes of a
/// row-major 32×32 image). No package carries it: the files come from the user (--data DIR).
/// </summary>
public static class Cifar10
{
    public const int Channels = 3;
    public const int Size = 32;
    public const int PixelBytes = Channels * Size * Size;
    public const int RecordBytes = 1 + PixelBytes;

    public const string DownloadUrl = "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz";

    public static readonly IReadOnlyList<string> TrainFiles = ["data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin", "data_batch_4.bin", "data_batch_5.bin"];
    public const string TestFile = "test_batch.bin";

    public static readonly IReadOnlyList<string> ClassNames =
    [
        "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck",
    ];

    /// <summary>Loads the set from <paramref name="directory"/>, or from its subdirectory
    /// cifar-10-batches-bin (what the archive unpacks to) when the files are there.</summary>
    public static DatasetSplit Load(string? directory)
    {
        if (directory is null)
        {
            throw new DatasetNotFoundException(
                $"CIFAR-10 needs --data DIR: download the binary version ({DownloadUrl}), unpack it and pass the directory that holds {string.Join(", ", TrainFiles)} and {TestFile}.");
        }
        string dir = directory;
        string nested = Path.Combine(directory, "cifar-10-batches-bin");
        if (!File.Exists(Path.Combine(dir, TestFile)) && File.Exists(Path.Combine(nested, TestFile)))
            dir = nested;
        var missing = TrainFiles.Append(TestFile).Where(f => !File.Exists(Path.Combine(dir, f))).ToList();
        if (missing.Count > 0)
        {
            throw new DatasetNotFoundException(
                $"CIFAR-10 not found: {(Directory.Exists(dir) ? "" : $"the directory {dir} does not exist; ")}missing {string.Join(", ", missing.Select(m => Path.Combine(dir, m)))}. " +
                $"Download the binary version ({DownloadUrl}), unpack it and pass --data with the directory that holds the .bin files.");
        }
        var train = Read("cifar10 train", TrainFiles.Select(f => Path.Combine(dir, f)).ToArray());
        var test = Read("cifar10 test", Path.Combine(dir, TestFile));
        return new DatasetSplit(train, test);
    }

    /// <summary>Reads and concatenates batch files.</summary>
    public static Dataset Read(string name, params string[] paths)
    {
        // Sizes first, from the file system: nothing is read until every file has a whole number of records and
        // all of them together fit.
        long records = 0;
        foreach (var path in paths)
        {
            InputFile.RequireRegular(path, m => new DatasetException(m));
            long length;
            try
            {
                length = new FileInfo(path).Length;
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw new DatasetException($"{path}: cannot be read: {e.Message}", e);
            }
            if (length == 0)
                throw new DatasetException($"{path}: the file is empty; expected records of {RecordBytes} bytes (1 label + {PixelBytes} pixels).");
            if (length % RecordBytes != 0)
            {
                throw new DatasetException(
                    $"{path}: {length:N0} bytes is not a whole number of {RecordBytes}-byte records (1 label + {PixelBytes} pixels); " +
                    $"found {length / RecordBytes:N0} records and {length % RecordBytes:N0} bytes more. Is this the binary version of CIFAR-10, complete?");
            }
            records += length / RecordBytes;
        }
        if (records * PixelBytes > Array.MaxLength)
            throw new DatasetException($"{string.Join(", ", paths)}: {records:N0} images are more than this loader holds.");

        var files = new List<(string Path, byte[] Bytes)>();
        foreach (var path in paths)
        {
            byte[] bytes;
            try
            {
                bytes = File.ReadAllBytes(path);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw new DatasetException($"{path}: cannot be read: {e.Message}", e);
            }
            if (bytes.Length == 0 || bytes.Length % RecordBytes != 0)
                throw new DatasetException($"{path}: the file changed while it was read ({bytes.Length:N0} bytes now).");
            files.Add((path, bytes));
        }
        if (files.Sum(f => (long)f.Bytes.Length / RecordBytes) != records)
            throw new DatasetException($"{string.Join(", ", paths)}: the files changed while they were read.");

        var images = new float[records * PixelBytes];
        var labels = new int[records];
        int n = 0;
        foreach (var (path, bytes) in files)
        {
            int count = bytes.Length / RecordBytes;
            for (int r = 0; r < count; r++, n++)
            {
                int offset = r * RecordBytes;
                byte label = bytes[offset];
                if (label >= ClassNames.Count)
                    throw new DatasetException($"{path}: record {r} has label {label}, expected a class index from 0 to {ClassNames.Count - 1}.");
                labels[n] = label;
                var pixels = bytes.AsSpan(offset + 1, PixelBytes);
                var dest = images.AsSpan(n * PixelBytes, PixelBytes);
                for (int i = 0; i < PixelBytes; i++)
                    dest[i] = pixels[i] / 255f;
            }
        }
        return new Dataset(name, images, labels, Channels, Size, Size, ClassNames);
    }

    /// <summary>Writes a batch file (for tests and tools): one record per label.</summary>
    public static void Write(string path, byte[] labels, byte[] pixels)
    {
        if (pixels.Length != labels.Length * PixelBytes)
            throw new ArgumentException($"{labels.Length} records need {labels.Length * PixelBytes} pixel bytes, not {pixels.Length}.", nameof(pixels));
        using var file = File.Create(path);
        for (int r = 0; r < labels.Length; r++)
        {
            file.WriteByte(labels[r]);
            file.Write(pixels, r * PixelBytes, PixelBytes);
        }
    }
}
