using System.IO.Compression;

namespace AttentionWise.Bench;

/// <summary>Inputs for the benchmarks: the first Fashion-MNIST training images (pixel / 255) from the folder named by
/// AW_BENCH_DATA or where the Debian package dataset-fashion-mnist installed them (gzip or plain IDX files), else seeded
/// uniform pixels and labels.</summary>
internal static class BenchData
{
    private const string DefaultDirectory = "/usr/share/datasets/fashion-mnist";

    public static (float[] Images, int[] Labels, string Source) FashionMnist(int n)
    {
        string directory = Environment.GetEnvironmentVariable("AW_BENCH_DATA") is { Length: > 0 } d ? d : DefaultDirectory;
        string? images = Find(directory, "train-images-idx3-ubyte");
        string? labels = Find(directory, "train-labels-idx1-ubyte");
        var x = new float[n * 28 * 28];
        var y = new int[n];
        if (images is not null && labels is not null && n <= Count(images) && n <= Count(labels))
        {
            var pixels = Read(images, 16, n * 28 * 28);
            var classes = Read(labels, 8, n);
            for (int i = 0; i < x.Length; i++)
                x[i] = pixels[i] / 255f;
            for (int i = 0; i < n; i++)
                y[i] = classes[i];
            return (x, y, "Fashion-MNIST images");
        }
        var rng = new Random(1);
        for (int i = 0; i < x.Length; i++)
            x[i] = (float)rng.NextDouble();
        for (int i = 0; i < n; i++)
            y[i] = rng.Next(10);
        return (x, y, "uniform random pixels (Fashion-MNIST not installed)");
    }

    private static string? Find(string directory, string name) =>
        new[] { Path.Combine(directory, name + ".gz"), Path.Combine(directory, name) }.FirstOrDefault(File.Exists);

    private static Stream Open(string path) =>
        path.EndsWith(".gz", StringComparison.Ordinal) ? new GZipStream(File.OpenRead(path), CompressionMode.Decompress) : File.OpenRead(path);

    /// <summary>The item count of an IDX file's header (big-endian, after the 4-byte magic number).</summary>
    private static int Count(string path)
    {
        using var s = Open(path);
        var header = new byte[8];
        s.ReadExactly(header);
        return System.Buffers.Binary.BinaryPrimitives.ReadInt32BigEndian(header.AsSpan(4));
    }

    private static byte[] Read(string path, int header, int count)
    {
        using var s = Open(path);
        var skip = new byte[header];
        s.ReadExactly(skip);
        var data = new byte[count];
        s.ReadExactly(data);
        return data;
    }
}
