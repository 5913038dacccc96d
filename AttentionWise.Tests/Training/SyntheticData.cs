using AttentionWise.Training.Data;

namespace AttentionWise.Tests.Training;

/// <summary>
/// A small learnable dataset written as Fashion-MNIST IDX files: images of size×size pixels in
/// min(10, 2·size) classes, class k a bright bar (row k for k &lt; size, else column k − size) on faint noise.
/// </summary>
public static class SyntheticData
{
    public static int Classes(int size) => Math.Min(10, 2 * size);

    public static void Write(string directory, int trainCount, int testCount, int size, int seed = 1)
    {
        var rng = new Random(seed);
        Write(rng, Path.Combine(directory, FashionMnist.TrainImages), Path.Combine(directory, FashionMnist.TrainLabels), trainCount, size);
        Write(rng, Path.Combine(directory, FashionMnist.TestImages), Path.Combine(directory, FashionMnist.TestLabels), testCount, size);
    }

    private static void Write(Random rng, string imagesPath, string labelsPath, int count, int size)
    {
        int classes = Classes(size);
        var pixels = new byte[count * size * size];
        var labels = new byte[count];
        for (int n = 0; n < count; n++)
        {
            int k = n % classes;
            labels[n] = (byte)k;
            for (int i = 0; i < size; i++)
            {
                for (int j = 0; j < size; j++)
                {
                    bool bar = k < size ? i == k : j == k - size;
                    pixels[(n * size + i) * size + j] = (byte)(bar ? 200 + rng.Next(56) : rng.Next(60));
                }
            }
        }
        Idx.WriteImages(imagesPath, count, size, size, pixels);
        Idx.WriteLabels(labelsPath, labels);
    }
}
