using System.Buffers.Binary;
using System.IO.Compression;
using AttentionWise.Tests.Training;
using AttentionWise.Tool.Cli;
using AttentionWise.Training.Data;

namespace AttentionWise.Tests.Data;

/// <summary>
/// Data files that are not what they claim: FIFOs, devices, directories, gzip bombs and headers that announce more
/// than the file holds. Each is refused with a message naming the file, without blocking and without reading (or
/// allocating) more than the header announces.
/// </summary>
public class HostileFileTests
{
    private static void WriteValid(TempDir dir) => SyntheticData.Write(dir.Path, 12, 6, 4);

    private static DatasetException LoadFails(TempDir dir) =>
        Hostile.Within(TimeSpan.FromMinutes(2), () => Assert.ThrowsAny<DatasetException>(() => FashionMnist.Load(dir.Path)));

    /// <summary>Bytes allocated by this thread while <paramref name="body"/> runs.</summary>
    private static long Allocated(Action body)
    {
        long before = GC.GetAllocatedBytesForCurrentThread();
        body();
        return GC.GetAllocatedBytesForCurrentThread() - before;
    }

    private static void WriteGzip(string path, byte[] header, long zeros)
    {
        using var gz = new GZipStream(File.Create(path), CompressionLevel.Fastest);
        gz.Write(header);
        var block = new byte[1 << 20];
        for (long left = zeros; left > 0; left -= block.Length)
            gz.Write(block, 0, (int)Math.Min(block.Length, left));
    }

    [Fact]
    public void AFifoIsRefusedAndNeverOpened()
    {
        using var dir = new TempDir();
        WriteValid(dir);
        File.Delete(dir.File(FashionMnist.TrainImages));
        Hostile.MakeFifo(dir.File(FashionMnist.TrainImages));
        var e = LoadFails(dir);
        Assert.Contains(dir.File(FashionMnist.TrainImages), e.Message);
        Assert.Contains("is a FIFO (named pipe)", e.Message);

        // Through the command line: one error line and exit 1, not a hang.
        var (code, _, err) = Hostile.Within(TimeSpan.FromMinutes(2), () =>
            CliTests.Aw("train", "--data", dir.Path, "--device", "cpu", "--runs-dir", dir.File("runs"), "--epochs", "1"));
        Assert.Equal(ExitCodes.Error, code);
        Assert.Contains("FIFO", Hostile.OneErrorLine(err));
        Assert.False(Directory.Exists(dir.File("runs")));
    }

    [Fact]
    public void ALinkToADeviceOrADirectoryIsRefused()
    {
        Assert.SkipUnless(File.Exists("/dev/zero"), "no /dev/zero here");
        using var dir = new TempDir();
        WriteValid(dir);
        File.Delete(dir.File(FashionMnist.TestLabels));
        File.CreateSymbolicLink(dir.File(FashionMnist.TestLabels), "/dev/zero");
        var e = LoadFails(dir);
        Assert.Contains(dir.File(FashionMnist.TestLabels), e.Message);
        Assert.Contains("is a character device (a link to /dev/zero), not a regular file", e.Message);

        File.Delete(dir.File(FashionMnist.TestLabels));
        Directory.CreateDirectory(dir.File(FashionMnist.TestLabels[..^3]));
        // The .gz is missing, so the loader looks for the uncompressed name, which is a directory.
        Assert.Contains("is a directory", LoadFails(dir).Message);

        using var cifar = new TempDir();
        foreach (var f in Cifar10.TrainFiles)
            Cifar10.Write(cifar.File(f), [1], new byte[Cifar10.PixelBytes]);
        File.CreateSymbolicLink(cifar.File(Cifar10.TestFile), "/dev/zero");
        var c = Hostile.Within(TimeSpan.FromMinutes(2), () => Assert.ThrowsAny<DatasetException>(() => Cifar10.Load(cifar.Path)));
        Assert.Contains(Cifar10.TestFile, c.Message);
        Assert.Contains("character device", c.Message);
    }

