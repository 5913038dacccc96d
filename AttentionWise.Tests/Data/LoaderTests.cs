using System.Buffers.Binary;
using System.IO.Compression;
using AttentionWise.Training.Data;

namespace AttentionWise.Tests.Data;

/// <summary>A temporary directory deleted at the end of a test.</summary>
public sealed class TempDir : IDisposable
{
    public TempDir()
    {
        Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "aw-test-" + Guid.NewGuid().ToString("N")[..12]);
        Directory.CreateDirectory(Path);
    }

    public string Path { get; }

    public string File(string name) => System.IO.Path.Combine(Path, name);

    public void Dispose()
    {
        try
        {
            Directory.Delete(Path, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}

public class IdxLoaderTests
{
    /// <summary>Writes a small valid Fashion-MNIST-like set: 7 training and 5 test images of 5×6 pixels.</summary>
    private static (byte[] TrainPixels, byte[] TrainLabels) WriteValid(TempDir dir, int rows = 5, int cols = 6)
    {
        var rng = new Random(5);
        var trainPixels = new byte[7 * rows * cols];
        rng.NextBytes(trainPixels);
        trainPixels[0] = 255;
        trainPixels[1] = 0;
        var trainLabels = new byte[] { 0, 9, 3, 3, 1, 7, 2 };
        Idx.WriteImages(dir.File(FashionMnist.TrainImages), 7, rows, cols, trainPixels);
        Idx.WriteLabels(dir.File(FashionMnist.TrainLabels), trainLabels);
        var testPixels = new byte[5 * rows * cols];
        rng.NextBytes(testPixels);
        Idx.WriteImages(dir.File(FashionMnist.TestImages), 5, rows, cols, testPixels);
        Idx.WriteLabels(dir.File(FashionMnist.TestLabels), [4, 5, 6, 8, 0]);
        return (trainPixels, trainLabels);
    }

    private static DatasetException LoadFails(TempDir dir) => Assert.ThrowsAny<DatasetException>(() => FashionMnist.Load(dir.Path));

    [Fact]
    public void ReadsAValidSetAsFloatsOverTwoFiftyFive()
    {
        using var dir = new TempDir();
        var (pixels, labels) = WriteValid(dir);
        var split = FashionMnist.Load(dir.Path);
        var train = split.Train;
        Assert.Equal(7, train.Count);
        Assert.Equal((1, 5, 6), (train.Channels, train.Height, train.Width));
        Assert.Equal(5, split.Test.Count);
        Assert.Equal(labels.Select(l => (int)l), train.Labels);
        Assert.Equal(1f, train.Images[0]);
        Assert.Equal(0f, train.Images[1]);
        for (int i = 0; i < pixels.Length; i++)
            Assert.Equal(pixels[i] / 255f, train.Images[i]);
        Assert.Equal(10, train.Classes);
        Assert.Equal("Ankle boot", train.ClassNames[9]);
        Assert.Equal(Shape.Of(7, 1, 5, 6), train.Shape);
        var first3 = train.Take(3);
        Assert.Equal(3, first3.Count);
        Assert.Equal(train.Images[..90], first3.Images);
    }

    [Fact]
    public void AcceptsUncompressedFilesWithoutTheGzSuffix()
    {
        using var dir = new TempDir();
        WriteValid(dir);
        foreach (var f in Directory.GetFiles(dir.Path, "*.gz"))
        {
            using (var gz = new GZipStream(File.OpenRead(f), CompressionMode.Decompress))
            using (var plain = File.Create(f[..^3]))
                gz.CopyTo(plain);
            File.Delete(f);
        }
        Assert.Equal(7, FashionMnist.Load(dir.Path).Train.Count);
    }

    [Fact]
    public void AMissingSetSaysHowToInstallIt()
    {
        using var dir = new TempDir();
        WriteValid(dir);
        File.Delete(dir.File(FashionMnist.TestLabels));
        var e = Assert.Throws<DatasetNotFoundException>(() => FashionMnist.Load(dir.Path));
        Assert.Contains("missing " + dir.File(FashionMnist.TestLabels) + ".", e.Message);
        Assert.Contains("apt-get install dataset-fashion-mnist", e.Message);

        var none = Assert.Throws<DatasetNotFoundException>(() => FashionMnist.Load(dir.File("nowhere")));
        Assert.Contains("does not exist", none.Message);
    }

    [Fact]
    public void AWrongMagicNumberNamesTheFileAndBothNumbers()
    {
        using var dir = new TempDir();
        WriteValid(dir);
        // A label file where the image file should be.
        File.Copy(dir.File(FashionMnist.TrainLabels), dir.File(FashionMnist.TrainImages), overwrite: true);
        var e = LoadFails(dir);
        Assert.Contains(FashionMnist.TrainImages, e.Message);
        Assert.Contains("0x00000803", e.Message);
        Assert.Contains("0x00000801", e.Message);
    }

    [Fact]
    public void ATruncatedImageFileSaysHowManyBytesWereExpectedAndFound()
    {
        using var dir = new TempDir();
        var (pixels, _) = WriteValid(dir);
        Idx.WriteImages(dir.File(FashionMnist.TrainImages), 7, 5, 6, pixels[..^11]);
        var e = LoadFails(dir);
        Assert.Contains(FashionMnist.TrainImages, e.Message);
        Assert.Contains("truncated", e.Message);
        Assert.Contains("210", e.Message);
        Assert.Contains("199", e.Message);
    }

    [Fact]
    public void ATruncatedGzipStreamIsReported()
    {
        using var dir = new TempDir();
        WriteValid(dir);
        var path = dir.File(FashionMnist.TrainImages);
        var bytes = File.ReadAllBytes(path);
        File.WriteAllBytes(path, bytes[..(bytes.Length / 2)]);
        var e = LoadFails(dir);
        Assert.Contains(FashionMnist.TrainImages, e.Message);
        Assert.True(e.Message.Contains("truncated") || e.Message.Contains("corrupt"), e.Message);
    }

    [Theory]
    [InlineData(8)]   // the whole trailer cut off
    [InlineData(3)]   // part of the size
    [InlineData(1)]
    public void AGzipFileWhoseTrailerIsCutOffIsRefused(int cut)
    {
        using var dir = new TempDir();
        WriteValid(dir);
        var path = dir.File(FashionMnist.TrainLabels);
        var bytes = File.ReadAllBytes(path);
        File.WriteAllBytes(path, bytes[..^cut]);
        var e = LoadFails(dir);
        Assert.Contains(FashionMnist.TrainLabels, e.Message);
        Assert.Contains("gzip trailer does not match", e.Message);
    }

    /// <summary>A trailer that is there but wrong is caught by the decompressor itself (zlib checks it at the end of
    /// the stream); one that is cut off is not, which <see cref="AGzipFileWhoseTrailerIsCutOffIsRefused"/> covers.</summary>
    [Theory]
    [InlineData(8)]   // the trailer's CRC-32
    [InlineData(4)]   // the trailer's length
    public void AGzipTrailerThatDisagreesWithTheDataIsRefused(int fromEnd)
    {
        using var dir = new TempDir();
        WriteValid(dir);
        var path = dir.File(FashionMnist.TestImages);
        var bytes = File.ReadAllBytes(path);
        bytes[^fromEnd] ^= 0x5A;
        File.WriteAllBytes(path, bytes);
        var e = LoadFails(dir);
        Assert.Contains(FashionMnist.TestImages, e.Message);
        Assert.Contains("corrupt", e.Message);
    }

    [Fact]
    public void TheRealDataSetsTrailersMatch()
    {
        if (!File.Exists(Path.Combine(FashionMnist.DefaultDirectory, FashionMnist.TestLabels)))
            Assert.Skip("Fashion-MNIST is not installed here");
        var split = FashionMnist.Load();
        Assert.Equal(60_000, split.Train.Count);
        Assert.Equal(10_000, split.Test.Count);
    }

    [Fact]
    public void AHeaderShorterThanAnIdxHeaderIsTruncated()
    {
        using var dir = new TempDir();
        WriteValid(dir);
        using (var gz = new GZipStream(File.Create(dir.File(FashionMnist.TestLabels)), CompressionLevel.Fastest))
            gz.Write(new byte[] { 0, 0, 8, 1, 0 });
        var e = LoadFails(dir);
        Assert.Contains(FashionMnist.TestLabels, e.Message);
        Assert.Contains("truncated", e.Message);
    }

    [Fact]
    public void ANonGzipFileIsReported()
    {
        using var dir = new TempDir();
        WriteValid(dir);
        File.WriteAllText(dir.File(FashionMnist.TestImages), "<html>not found</html>");
        var e = LoadFails(dir);
        Assert.Contains(FashionMnist.TestImages, e.Message);
        Assert.Contains("not a gzip file", e.Message);
        Assert.Contains("1F8B", e.Message);
    }

    [Fact]
    public void ALabelOutOfRangeNamesTheFileTheIndexAndTheValue()
    {
        using var dir = new TempDir();
        WriteValid(dir);
        Idx.WriteLabels(dir.File(FashionMnist.TrainLabels), [0, 1, 2, 3, 10, 5, 6]);
        var e = LoadFails(dir);
        Assert.Contains(FashionMnist.TrainLabels, e.Message);
        Assert.Contains("label 4 is 10", e.Message);
    }

    [Fact]
    public void ImageAndLabelCountsMustMatch()
    {
        using var dir = new TempDir();
        WriteValid(dir);
        Idx.WriteLabels(dir.File(FashionMnist.TrainLabels), [0, 1, 2, 3, 4, 5]);
        var e = LoadFails(dir);
        Assert.Contains("7 images", e.Message);
        Assert.Contains("6 labels", e.Message);
    }

    [Fact]
    public void TrainAndTestImageSizesMustMatchAndBePositive()
    {
        using var dir = new TempDir();
        WriteValid(dir);
        Idx.WriteImages(dir.File(FashionMnist.TestImages), 5, 6, 5, new byte[150]);
        var e = LoadFails(dir);
        Assert.Contains("6×5", e.Message);
        Assert.Contains("5×6", e.Message);

        Idx.WriteImages(dir.File(FashionMnist.TestImages), 5, 0, 5, []);
        e = LoadFails(dir);
        Assert.Contains("0×5", e.Message);
    }

    [Fact]
    public void ExtraBytesAfterTheAnnouncedDataAreReported()
    {
        using var dir = new TempDir();
        WriteValid(dir);
        var labels = new byte[] { 4, 5, 6, 8, 0, 1 };
        // Header says 5, body holds 6.
        var header = new byte[8];
        BinaryPrimitives.WriteInt32BigEndian(header, Idx.LabelsMagic);
        BinaryPrimitives.WriteInt32BigEndian(header.AsSpan(4), 5);
        using (var gz = new GZipStream(File.Create(dir.File(FashionMnist.TestLabels)), CompressionLevel.Fastest))
        {
            gz.Write(header);
            gz.Write(labels);
        }
        var e = LoadFails(dir);
        Assert.Contains(FashionMnist.TestLabels, e.Message);
        Assert.Contains("5 labels", e.Message);
    }

    [Fact]
    public void ReadsTheRealFashionMnistWhenInstalled()
    {
        Assert.SkipUnless(File.Exists(Path.Combine(FashionMnist.DefaultDirectory, FashionMnist.TrainImages)),
            "Fashion-MNIST is not installed (sudo apt-get install dataset-fashion-mnist).");
        var split = FashionMnist.Load();
        Assert.Equal(60_000, split.Train.Count);
        Assert.Equal(10_000, split.Test.Count);
        Assert.Equal((1, 28, 28), (split.Train.Channels, split.Train.Height, split.Train.Width));
        Assert.All(split.Train.ClassCounts(), c => Assert.Equal(6_000, c));
        Assert.All(split.Test.ClassCounts(), c => Assert.Equal(1_000, c));
        Assert.InRange(split.Train.Images.Max(), 0.99f, 1f);
        Assert.Equal(0f, split.Train.Images.Min());
    }
}

public class Cifar10LoaderTests
{
    private static byte[] Pixels(int records, int seed)
    {
        var p = new byte[records * Cifar10.PixelBytes];
        new Random(seed).NextBytes(p);
        return p;
    }

    private static void WriteValid(TempDir dir, int perBatch = 3)
    {
        for (int b = 0; b < 5; b++)
            Cifar10.Write(dir.File(Cifar10.TrainFiles[b]), Enumerable.Range(0, perBatch).Select(i => (byte)((i + b) % 10)).ToArray(), Pixels(perBatch, b));
        Cifar10.Write(dir.File(Cifar10.TestFile), [9, 0], Pixels(2, 99));
    }

    [Fact]
    public void ReadsBatchesInOrderAsChannelPlanes()
    {
        using var dir = new TempDir();
        WriteValid(dir);
        var split = Cifar10.Load(dir.Path);
        Assert.Equal(15, split.Train.Count);
        Assert.Equal(2, split.Test.Count);
        Assert.Equal((3, 32, 32), (split.Train.Channels, split.Train.Height, split.Train.Width));
        Assert.Equal(new[] { 0, 1, 2, 1, 2, 3, 2, 3, 4, 3, 4, 5, 4, 5, 6 }, split.Train.Labels);
        Assert.Equal(new[] { 9, 0 }, split.Test.Labels);
        // Record 1 of batch 2 (image 4): its green plane's pixel (row 3, col 5) is byte 1 + 1024 + 3·32 + 5 of the record.
        var batch2 = File.ReadAllBytes(dir.File("data_batch_2.bin"));
        byte expected = batch2[Cifar10.RecordBytes + 1 + 1024 + 3 * 32 + 5];
        Assert.Equal(expected / 255f, split.Train.Images[((4 * 3 + 1) * 32 + 3) * 32 + 5]);
        Assert.Equal("truck", split.Train.ClassNames[9]);
    }

    [Fact]
    public void FindsTheArchivesOwnSubdirectory()
    {
        using var dir = new TempDir();
        var nested = Directory.CreateDirectory(Path.Combine(dir.Path, "cifar-10-batches-bin")).FullName;
        for (int b = 0; b < 5; b++)
            Cifar10.Write(Path.Combine(nested, Cifar10.TrainFiles[b]), [1], Pixels(1, b));
        Cifar10.Write(Path.Combine(nested, Cifar10.TestFile), [2], Pixels(1, 7));
        Assert.Equal(5, Cifar10.Load(dir.Path).Train.Count);
    }

    [Fact]
    public void AWrongRecordSizeIsReported()
    {
        using var dir = new TempDir();
        WriteValid(dir);
        File.AppendAllText(dir.File("data_batch_3.bin"), "xyz");
        var e = Assert.ThrowsAny<DatasetException>(() => Cifar10.Load(dir.Path));
        Assert.Contains("data_batch_3.bin", e.Message);
        Assert.Contains("3073-byte records", e.Message);
        Assert.Contains("3 bytes more", e.Message);
    }

    [Fact]
    public void ALabelOutOfRangeIsReported()
    {
        using var dir = new TempDir();
        WriteValid(dir);
        Cifar10.Write(dir.File(Cifar10.TestFile), [9, 10], Pixels(2, 99));
        var e = Assert.ThrowsAny<DatasetException>(() => Cifar10.Load(dir.Path));
        Assert.Contains("test_batch.bin", e.Message);
        Assert.Contains("record 1 has label 10", e.Message);
    }

    [Fact]
    public void MissingFilesSayWhereToGetThem()
    {
        using var dir = new TempDir();
        WriteValid(dir);
        File.Delete(dir.File("data_batch_5.bin"));
        var e = Assert.Throws<DatasetNotFoundException>(() => Cifar10.Load(dir.Path));
        Assert.Contains("data_batch_5.bin", e.Message);
        Assert.Contains("cifar-10-binary.tar.gz", e.Message);
        Assert.Contains("--data", Assert.Throws<DatasetNotFoundException>(() => Cifar10.Load(null)).Message);
    }

    [Fact]
    public void AnEmptyFileIsReported()
    {
        using var dir = new TempDir();
        WriteValid(dir);
        File.WriteAllBytes(dir.File("data_batch_1.bin"), []);
        var e = Assert.ThrowsAny<DatasetException>(() => Cifar10.Load(dir.Path));
        Assert.Contains("data_batch_1.bin", e.Message);
        Assert.Contains("empty", e.Message);
    }
}
