using System.IO.Compression;

namespace AttentionWise.Bench;

/// <summary>Inputs for the benchmarks: the first Fashion-MNIST training images (pixel / 255) where the Debian
/// package dataset-fashion-mnist installed them, else seeded uniform pixels and labels.</summary>
internal static class BenchData
{
    private const string Directory = "/usr/share/datasets/fashion-mnist";

    public static (float[] Images, float[] Labels, string Source) FashionMnist(int n)
    {
        string images = Path.Combine(Directory, "train-images-idx3-ubyte.gz");
        string labels = Path.Combine(Directory, "train-labels-idx1-ubyte.gz");
        var x = new float[n * 28 * 28];
        var y = new float[n];
        if (File.Exists(images) && File.Exists(labels) && n <= 60000)
        {
            var pixels = ReadGz(images, 16, n * 28 * 28);
            var classes = ReadGz(labels, 8, n);
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

    private static byte[] ReadGz(string path, int header, int count)
    {
        using var gz = new GZipStream(File.OpenRead(path), CompressionMode.Decompress);
        var skip = new byte[header];
        gz.ReadExactly(skip);
        var data = new byte[count];
        gz.ReadExactly(data);
        return data;
    }
}