    [Fact]
    public void AGzipBombIsStoppedAtItsHeader()
    {
        using var dir = new TempDir();
        WriteValid(dir);
        // 64 MiB of zeros: the magic number is 0, so nothing past the first 4 bytes is decompressed.
        WriteGzip(dir.File(FashionMnist.TrainImages), [], 64L << 20);
        DatasetException? e = null;
        long allocated = Allocated(() => e = LoadFails(dir));
        Assert.Contains(dir.File(FashionMnist.TrainImages), e!.Message);
        Assert.Contains("expected the IDX magic number 0x00000803", e.Message);
        Assert.True(allocated < 8L << 20, $"{allocated:N0} bytes allocated");
    }

    [Fact]
    public void ZerosAfterAValidHeaderAreNotDecompressed()
    {
        using var dir = new TempDir();
        WriteValid(dir);
        var header = new byte[8];
        BinaryPrimitives.WriteInt32BigEndian(header, Idx.LabelsMagic);
        BinaryPrimitives.WriteInt32BigEndian(header.AsSpan(4), 6);
        WriteGzip(dir.File(FashionMnist.TestLabels), header, 64L << 20);
        DatasetException? e = null;
        long allocated = Allocated(() => e = LoadFails(dir));
        Assert.Contains(dir.File(FashionMnist.TestLabels), e!.Message);
        Assert.Contains("announces 6 labels (6 bytes) but more bytes follow it", e.Message);
        Assert.True(allocated < 8L << 20, $"{allocated:N0} bytes allocated");
    }

    [Fact]
    public void AHeaderThatAnnouncesMoreThanTheFileHoldsIsTruncatedWithoutAllocatingIt()
    {
        using var dir = new TempDir();
        WriteValid(dir);
        var header = new byte[8];
        BinaryPrimitives.WriteInt32BigEndian(header, Idx.LabelsMagic);
        BinaryPrimitives.WriteInt32BigEndian(header.AsSpan(4), 1_000_000_000);
        WriteGzip(dir.File(FashionMnist.TrainLabels), header, 100);
        DatasetException? e = null;
        long allocated = Allocated(() => e = LoadFails(dir));
        Assert.Contains("truncated: the header announces 1000000000 labels (1,000,000,000 bytes) but only 100 bytes follow it", e!.Message);
        Assert.True(allocated < 8L << 20, $"{allocated:N0} bytes allocated");

        // Images: 2³¹−1 images of 2³¹−1 × 2³¹−1 pixels is more than an array holds, said before anything is read.
        var images = new byte[16];
        BinaryPrimitives.WriteInt32BigEndian(images, Idx.ImagesMagic);
        for (int d = 0; d < 3; d++)
            BinaryPrimitives.WriteInt32BigEndian(images.AsSpan(4 + 4 * d), int.MaxValue);
        File.WriteAllBytes(dir.File(FashionMnist.TrainImages[..^3]), images);
        File.Delete(dir.File(FashionMnist.TrainImages));
        var big = LoadFails(dir);
        Assert.Contains(dir.File(FashionMnist.TrainImages[..^3]), big.Message);
        Assert.Contains("more than the", big.Message);
    }

    [Fact]
    public void AnUncompressedFileOfTheWrongSizeIsRefusedBeforeItIsRead()
    {
        using var dir = new TempDir();
        WriteValid(dir);
        var header = new byte[8];
        BinaryPrimitives.WriteInt32BigEndian(header, Idx.LabelsMagic);
        BinaryPrimitives.WriteInt32BigEndian(header.AsSpan(4), 6);
        File.Delete(dir.File(FashionMnist.TestLabels));
        File.WriteAllBytes(dir.File(FashionMnist.TestLabels[..^3]), [.. header, .. new byte[3 << 20]]);
        DatasetException? e = null;
        long allocated = Allocated(() => e = LoadFails(dir));
        Assert.Contains("announces 6 labels (6 bytes) but 3,145,728 bytes follow it", e!.Message);
        Assert.True(allocated < 1L << 20, $"{allocated:N0} bytes allocated");
    }
}
